# Tensor basics from Python with numpy as the oracle: factories, dtypes, repr, operators,
# reductions, indexing and assignment.
import numpy as np
import pytest

import doppel


def arr(t):
    return np.asarray(t)


def test_factories_and_dtypes():
    assert doppel.zeros(2, 3).shape == (2, 3)
    assert doppel.ones((4,), dtype=doppel.float64).dtype == doppel.float64
    assert doppel.full((2, 2), 7).dtype == doppel.int64
    np.testing.assert_array_equal(arr(doppel.arange(5)), np.arange(5))
    np.testing.assert_allclose(arr(doppel.linspace(0, 1, 5)), np.linspace(0, 1, 5), rtol=1e-6)
    np.testing.assert_array_equal(arr(doppel.eye(3)), np.eye(3, dtype=np.float32))
    t = doppel.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert t.dtype == doppel.float32 and t.shape == (2, 2)
    assert doppel.tensor([1, 2]).dtype == doppel.int64
    assert doppel.tensor([True, False]).dtype == doppel.bool
    assert doppel.tensor(np.arange(3, dtype=np.float64)).dtype == doppel.float64
    assert repr(doppel.float32) == "doppel.float32" and doppel.float32.itemsize == 4
    assert doppel.device("cpu") == doppel.zeros(1).device
    assert repr(doppel.device("cpu")) == "device(type='cpu')"
    r = doppel.rand(1000)
    assert 0.0 <= float(r.min()) and float(r.max()) < 1.0
    doppel.manual_seed(3)
    a = doppel.randn(4).tolist()
    doppel.manual_seed(3)
    assert doppel.randn(4).tolist() == a


def test_repr_like_pytorch():
    assert repr(doppel.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(doppel.tensor(3)) == "tensor(3)"
    assert repr(doppel.ones(2, dtype=doppel.float64)) == "tensor([1., 1.], dtype=doppel.float64)"
    assert repr(doppel.ones(2, requires_grad=True)) == "tensor([1., 1.], requires_grad=True)"
    y = doppel.ones(2, requires_grad=True) * 2
    assert repr(y).startswith("tensor([2., 2.], grad_fn=<")


@pytest.mark.parametrize("op", ["__add__", "__sub__", "__mul__", "__truediv__", "__pow__", "__lt__", "__ge__",
                                "__eq__", "__ne__"])
def test_binary_operators_match_numpy(op):
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 2.0, (3, 4)).astype(np.float32)
    b = rng.uniform(0.5, 2.0, (4,)).astype(np.float32)
    ta, tb = doppel.tensor(a), doppel.tensor(b)
    np.testing.assert_allclose(arr(getattr(ta, op)(tb)), getattr(a, op)(b), rtol=1e-5)
    np.testing.assert_allclose(arr(getattr(ta, op)(1.5)), getattr(a, op)(np.float32(1.5)), rtol=1e-5)


def test_reflected_and_unary_operators():
    a = np.array([1.0, -2.0, 4.0], dtype=np.float32)
    t = doppel.tensor(a)
    np.testing.assert_allclose(arr(2 - t), 2 - a)
    np.testing.assert_allclose(arr(3 / t), 3 / a)
    np.testing.assert_allclose(arr(2 ** doppel.tensor([1.0, 2.0])), [2.0, 4.0])
    np.testing.assert_allclose(arr(-t), -a)
    np.testing.assert_allclose(arr(abs(t)), np.abs(a))
    m = doppel.tensor(np.ones((2, 3), np.float32)) @ doppel.tensor(np.ones((3, 2), np.float32))
    np.testing.assert_allclose(arr(m), np.full((2, 2), 3.0))
    mask = t > 0
    np.testing.assert_array_equal(arr(~mask), ~(a > 0))
    np.testing.assert_array_equal(arr(mask & (t < 3)), (a > 0) & (a < 3))
    t += 1
    np.testing.assert_allclose(arr(t), a + 1)


def test_ops_and_reductions_match_numpy():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 5)).astype(np.float32)
    t = doppel.tensor(a)
    for name, ref in [("exp", np.exp), ("tanh", np.tanh), ("abs", np.abs), ("sin", np.sin), ("floor", np.floor)]:
        np.testing.assert_allclose(arr(getattr(doppel, name)(t)), ref(a), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(arr(getattr(t, name)()), ref(a), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(t.sum()), a.sum(), rtol=1e-5)
    np.testing.assert_allclose(arr(t.sum(1)), a.sum(1), rtol=1e-5)
    np.testing.assert_allclose(arr(t.mean((0, 1), keepdim=True)), a.mean(keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(arr(t.var(1)), a.var(1, ddof=1), rtol=1e-4)
    values, idx = t.max(1)
    np.testing.assert_allclose(arr(values), a.max(1))
    np.testing.assert_array_equal(arr(idx), a.argmax(1))
    np.testing.assert_array_equal(arr(t.argmax()), a.argmax())
    e = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(arr(t.softmax(1)), e / e.sum(1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(arr(doppel.clamp(t, min=-0.5, max=0.5)), np.clip(a, -0.5, 0.5))
    np.testing.assert_allclose(arr(doppel.where(t > 0, t, 0.0)), np.where(a > 0, a, 0))
    np.testing.assert_allclose(arr(doppel.cat([t, t], 0)), np.concatenate([a, a]))
    np.testing.assert_allclose(arr(doppel.stack([t, t], 1)), np.stack([a, a], 1))
    parts = t.split(2, 1)
    assert [p.shape for p in parts] == [(3, 2), (3, 2), (3, 1)]
    np.testing.assert_allclose(arr(t.reshape(5, 3)), a.reshape(5, 3))
    np.testing.assert_allclose(arr(t.permute(1, 0)), a.T)
    np.testing.assert_allclose(arr(t.T), a.T)
    assert t.unsqueeze(0).shape == (1, 3, 5) and t.flatten().shape == (15,)
    assert t.to(doppel.float64).dtype == doppel.float64


INDICES = [
    1, -1, None, Ellipsis, (0, 2), slice(1, None), (slice(None), slice(0, 4, 2)), (Ellipsis, 1), (None, 0), (1, None, slice(None, 2)),
    (Ellipsis, None), [2, 0], ([0, 2, 1],), (slice(None), [1, -1]), np.array([[0, 1], [2, 0]]),
]


@pytest.mark.parametrize("index", INDICES, ids=repr)
def test_getitem_matches_numpy(index):
    a = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    t = doppel.tensor(a)
    np.testing.assert_array_equal(arr(t[index]), a[index])


def test_bool_mask_and_tensor_indices():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = doppel.tensor(a)
    np.testing.assert_array_equal(arr(t[t > 5]), a[a > 5])
    np.testing.assert_array_equal(arr(t[doppel.tensor([True, False, True])]), a[[True, False, True]])
    np.testing.assert_array_equal(arr(t[doppel.tensor([2, 0])]), a[[2, 0]])
    np.testing.assert_array_equal(arr(t[:, doppel.tensor([3, 1])]), a[:, [3, 1]])


def test_basic_indexing_returns_views():
    t = doppel.zeros(3, 4)
    v = t[1, 1:3]
    v += 5
    assert t.tolist()[1] == [0.0, 5.0, 5.0, 0.0]


def test_setitem_matches_numpy():
    a = np.zeros((3, 4), np.float32)
    t = doppel.tensor(a)
    for index, value in [((0, slice(None)), 1.0), ((slice(None), 2), 2.0), (Ellipsis, None)]:
        if value is None:
            continue
        t[index] = value
        a[index] = value
    t[t > 1.5] = -1.0
    a[a > 1.5] = -1.0
    t[[2, 0], 1] = 7.0
    a[[2, 0], 1] = 7.0
    t[1] = doppel.tensor([1.0, 2.0, 3.0, 4.0])
    a[1] = [1.0, 2.0, 3.0, 4.0]
    np.testing.assert_array_equal(arr(t), a)


def test_python_number_conversions_and_len():
    t = doppel.tensor([[2.5]])
    assert float(t) == 2.5 and int(t) == 2 and bool(t) and t.item() == 2.5
    assert len(doppel.zeros(4, 2)) == 4
    assert doppel.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert [x.item() for x in doppel.tensor([1, 2, 3])] == [1, 2, 3]
    assert list(range(10))[doppel.tensor(3)] == 3


def test_every_eager_api_function_is_bound():
    # The C++ eager API (eager/include/doppel/ops/*.h) is the Python API: every declared function
    # (and every name in the elementwise X-macro lists) exists as doppel.<name> or a Tensor method.
    import pathlib
    import re

    ops = pathlib.Path(__file__).resolve().parents[2] / "eager" / "include" / "doppel" / "ops"
    names = set()
    for h in ops.glob("*.h"):
        text = h.read_text()
        names |= set(re.findall(r"^(?:Tensor|const Tensor&|std::vector<Tensor>) ([a-z_0-9]+)\(", text, re.M))
        names |= set(re.findall(r"DOPPEL_EW_DECLARE_(?:UNARY|BINARY|INPLACE)\(([a-z_0-9]+)\)", text))
    names.discard("name")  # the X-macros' own parameter
    python_name = {"from_buffer": "from_dlpack", "scalar": "scalar_tensor", "tensor": "tensor",
                   # the int8 kernels live in doppel.ops.quantized (python_bindings/src/quantized.cpp)
                   "quantized_linear": "ops.quantized.linear", "quantized_conv2d": "ops.quantized.conv2d",
                   "quantized_add": "ops.quantized.add", "quantized_cat": "ops.quantized.cat",
                   "dynamic_quantized_linear": "ops.quantized.dynamic_linear"}

    def bound(path):
        obj = doppel
        for part in path.split("."):
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
        return callable(obj)

    assert len(names) > 100
    missing = [n for n in sorted(names) if not bound(python_name.get(n, n)) and not hasattr(doppel.Tensor, n)]
    assert missing == []
    x = doppel.arange(6.0).reshape(2, 3)
    assert x.slice(1, 1, None).shape == (2, 2) and [p.shape[1] for p in x.split_with_sizes([1, 2], 1)] == [1, 2]
    assert doppel.numel_tensor(x).item() == 6.0
    z = doppel.zeros(3).scatter_add_(0, doppel.tensor([0, 0, 2]), doppel.ones(3))
    assert z.tolist() == [2.0, 0.0, 1.0]
    u = doppel.uniform((1000,), 2.0, 3.0)
    assert 2.0 <= u.min().item() and u.max().item() < 3.0


def test_max_min_with_dim_return_named_tuples_and_route_the_gradient_to_the_index():
    # PyTorch 1.13: torch.return_types.max with .values/.indices; the gradient goes to the index
    # returned (the first among ties), not spread over ties as amax's.
    x = doppel.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    r = x.max(1)
    assert type(r).__name__ == "max" and type(r).__module__ == "doppel.return_types"
    assert isinstance(r, tuple) and len(r) == 2
    assert r.values.tolist() == [3.0, 2.0] and r.indices.tolist() == [1, 0]
    assert r[0].tolist() == [3.0, 2.0] and r[1].tolist() == [1, 0]
    values, indices = r
    assert indices.dtype == doppel.int64
    (values * doppel.tensor([1.0, 10.0])).sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [10.0, 0.0, 0.0]]
    x.grad = None
    m = doppel.min(x, dim=1, keepdim=True)
    assert type(m) is doppel.return_types.min
    assert m.values.shape == (2, 1) and m.indices.tolist() == [[0], [2]]
    m.values.sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    x.grad = None
    x.max().backward()  # no dim: one value, the gradient split among its ties (as PyTorch)
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [0.0, 0.0, 0.0]]
    x.grad = None
    x.amax(1).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [0.5, 0.5, 0.0]]
