# doppel's errors reach Python as typed exceptions with doppel's message (naming the Python
# caller's line) and never crash the interpreter.
import subprocess
import sys

import numpy as np
import pytest

import doppel


def test_exception_hierarchy():
    for name, builtin in [("ShapeError", ValueError), ("DTypeError", TypeError), ("IndexError", IndexError),
                          ("ValueError", ValueError), ("FormatError", ValueError), ("OutOfMemoryError", MemoryError)]:
        cls = getattr(doppel, name)
        assert issubclass(cls, builtin) and issubclass(cls, doppel.Error) and issubclass(cls, RuntimeError)
    assert issubclass(doppel.TraceError, RuntimeError) and issubclass(doppel.DeviceError, doppel.Error)


def test_each_error_type_from_a_real_failure():
    a = doppel.ones(2, 3)
    with pytest.raises(doppel.ShapeError, match=r"\[2, 3\] and \[4\]") as info:
        a + doppel.ones(4)
    assert "test_errors.py" in str(info.value) and "python_bindings/src" not in str(info.value)
    with pytest.raises(doppel.DTypeError):
        doppel.ones(2, dtype=doppel.bool).softmax(0)
    with pytest.raises(IndexError):
        a[5]
    with pytest.raises(IndexError):
        a[0, 0, 0]
    with pytest.raises(doppel.ShapeError, match=r"^reshape: shape \[4, 2\] is invalid for input of size 6"):
        a.reshape(4, 2)
    with pytest.raises(doppel.ValueError, match="slice step"):
        a[::-1]
    with pytest.raises(ValueError, match="reduction"):
        doppel.mse_loss(a, a, reduction="avg")
    with pytest.raises(TypeError):
        a + "x"
    with pytest.raises(TypeError):
        doppel.matmul(a, 3)
    with pytest.raises(TypeError):
        doppel.zeros("a")
    with pytest.raises(doppel.DeviceError):
        a.to("cuda:0")
    with pytest.raises(RuntimeError):
        doppel.ones(2).backward()  # does not require grad
    with pytest.raises(doppel.Error):
        doppel.nn.Linear(-1, 2)
    with pytest.raises(MemoryError, match="could not allocate"):
        doppel.empty(2**45)  # 128 TiB: beyond the address space, fails at once
    with pytest.raises(doppel.OutOfMemoryError, match="too many elements"):
        doppel.empty(2**62)


def test_bad_inputs_never_crash_the_interpreter():
    # Run in a child interpreter: a crash would show up as a signal exit code.
    code = r"""
import doppel, numpy as np
bad = [
    lambda: doppel.zeros(-1), lambda: doppel.ones(2)[::-1], lambda: doppel.ones(2)[None, None, 5],
    lambda: doppel.Tensor(3), lambda: doppel.from_dlpack(object()), lambda: doppel.cat([]),
    lambda: doppel.ones(2, 2) @ doppel.ones(3), lambda: doppel.conv2d(doppel.ones(1, 2, 3, 3), doppel.ones(1, 3, 3, 3)),
    lambda: doppel.Tensor.__getitem__(doppel.ones(2), "a"), lambda: doppel.runtime.load("/nonexistent"),
    lambda: doppel.ones(3).view(2, 2), lambda: doppel.arange(0, 1, 0), lambda: doppel.randint(5, 1, (2,)),
    lambda: doppel.optim.SGD([doppel.ones(1)], lr=-1), lambda: doppel.gather(doppel.ones(2), 0, doppel.tensor([7])),
    lambda: doppel.embedding(doppel.tensor([9]), doppel.ones(3, 2)), lambda: doppel.full((2,), 1)[0].item(),
    lambda: doppel.from_numpy(np.zeros(3, dtype=">f4")), lambda: doppel.tensor(["a"]),
]
for f in bad:
    try:
        f()
    except (RuntimeError, ValueError, TypeError, IndexError, BufferError, MemoryError):
        pass
print("survived")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={"PYTHONPATH": ":".join(sys.path)})
    assert r.returncode == 0, r.stderr
    assert "survived" in r.stdout
