# Issue 12 (h4b) from Python with numpy as the oracle: cumsum/cumprod, scatter, flip/roll,
# diagonal/diag/unfold views, max pooling indices (values from PyTorch 1.13), the 1-d pools and
# the new nn modules; a compiled function using them equals eager.
import numpy as np
import pytest

import doppel
from doppel import nn
import doppel.nn.functional as F


def arr(t):
    return np.asarray(t.detach())


def test_cumsum_cumprod_functions_and_methods():
    x = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    t = doppel.tensor(x)
    np.testing.assert_array_equal(arr(doppel.cumsum(t, 1)), np.cumsum(x, 1))
    np.testing.assert_array_equal(arr(t.cumprod(0)), np.cumprod(x, 0))
    assert doppel.tensor([True, False, True]).cumsum(0).dtype == doppel.int64
    assert doppel.cumsum(t, 1, dtype=doppel.float64).dtype == doppel.float64
    leaf = doppel.tensor([2.0, 0.0, 3.0], requires_grad=True)
    doppel.cumprod(leaf, 0).sum().backward()
    np.testing.assert_array_equal(arr(leaf.grad), [1.0, 8.0, 0.0])


def test_scatter_forms_and_index_errors():
    x = doppel.zeros(3, 4)
    idx = doppel.tensor([[0, 1, 2, 0], [2, 0, 0, 1]])
    src = doppel.arange(1, 9, dtype=doppel.float32).reshape(2, 4)
    want = np.zeros((3, 4), np.float32)
    for i in range(2):
        for j in range(4):
            want[np.asarray(idx)[i, j], j] = np.asarray(src)[i, j]
    np.testing.assert_array_equal(arr(doppel.scatter(x, 0, idx, src)), want)
    np.testing.assert_array_equal(arr(x.scatter(0, idx, value=5.0)), np.where(want != 0, 5.0, 0.0))
    y = doppel.zeros(2, 2)
    y.scatter_(1, doppel.tensor([[1], [0]]), 3.0)
    np.testing.assert_array_equal(arr(y), [[0, 3], [3, 0]])
    with pytest.raises(IndexError, match="scatter: index 3 is out of range for dim 0 of size 3"):
        doppel.scatter(x, 0, doppel.tensor([[3]]), src)


def test_flip_roll():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = doppel.tensor(x)
    np.testing.assert_array_equal(arr(t.flip([0, 1])), np.flip(x, (0, 1)))
    np.testing.assert_array_equal(arr(doppel.fliplr(t)), np.fliplr(x))
    np.testing.assert_array_equal(arr(doppel.flipud(t)), np.flipud(x))
    np.testing.assert_array_equal(arr(doppel.roll(t, [1, -1], [0, 1])), np.roll(x, (1, -1), (0, 1)))
    np.testing.assert_array_equal(arr(t.roll(2)), np.roll(x, 2))


def test_diagonal_diag_unfold_are_views_with_gradients():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = doppel.tensor(x)
    np.testing.assert_array_equal(arr(t.diagonal(1)), np.diagonal(x, 1))
    np.testing.assert_array_equal(arr(doppel.diagonal(t, -1, 1, 0)), np.diagonal(x, -1, 1, 0))
    np.testing.assert_array_equal(arr(doppel.diag(doppel.tensor([1.0, 2.0]), 1)), np.diag([1.0, 2.0], 1))
    d = t.diagonal()
    d.copy_(doppel.full((3,), -1.0))
    assert arr(t)[1, 1] == -1.0
    v = doppel.arange(6, dtype=doppel.float32)
    np.testing.assert_array_equal(arr(v.unfold(0, 3, 2)), [[0, 1, 2], [2, 3, 4]])
    leaf = doppel.ones(5, requires_grad=True)
    leaf.unfold(0, 3, 1).sum().backward()
    np.testing.assert_array_equal(arr(leaf.grad), [1, 2, 3, 2, 1])


def test_max_pool_indices_like_pytorch():
    nan = float("nan")
    x = doppel.tensor([[3.0, 1, 3, 2, 0], [1, 5, 5, 0, 4], [2, nan, 1, nan, 6], [7, 0, 7, 1, 2]]).reshape(1, 1, 4, 5)
    v, i = F.max_pool2d(x, (2, 3), stride=2, padding=1, return_indices=True)
    np.testing.assert_array_equal(np.asarray(i).ravel(), [0, 2, 3, 11, 13, 13, 15, 17, 19])
    v, i = F.adaptive_max_pool2d(x, (3, 2), return_indices=True)
    np.testing.assert_array_equal(np.asarray(i).ravel(), [6, 7, 11, 13, 11, 13])
    v2, i2 = nn.AdaptiveMaxPool2d((3, 2), return_indices=True)(x)
    np.testing.assert_array_equal(np.asarray(i2), np.asarray(i))
    assert nn.AdaptiveMaxPool2d(1)(x).shape == (1, 1, 1, 1)
    v3, i3 = nn.MaxPool2d(2, stride=1, return_indices=True)(x)
    np.testing.assert_array_equal(np.asarray(i3).ravel(), [6, 6, 7, 9, 11, 11, 13, 13, 11, 11, 13, 13])
    assert nn.MaxPool2d(2)(x).shape == (1, 1, 2, 2)


def test_pool1d_functions_and_modules():
    nan = float("nan")
    l = doppel.tensor([1.0, 4, 4, 2, nan, 3, 0]).reshape(1, 1, 7)
    v, i = F.max_pool1d(l, 3, stride=2, padding=1, return_indices=True)
    np.testing.assert_array_equal(np.asarray(i).ravel(), [1, 1, 4, 5])
    v2, i2 = nn.MaxPool1d(3, stride=2, padding=1, return_indices=True)(l)
    np.testing.assert_array_equal(np.asarray(i2), np.asarray(i))
    a = doppel.tensor([[1.0, 2, 3, 4, 5]])
    np.testing.assert_array_equal(arr(F.avg_pool1d(a, 2, stride=2, padding=1, ceil_mode=True,
                                                   count_include_pad=False)), [[1.0, 2.5, 4.5]])
    np.testing.assert_array_equal(arr(nn.AvgPool1d(3, stride=2, padding=1)(a)), [[1.0, 3.0, 3.0]])
    assert nn.MaxPool1d(2)(a.reshape(1, 1, 5)).shape == (1, 1, 2)


def test_compiled_function_equals_eager():
    def f(x, idx):
        y = doppel.cumsum(x, 1) + doppel.flip(x, [0]) * doppel.cumprod(x, 1)
        y = doppel.scatter(y, 1, idx, x[:, :2]) + doppel.roll(x, [1], [1])
        z = y.reshape(2, 1, 3, 4)
        pooled, ind = F.adaptive_max_pool2d(z, (1, 2), return_indices=True)
        return (doppel.diagonal(y.reshape(2, 3, 4), 0, 1, 2).sum() + y.unfold(1, 2, 2).sum()
                + pooled.sum() + F.max_pool1d(y.reshape(2, 3, 4)[:, 0:1, :], 2).sum(), ind)

    x = doppel.randn(6, 4)
    idx = doppel.tensor([[1, 3]] * 6)
    g = doppel.compile(f)
    for _ in range(2):
        got, want = g(x, idx), f(x, idx)
        np.testing.assert_allclose(arr(got[0]), arr(want[0]), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(np.asarray(got[1]), np.asarray(want[1]))
