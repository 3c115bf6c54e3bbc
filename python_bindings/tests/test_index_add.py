# index_add / Tensor.index_add_ (torch.index_add): numpy's np.add.at as the oracle, gradients to
# input (identity) and source (gathered at index, times alpha).
import numpy as np
import pytest

import doppel


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_add_matches_numpy_add_at_with_repeated_indices(dim):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5))
    idx = np.array([0, 2, 0, 3])  # 0 repeated: accumulates
    src_shape = list(x.shape)
    src_shape[dim] = len(idx)
    src = rng.standard_normal(src_shape)
    want = x.copy()
    moved = np.moveaxis(want, dim, 0)
    np.add.at(moved, idx, 2.5 * np.moveaxis(src, dim, 0))
    got = doppel.index_add(doppel.tensor(x), dim, doppel.tensor(idx), doppel.tensor(src), alpha=2.5)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    t = doppel.tensor(x)
    assert t.index_add_(dim, doppel.tensor(idx), doppel.tensor(src), alpha=2.5) is not None
    np.testing.assert_allclose(t.numpy(), want, rtol=1e-12)


def test_index_add_gradients():
    x = doppel.tensor(np.ones((3, 2)), requires_grad=True)
    src = doppel.tensor(np.ones((2, 2)), requires_grad=True)
    w = doppel.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    (doppel.index_add(x, 0, doppel.tensor([2, 2]), src, alpha=-0.5) * w).sum().backward()
    assert x.grad.tolist() == w.tolist()
    assert src.grad.tolist() == [[-2.5, -3.0], [-2.5, -3.0]]


def test_index_add_errors_name_the_op():
    with pytest.raises(doppel.ShapeError, match="index_add"):
        doppel.index_add(doppel.zeros(3, 2), 0, doppel.tensor([0]), doppel.zeros(2, 2))
