# Zero-copy interop with numpy: shared addresses both ways, writes visible both ways, lifetimes
# (a numpy view keeps the doppel storage alive and vice versa), DLPack capsules (legacy and
# versioned) and the buffer protocol.
import ctypes
import gc
import sys
import weakref

import numpy as np
import pytest

import doppel


def address(a):
    return a.__array_interface__["data"][0]


def test_numpy_view_of_tensor_shares_memory():
    t = doppel.arange(12.0).reshape(3, 4)
    a = t.numpy()
    assert address(a) == t.data_ptr()
    a[0, 0] = 42.0
    assert t[0, 0].item() == 42.0
    t[1, 1] = -1.0
    assert a[1, 1] == -1.0
    # Strided views stay views: a transposed tensor exports its strides.
    at = t.T.numpy()
    assert address(at) == t.data_ptr() and at.strides == (4, 16)
    np.testing.assert_array_equal(np.asarray(t[:, 1:3]), a[:, 1:3])
    assert address(np.asarray(t[1:])) == t.data_ptr() + 16


def test_tensor_from_numpy_shares_memory():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = doppel.from_numpy(a)
    assert t.data_ptr() == address(a) and t.dtype == doppel.float64 and t.shape == (2, 3)
    a[1, 2] = 9.0
    assert t[1, 2].item() == 9.0
    t[0, 0] = 5.0
    assert a[0, 0] == 5.0
    s = doppel.from_numpy(a[:, ::2])  # non-contiguous numpy view
    assert s.stride() == (3, 2) and s.data_ptr() == address(a)
    for dt, want in [(np.float32, doppel.float32), (np.float16, doppel.float16), (np.int8, doppel.int8),
                     (np.uint8, doppel.uint8), (np.int32, doppel.int32), (np.int64, doppel.int64),
                     (np.bool_, doppel.bool)]:
        assert doppel.from_numpy(np.zeros(3, dt)).dtype == want
    assert doppel.as_tensor(a).data_ptr() == address(a)


def test_numpy_view_keeps_doppel_storage_alive():
    t = doppel.arange(1000.0)
    a = t.numpy()
    ptr = t.data_ptr()
    del t
    gc.collect()
    doppel.zeros(1000)  # would reuse the freed block if the storage had been released
    assert address(a) == ptr
    np.testing.assert_array_equal(a, np.arange(1000.0, dtype=np.float32))


def test_tensor_keeps_numpy_array_alive():
    a = np.arange(100, dtype=np.float32)
    base_refs = sys.getrefcount(a)
    t = doppel.from_numpy(a)
    assert sys.getrefcount(a) > base_refs  # the DLPack export holds a reference
    ref = weakref.ref(a) if hasattr(a, "__weakref__") else None
    del a
    gc.collect()
    np.testing.assert_array_equal(np.asarray(t), np.arange(100, dtype=np.float32))
    del t
    gc.collect()
    if ref is not None:
        assert ref() is None  # released once the tensor is gone


def test_releasing_the_tensor_releases_the_array():
    a = np.ones(10, np.float32)
    before = sys.getrefcount(a)
    t = doppel.from_numpy(a)
    u = t[2:5]  # a view keeps the same storage
    del t
    assert sys.getrefcount(a) > before
    del u
    gc.collect()
    assert sys.getrefcount(a) == before


def test_dlpack_capsules_legacy_and_versioned():
    t = doppel.arange(6.0).reshape(2, 3)
    assert t.__dlpack_device__() == (1, 0)
    legacy = t.__dlpack__()
    versioned = t.__dlpack__(max_version=(1, 0))
    name = ctypes.pythonapi.PyCapsule_GetName
    name.restype, name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    assert name(legacy) == b"dltensor" and name(versioned) == b"dltensor_versioned"
    a = doppel.from_dlpack(legacy)
    b = doppel.from_dlpack(versioned)
    assert a.data_ptr() == b.data_ptr() == t.data_ptr()
    assert name(legacy) == b"used_dltensor" and name(versioned) == b"used_dltensor_versioned"
    with pytest.raises(ValueError, match="consumed"):
        doppel.from_dlpack(legacy)
    # numpy consumes our capsules, we consume numpy's.
    n = np.from_dlpack(t)
    assert address(n) == t.data_ptr()
    r = doppel.from_dlpack(np.arange(4.0))
    assert r.tolist() == [0.0, 1.0, 2.0, 3.0]
    # An unconsumed capsule frees its export when collected (no leak, no crash).
    base = t._use_count()
    unused = t.__dlpack__(max_version=(1, 0))
    assert t._use_count() == base + 1
    del unused
    gc.collect()
    assert t._use_count() == base


def test_buffer_protocol():
    t = doppel.arange(6, dtype=doppel.int32).reshape(2, 3)
    m = memoryview(t)
    assert m.format == "i" and m.shape == (2, 3) and m.strides == (12, 4)
    assert m.tolist() == [[0, 1, 2], [3, 4, 5]]
    m[0, 1] = 7
    assert t[0, 1].item() == 7
    with pytest.raises(BufferError, match="bfloat16"):
        memoryview(doppel.zeros(2, dtype=doppel.bfloat16))


def test_numpy_refuses_what_it_cannot_share():
    with pytest.raises(TypeError, match="bfloat16"):
        doppel.zeros(2, dtype=doppel.bfloat16).numpy()
    with pytest.raises(RuntimeError, match="requires grad"):
        doppel.ones(2, requires_grad=True).numpy()
    np.testing.assert_array_equal(np.asarray(doppel.ones(2, requires_grad=True)), [1.0, 1.0])  # __array__ detaches
    with pytest.raises(TypeError, match="numpy.ndarray"):
        doppel.from_numpy([1, 2])
    with pytest.raises(TypeError, match="__dlpack__"):
        doppel.from_dlpack(3)
    with pytest.raises(TypeError):
        doppel.from_numpy(np.zeros(2, np.complex64))


def test_bool_tensors_cross_to_numpy_sharing_memory():
    t = doppel.tensor([True, False, True])
    assert t.dtype == doppel.bool
    a = t.numpy()
    assert a.dtype == np.bool_ and a.tolist() == [True, False, True]
    a[1] = True  # shares memory both ways
    assert t.tolist() == [True, True, True]
    s = doppel.from_numpy(np.array([[True, False], [False, True]])[:, ::-1].copy()[::2])
    assert s.dtype == doppel.bool and s.tolist() == [[False, True]]
    assert np.asarray(doppel.tensor([[True, False], [False, False]]).t()).tolist() == [[True, False], [False, False]]


_OLD_NUMPY = "/usr/bin/python3"


def _old_numpy_version():
    import subprocess

    try:
        out = subprocess.run([_OLD_NUMPY, "-c", "import numpy; print(numpy.__version__)"], capture_output=True,
                             text=True, timeout=60)
    except OSError:
        return None
    if out.returncode != 0:
        return None
    return tuple(int(p) for p in out.stdout.strip().split(".")[:2])


@pytest.mark.skipif(not (_old_numpy_version() or (9, 9)) < (1, 25),
                    reason=f"needs {_OLD_NUMPY} with numpy < 1.25 (it has no DLPack bool)")
def test_bool_tensors_cross_to_numpy_below_1_25():
    # The same extension, imported by a system Python whose numpy predates DLPack bool support.
    import os
    import pathlib
    import subprocess

    script = """
import numpy as np, doppel
t = doppel.tensor([True, False])
assert t.dtype == doppel.bool and t.tolist() == [True, False], t
a = t.numpy()
assert a.dtype == np.bool_ and a.tolist() == [True, False], a
t[1] = True  # shared memory (numpy < 2 marks arrays from DLPack read-only)
assert a.tolist() == [True, True], a
m = doppel.from_numpy(np.array([[True, False, True], [False, False, True]])[:, 1:])
assert m.dtype == doppel.bool and m.tolist() == [[False, True], [False, True]], m
assert np.asarray(doppel.tensor([1.0, -1.0]) > 0).tolist() == [True, False]
print("ok", np.__version__)
"""
    path = pathlib.Path(os.path.abspath(doppel.__file__)).parents[1]  # the build folder, not the sources
    out = subprocess.run([_OLD_NUMPY, "-c", script], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(path), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok 1.")
