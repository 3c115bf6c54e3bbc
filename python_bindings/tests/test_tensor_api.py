# The PyTorch tensor API of issue 12: einsum, dot/outer, lerp, addcmul/addcdiv, unbind, tril/triu,
# movedim, swapaxes, unflatten, repeat, hstack/vstack, mT/mH/H, where overloads; keyword forms
# (dtype=, unbiased=) and overloads (max/min of two tensors, clamp with tensor bounds, masked_fill
# with a tensor value); advanced indexing with several index tensors. Oracles: numpy (np.einsum,
# numpy's advanced indexing), hand-computed values, float64 central finite differences.
import numpy as np
import pytest

import doppel


def rng(seed=0):
    return np.random.default_rng(seed)


def t64(a, grad=False):
    return doppel.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def npy(t):
    return np.asarray(t.detach())


def fd_grad(f, arrays, k, eps=1e-6):
    """d sum(f(*arrays) * w) / d arrays[k] by central differences, f on numpy float64 arrays."""
    base = [a.copy() for a in arrays]
    g = np.zeros_like(base[k])
    it = np.nditer(base[k], flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        plus = [a.copy() for a in base]
        minus = [a.copy() for a in base]
        plus[k][i] += eps
        minus[k][i] -= eps
        g[i] = (f(*plus) - f(*minus)) / (2 * eps)
    return g


def check_grads(fn, arrays, seed=1):
    """Autograd of sum(fn(*tensors) * w) against finite differences of the same doppel function."""
    out_shape = npy(fn(*[t64(a) for a in arrays])).shape
    w = rng(seed).standard_normal(out_shape)

    def scalar_of(*arrs):
        return float((npy(fn(*[t64(a) for a in arrs])) * w).sum())

    ts = [t64(a, grad=True) for a in arrays]
    (fn(*ts) * t64(w)).sum().backward()
    for k, a in enumerate(arrays):
        np.testing.assert_allclose(npy(ts[k].grad), fd_grad(scalar_of, arrays, k), rtol=1e-5, atol=1e-7)


# ---- einsum ---------------------------------------------------------------------------------

EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),  # implicit output
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,i->", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ijk->kj", [(2, 3, 4)]),
    ("ba,ab", [(2, 3), (3, 2)]),  # implicit: sums both
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),  # ellipsis broadcast across operands
    ("...ij,...jk", [(2, 1, 3, 4), (6, 4, 5)]),  # ellipsis with a size-1 dim
    ("...i->...", [(2, 3, 4)]),
    ("ij,ij->i", [(1, 3), (4, 3)]),  # a size-1 subscript broadcasts
    ("ij,ij->ij", [(3, 4), (3, 4)]),  # batch only, nothing contracted
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),  # attention scores
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 5)]),  # three operands
    ("ij,jk,kl", [(2, 3), (3, 4), (4, 2)]),
    ("ii->i", [(3, 3)]),  # a diagonal
    ("ii", [(4, 4)]),  # the trace
    ("bii,bj->bij", [(2, 3, 3), (2, 4)]),
    ("a,b,c->abc", [(2,), (3,), (4,)]),
    ("Ab,bA->", [(3, 2), (2, 3)]),  # upper-case subscripts
    ("ab,cd->", [(2, 3), (4, 5)]),  # each operand summed alone
    (",ij->ij", [(), (2, 3)]),  # 0-d operand
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),  # bilinear
    ("ij,jk->ik", [(2, 0), (0, 3)]),  # an empty contraction gives zeros
    ("ij,jk->ik", [(2, 1), (0, 3)]),  # 1 broadcasts against 0
]


@pytest.mark.parametrize("eq,shapes", EINSUM_CASES)
def test_einsum_matches_numpy(eq, shapes):
    r = rng(len(eq))
    arrays = [r.standard_normal(s) for s in shapes]
    got = doppel.einsum(eq, *[t64(a) for a in arrays])
    want = np.einsum(eq, *arrays)
    assert tuple(got.shape) == want.shape
    np.testing.assert_allclose(npy(got), want, rtol=1e-10, atol=1e-12)
    # the operands may also come as one list, and float32 works too
    got32 = doppel.einsum(eq, [doppel.tensor(a.astype(np.float32)) for a in arrays])
    assert got32.dtype == doppel.float32
    np.testing.assert_allclose(npy(got32), want, rtol=1e-4, atol=1e-4)


def test_einsum_sums_ellipsis_dims_missing_from_the_output():
    # PyTorch allows it (numpy does not): the ellipsis dims are summed.
    a = rng(0).standard_normal((2, 3, 4))
    np.testing.assert_allclose(npy(doppel.einsum("i...->i", t64(a))), a.sum(axis=(1, 2)), rtol=1e-12)


@pytest.mark.parametrize("eq,shapes", [EINSUM_CASES[i] for i in (2, 9, 10, 12, 15, 21)])
def test_einsum_gradients_match_finite_differences(eq, shapes):
    r = rng(3)
    arrays = [r.standard_normal(s) for s in shapes]
    check_grads(lambda *ts: doppel.einsum(eq, *ts), arrays)


@pytest.mark.parametrize(
    "eq,shapes,err",
    [
        ("ij,jk->ik", [(2, 3), (4, 5)], "subscript j has size 4 for operand 1"),
        ("ij,jk->ik", [(2, 0), (5, 5)], "subscript j has size 5 for operand 1"),  # 0 does not broadcast
        ("ij->ij", [(2, 3, 4)], "operand 0 has 3 dims"),
        ("ij,jk", [(2, 3)], "2 operand subscripts but 1 tensors"),
        ("ij->k", [(2, 3)], "output subscript 'k'"),
        ("ij->ii", [(2, 3)], "is repeated"),
        ("i1->i", [(2, 3)], "invalid subscript '1'"),
        ("i..->i", [(2, 3)], "'...'"),
        ("ii->i", [(3, 4)], "sizes don't match"),
    ],
)
def test_einsum_errors_name_the_problem(eq, shapes, err):
    with pytest.raises((ValueError, doppel.ShapeError)) as e:
        doppel.einsum(eq, *[doppel.zeros(s) for s in shapes])
    assert err in str(e.value)


def test_einsum_large_float32_matches_numpy():
    # far above the 4096 multiply-adds under which the oneDNN matmul kernel runs a direct loop
    # (the small cases above run that loop)
    r = rng(11)
    a, b = r.standard_normal((4, 96, 80)), r.standard_normal((80, 4, 72))
    got = doppel.einsum("bij,jbk->bki", doppel.tensor(a.astype(np.float32)), doppel.tensor(b.astype(np.float32)))
    np.testing.assert_allclose(npy(got), np.einsum("bij,jbk->bki", a, b), rtol=1e-4, atol=1e-3)


def test_einsum_compiled_equals_eager():
    def f(a, b):
        y = doppel.einsum("bij,bjk->bik", a, b).relu() + doppel.einsum("bij->bi", a)[:, :, None]
        return doppel.tril(y, 1).lerp(y, 0.25).clamp(min=a[:, :, :1], max=doppel.ones(5))

    r = rng(5)
    a = doppel.tensor(r.standard_normal((2, 3, 4)).astype(np.float32))
    b = doppel.tensor(r.standard_normal((2, 4, 5)).astype(np.float32))
    cf = doppel.compile(f)
    np.testing.assert_allclose(npy(cf(a, b)), npy(f(a, b)), rtol=1e-6, atol=1e-6)
    assert "matmul" in doppel.trace(f, a, b).graph.op_names()


# ---- products and pointwise composites ------------------------------------------------------


def test_dot_outer_ger():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([4.0, -5.0, 6.0])
    assert doppel.dot(t64(a), t64(b)).item() == 12.0
    assert t64(a).dot(t64(b)).shape == ()
    np.testing.assert_array_equal(npy(doppel.outer(t64(a), t64(b[:2]))), np.outer(a, b[:2]))
    np.testing.assert_array_equal(npy(t64(a).ger(t64(b))), np.outer(a, b))
    with pytest.raises(doppel.ShapeError, match="two 1-d tensors of equal length"):
        doppel.dot(t64(a), t64(b[:2]))
    with pytest.raises(doppel.ShapeError, match="outer"):
        doppel.outer(t64([[1.0]]), t64(b))
    check_grads(doppel.outer, [a, b])


def test_lerp_two_branches_are_exact_at_the_ends():
    s = np.array([1.0, -2.0, 1e8, 3.0])
    e = np.array([3.0, 5.0, 1.0, 3.0])
    for w in (0.0, 0.25, 0.5, 0.75, 1.0, -0.6, 1.7):
        got = npy(doppel.lerp(t64(s), t64(e), w))
        want = s + w * (e - s) if abs(w) < 0.5 else e - (e - s) * (1 - w)
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(npy(doppel.lerp(t64(s), t64(e), 1.0)), e)  # exactly end
    w = np.array([0.0, 0.4, 0.6, 1.0])
    got = npy(t64(s).lerp(t64(e), t64(w)))
    np.testing.assert_array_equal(got, np.where(np.abs(w) < 0.5, s + w * (e - s), e - (e - s) * (1 - w)))
    check_grads(doppel.lerp, [np.array([1.0, -2.0, 0.5]), e[:3], np.array([0.2, 0.7, -0.1])])


def test_addcmul_addcdiv():
    r = rng(7)
    x, a, b = r.standard_normal(4), r.standard_normal((3, 4)), r.uniform(1, 2, 4)
    np.testing.assert_allclose(npy(doppel.addcmul(t64(x), t64(a), t64(b), value=0.5)), x + 0.5 * a * b)
    np.testing.assert_allclose(npy(t64(x).addcdiv(t64(a), t64(b), value=-2)), x - 2 * a / b)
    np.testing.assert_allclose(npy(t64(x).addcmul(t64(a), t64(b))), x + a * b)
    check_grads(lambda x, a, b: doppel.addcdiv(x, a, b, value=3.0), [x, a, b])


def test_clamp_with_tensor_bounds_values_and_gradients_follow_pytorch():
    nan = float("nan")
    x = t64([-2.0, 0.5, 3.0, nan, 1.0, 0.5], grad=True)
    lo = t64([-1.0, nan, 0.0, 0.0, 1.0, 2.0], grad=True)
    hi = t64([1.0, 1.0, 2.0, 1.0, 1.0, 1.0], grad=True)
    y = doppel.clamp(x, lo, hi)
    # values from torch 1.13: NaN anywhere propagates; min > max gives max
    np.testing.assert_array_equal(npy(y), [-1.0, nan, 2.0, nan, 1.0, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(npy(lo.grad), [1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(npy(x.grad), [0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(npy(hi.grad), [0, 0, 1, 0, 0, 1])
    # a tie (x = min = max) keeps x's gradient; NaN positions get none
    # broadcasting bounds, one bound only, a number with a tensor, an int input with float bounds
    m = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(npy(t64(m).clamp(min=t64([1.0, 4.0, 2.0]))), np.maximum(m, [1.0, 4.0, 2.0]))
    np.testing.assert_array_equal(npy(doppel.clamp(t64(m), max=t64([[2.0], [4.0]]))), np.minimum(m, [[2.0], [4.0]]))
    np.testing.assert_array_equal(npy(doppel.clip(t64(m), 1.5, t64([3.0]))), np.clip(m, 1.5, 3.0))
    ci = doppel.clamp(doppel.tensor([1, 5]), doppel.tensor([2.5, 0.0]))
    assert ci.dtype == doppel.float32 and ci.tolist() == [2.5, 5.0]


def test_masked_fill_with_a_0d_tensor_value_gets_its_gradient():
    v = t64(3.0, grad=True)
    x = t64([0.0, 0.0, 0.0], grad=True)
    mask = doppel.tensor([True, False, True])
    y = x.masked_fill(mask, v)
    assert y.tolist() == [3.0, 0.0, 3.0]
    y.sum().backward()
    assert v.grad.item() == 2.0 and x.grad.tolist() == [0.0, 1.0, 0.0]
    # the value takes the input's dtype, as in PyTorch
    assert doppel.zeros(3, dtype=doppel.int64).masked_fill(mask, doppel.tensor(2.7)).tolist() == [2, 0, 2]
    with pytest.raises(doppel.ShapeError, match="0-d tensor"):
        doppel.masked_fill(doppel.zeros(3), mask, doppel.tensor([2.0]))


def test_max_min_of_two_tensors_and_a_number_propagate_nan():
    nan = float("nan")
    a, b = t64([1.0, nan, 3.0]), t64([2.0, 0.0, nan])
    np.testing.assert_array_equal(npy(doppel.max(a, b)), [2.0, nan, nan])
    np.testing.assert_array_equal(npy(a.min(b)), [1.0, nan, nan])
    np.testing.assert_array_equal(npy(doppel.max(a, 2.5)), [2.5, nan, 3.0])
    np.testing.assert_array_equal(npy(a.min(2.5)), [1.0, nan, 2.5])
    # the reductions keep working: max() is the value, max(dim) the pair
    assert doppel.max(t64([1.0, 4.0])).item() == 4.0
    v, i = t64([[1.0, 4.0]]).max(1)
    assert v.tolist() == [4.0] and i.tolist() == [1]


def test_where_method_and_number_overloads():
    c = doppel.tensor([True, False, True])
    x, y = t64([1.0, 2.0, 3.0]), t64([-1.0, -2.0, -3.0])
    assert x.where(c, y).tolist() == [1.0, -2.0, 3.0]
    assert x.where(c, 0.5).tolist() == [1.0, 0.5, 3.0]
    f = doppel.where(c, 1.0, 0.0)
    assert f.dtype == doppel.float32 and f.tolist() == [1.0, 0.0, 1.0]
    i = doppel.where(c, 1, 0)
    assert i.dtype == doppel.int64 and i.tolist() == [1, 0, 1]
    assert doppel.where(c, 2, 0.5).dtype == doppel.float32


# ---- shape composites -----------------------------------------------------------------------


def test_tril_triu_match_numpy_with_offsets():
    a = rng(1).standard_normal((2, 3, 4))
    for k in (-4, -1, 0, 1, 2, 5):
        np.testing.assert_array_equal(npy(doppel.tril(t64(a), k)), np.tril(a, k))
        np.testing.assert_array_equal(npy(t64(a).triu(diagonal=k)), np.triu(a, k))
    b = doppel.tensor([[True, True], [True, True]])
    assert doppel.triu(b).dtype == doppel.bool and doppel.triu(b).tolist() == [[True, True], [False, True]]
    with pytest.raises(doppel.ShapeError, match="at least 2 dims"):
        doppel.tril(doppel.zeros(3))
    check_grads(lambda x: doppel.triu(x, -1), [a[0]])


def test_movedim_swapaxes_unflatten_mT():
    a = np.arange(24.0).reshape(2, 3, 4)
    for src, dst in ((0, 2), (-1, 0), ((0, 1), (2, 0)), ([2, 0], [0, 1])):
        np.testing.assert_array_equal(npy(doppel.movedim(t64(a), src, dst)), np.moveaxis(a, src, dst))
        np.testing.assert_array_equal(npy(t64(a).moveaxis(src, dst)), np.moveaxis(a, src, dst))
    with pytest.raises(ValueError, match="repeated dim"):
        doppel.movedim(t64(a), (0, 0), (1, 2))
    np.testing.assert_array_equal(npy(t64(a).swapaxes(0, 2)), np.swapaxes(a, 0, 2))
    np.testing.assert_array_equal(npy(doppel.swapdims(t64(a), 1, -1)), np.swapaxes(a, 1, -1))
    assert t64(a).unflatten(1, (3, 1)).shape == (2, 3, 1, 4)
    np.testing.assert_array_equal(npy(t64(a).unflatten(-1, (-1, 2))), a.reshape(2, 3, 2, 2))
    with pytest.raises(doppel.ShapeError, match="do not multiply"):
        t64(a).unflatten(1, (2, 2))
    np.testing.assert_array_equal(npy(t64(a).mT), np.swapaxes(a, -1, -2))
    np.testing.assert_array_equal(npy(t64(a[0]).mH), a[0].T)
    np.testing.assert_array_equal(npy(t64(a[0]).H), a[0].T)
    with pytest.raises(doppel.ShapeError):
        t64(a).H
    with pytest.raises(doppel.ShapeError):
        t64(a[0, 0]).mT


def test_repeat_unbind_stacks():
    a = np.arange(6.0).reshape(2, 3)
    for reps in ((1, 1), (2, 3), (2, 1, 2), (3, 1, 1, 2), (0, 2)):
        np.testing.assert_array_equal(npy(t64(a).repeat(*reps)), np.tile(a, reps))
    np.testing.assert_array_equal(npy(t64(a).repeat((2, 2))), np.tile(a, (2, 2)))
    with pytest.raises(doppel.ShapeError, match="at least one per dim"):
        t64(a).repeat(2)
    check_grads(lambda x: x.repeat(2, 1, 3), [a])
    parts = doppel.unbind(t64(a), 1)
    assert len(parts) == 3 and all(p.shape == (2,) for p in parts)
    np.testing.assert_array_equal(npy(t64(a).unbind()[1]), a[1])
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    np.testing.assert_array_equal(npy(doppel.hstack([t64(x), t64(y)])), np.hstack([x, y]))
    np.testing.assert_array_equal(npy(doppel.hstack([t64(a), t64(a)])), np.hstack([a, a]))
    np.testing.assert_array_equal(npy(doppel.vstack([t64(y), t64(y)])), np.vstack([y, y]))
    np.testing.assert_array_equal(npy(doppel.vstack([t64(a), t64(y)])), np.vstack([a, y]))


# ---- keywords -------------------------------------------------------------------------------


def test_reductions_with_dtype():
    i = doppel.tensor([[1, 2], [3, 4]], dtype=doppel.int32)
    s = i.sum(dtype=doppel.float64)
    assert s.dtype == doppel.float64 and s.item() == 10.0
    s = doppel.sum(i, 0, dtype=doppel.int32)
    assert s.dtype == doppel.int32 and s.tolist() == [4, 6]
    m = i.mean(dim=1, keepdim=True, dtype=doppel.float64)
    assert m.dtype == doppel.float64 and m.tolist() == [[1.5], [3.5]]
    p = doppel.prod(i, dtype=doppel.float32)
    assert p.dtype == doppel.float32 and p.item() == 24.0
    x = doppel.tensor([[1.0, 2.0, 3.0]])
    sm = x.softmax(1, dtype=doppel.float64)
    e = np.exp([1.0, 2.0, 3.0])
    assert sm.dtype == doppel.float64
    np.testing.assert_allclose(npy(sm)[0], e / e.sum(), rtol=1e-12)
    np.testing.assert_allclose(npy(doppel.log_softmax(x, -1, dtype=doppel.float64))[0], np.log(e / e.sum()),
                               rtol=1e-12)


def test_var_std_unbiased_and_correction():
    a = np.array([[1.0, 2.0, 4.0], [0.0, -3.0, 5.0]])
    np.testing.assert_allclose(t64(a).var(unbiased=False).item(), a.var())
    np.testing.assert_allclose(t64(a).var(False).item(), a.var())
    np.testing.assert_allclose(npy(doppel.var(t64(a), 1, unbiased=True)), a.var(1, ddof=1))
    np.testing.assert_allclose(npy(t64(a).std(0, False, True)), a.std(0, keepdims=True))
    np.testing.assert_allclose(npy(doppel.std(t64(a), dim=1, unbiased=False)), a.std(1))
    np.testing.assert_allclose(npy(t64(a).var(1, correction=0)), a.var(1))
    np.testing.assert_allclose(t64(a).std(unbiased=True).item(), a.std(ddof=1))


# ---- advanced indexing ----------------------------------------------------------------------

A = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
MASK3 = np.array([True, False, True])
INDEX_CASES = [
    ([0, 1], [1, 2]),
    (([0, 1], [1, 2], [3, 0])),
    (([[0], [1]], [0, 2, 1])),  # broadcast index tensors
    ((slice(None), [0, 2], [1, 3])),  # adjacent after a slice
    (([0, 1], slice(None), [1, 2])),  # separated by a slice: index dims first
    (([1, 0], slice(None), slice(1, 3), [4, 0])),
    ((Ellipsis, [0, 1], [4, 2])),
    (([-1, 0], Ellipsis, [-5, 2])),  # negative indices
    ((0, slice(None), [1, 2])),  # an int then a separated index: PyTorch's selects first
    (([1, 0], None, [0, 2])),
    ((None, [1, 0], [0, 2], None)),
    ((slice(None), MASK3, [1, 2])),  # a mask with an index
    (([1, 0], MASK3)),
    ((slice(None), MASK3, slice(None), [[0], [3]])),  # separated
    ((np.array([[True, False, True], [False, True, True]]), [0, 3, 1, 2])),  # 2-d mask
    ((np.int64(1), [2, 0], slice(1, 4), [0, 1])),
    ((np.array(1), np.array(2))),  # 0-d index tensors
    ((np.zeros((0,), dtype=np.int64), [])),  # empty
]


def as_doppel_index(idx):
    def conv(i):
        return doppel.tensor(i) if isinstance(i, np.ndarray) else i

    return tuple(conv(i) for i in idx) if isinstance(idx, tuple) else conv(idx)


def numpy_index(idx):
    # numpy treats an int next to advanced indices as advanced; PyTorch selects it first.
    if isinstance(idx, tuple) and isinstance(idx[0], (int, np.integer)) and not isinstance(idx[0], bool):
        return idx[0], idx[1:]
    return None, idx


def numpy_get(a, idx):
    first, rest = numpy_index(idx)
    return a[first][rest] if first is not None else a[rest]


@pytest.mark.parametrize("idx", INDEX_CASES, ids=[str(i) for i in range(len(INDEX_CASES))])
def test_getitem_with_several_advanced_indices_matches_numpy(idx):
    want = numpy_get(A, idx)
    got = t64(A)[as_doppel_index(idx)]
    assert tuple(got.shape) == want.shape
    np.testing.assert_array_equal(npy(got), want)


def test_getitem_placement_follows_pytorch():
    x = doppel.zeros(2, 3, 4)
    # shapes checked with torch 1.13
    assert x[0, :, [1, 2]].shape == (3, 2)
    assert x[[0, 1], :, 0].shape == (2, 3)
    assert x[[0, 1], None, [0, 1]].shape == (2, 1, 4)
    assert x[[0], :, [1, 2]].shape == (2, 3)
    assert x[..., [0, 1], 0].shape == (2, 2)
    assert x[doppel.tensor(True)].shape == (1, 2, 3, 4)
    assert x[doppel.tensor(False), 0].shape == (0, 3, 4)


@pytest.mark.parametrize("idx", [INDEX_CASES[i] for i in (0, 2, 4, 7, 11, 14)])
def test_getitem_gradient_scatters_back(idx):
    w = rng(2).standard_normal(numpy_get(A, idx).shape)
    x = t64(A, grad=True)
    (x[as_doppel_index(idx)] * t64(w)).sum().backward()
    want = np.zeros_like(A)
    first, rest = numpy_index(idx)
    if first is None:
        np.add.at(want, rest, w)
    else:
        np.add.at(want[first], rest, w)
    np.testing.assert_array_equal(npy(x.grad), want)


def test_getitem_gradient_matches_finite_differences_with_repeats():
    a = rng(4).standard_normal((3, 4))
    check_grads(lambda x: x[[0, 2, 0], [1, 1, 1]] * x[[2, 2], :][:, [3, 0]].sum(), [a])


@pytest.mark.parametrize(
    "idx,err",
    [
        (([0, 5], [0, 1]), "index 5 is out of bounds for dimension 0 with size 2"),
        (([0, 1], [0, 3]), "index 3 is out of bounds for dimension 1 with size 3"),
        ((slice(None), slice(None), [0, -6]), "index -6 is out of bounds for dimension 2 with size 4"),
        ((0, [0, 3]), "index 3 is out of bounds for dimension 0 with size 3"),
        ((7,), "index 7 is out of bounds for dimension 0 with size 2"),
    ],
)
def test_index_bounds_errors_name_dim_index_and_size(idx, err):
    x = t64(A[:, :, :4, 0]) if len(idx) == 3 else t64(A[:, :, 0, 0])
    with pytest.raises(IndexError, match=err):
        x[as_doppel_index(idx)]
    with pytest.raises(IndexError, match=err):
        x[as_doppel_index(idx)] = 1.0


def test_getitem_errors():
    x = doppel.zeros(2, 3)
    with pytest.raises(doppel.ShapeError):
        x[[0, 1], [0, 1, 2]]  # index tensors that do not broadcast
    with pytest.raises(IndexError, match="does not match"):
        x[doppel.tensor([True, False, True])]


SET_CASES = [
    ([0, 1], [1, 2]),
    ((slice(None), [0, 2], [1, 3])),
    (([0, 1], slice(None), [1, 2])),
    (([[1], [0]], slice(1, 3), [0, 2, 3])),
    ((slice(None), MASK3, [1, 2])),
    ((slice(None), MASK3)),
    ((Ellipsis, [-1, 0])),
    ((1, [2, 0], slice(None), [0, 1])),
]


@pytest.mark.parametrize("idx", SET_CASES, ids=[str(i) for i in range(len(SET_CASES))])
def test_setitem_matches_numpy(idx):
    first, rest = numpy_index(idx)
    target_shape = numpy_get(A, idx).shape
    for value in (7.5, rng(3).standard_normal(target_shape), rng(3).standard_normal(target_shape[-1:])):
        want = A.copy()
        (want[first] if first is not None else want)[rest] = value
        # slice copies, or the out-of-place ops autograd can follow (into the tensor itself, not
        # into a view that ints or partial slices make)
        items = idx if isinstance(idx, tuple) else (idx,)
        view = any(isinstance(i, (int, np.integer)) or (isinstance(i, slice) and i != slice(None)) for i in items)
        for needs_grad in (False,) if view else (False, True):
            x = t64(A, grad=needs_grad) * 1.0
            x[as_doppel_index(idx)] = t64(value) if isinstance(value, np.ndarray) else value
            np.testing.assert_array_equal(npy(x), want)


def test_setitem_gradients_flow_to_the_rest_and_to_the_values():
    a = rng(6).standard_normal((3, 4))
    vals = rng(7).standard_normal(2)
    w = rng(8).standard_normal((3, 4))
    x, v = t64(a, grad=True), t64(vals, grad=True)
    y = x * 2.0
    y[[0, 2], [1, 3]] = v
    (y * t64(w)).sum().backward()
    want_x = 2.0 * w
    want_x[[0, 2], [1, 3]] = 0.0
    np.testing.assert_allclose(npy(x.grad), want_x)
    np.testing.assert_allclose(npy(v.grad), w[[0, 2], [1, 3]])
    # separated indices with a broadcast value
    x, v = t64(a, grad=True), t64(1.5, grad=True)
    y = x + 0.0
    y[:, [0, 3]] = v
    (y * t64(w)).sum().backward()
    want_x = w.copy()
    want_x[:, [0, 3]] = 0.0
    np.testing.assert_allclose(npy(x.grad), want_x)
    np.testing.assert_allclose(v.grad.item(), w[:, [0, 3]].sum())


def test_setitem_into_a_non_leaf_that_requires_grad_backpropagates():
    x = t64(A[:, :, 0, 0], grad=True)
    y = x * 2.0
    y[0, [0, 1]] = 5.0  # overwritten: no gradient reaches x there
    y.sum().backward()
    want = np.full(A[:, :, 0, 0].shape, 2.0)
    want[0, [0, 1]] = 0.0
    np.testing.assert_array_equal(x.grad.numpy(), want)


def test_repeated_indices_last_write_wins_without_autograd():
    x = doppel.zeros(3)
    x[[0, 0, 2]] = doppel.tensor([1.0, 2.0, 3.0])
    assert x.tolist() == [2.0, 0.0, 3.0]


def test_setitem_mask_with_one_value_per_selected_element():
    x = doppel.zeros(4)
    x[doppel.tensor([True, False, True, False])] = doppel.tensor([1.0, 2.0])
    assert x.tolist() == [1.0, 0.0, 2.0, 0.0]
    y = doppel.zeros(2, 3)
    y[doppel.tensor([False, True])] = 5.0
    assert y.tolist() == [[0.0] * 3, [5.0] * 3]


def test_compiled_setitem_equals_eager():
    idx = doppel.tensor([1, 0])

    def f(x, v):
        y = x * 1.0
        y[idx, :, [1, 3]] = v
        return y

    x = doppel.tensor(A[:, :, :4, 1].astype(np.float32))
    v = doppel.tensor(np.array([[-1.0], [-2.0]], dtype=np.float32))
    want = A[:, :, :4, 1].astype(np.float32).copy()
    want[[1, 0], :, [1, 3]] = [[-1.0], [-2.0]]
    np.testing.assert_array_equal(npy(f(x, v)), want)
    np.testing.assert_array_equal(npy(doppel.compile(f)(x, v)), want)


def test_compiled_indexing_equals_eager():
    idx0 = doppel.tensor([1, 0, 1])
    idx2 = doppel.tensor([3, 0, 2])

    def f(x):
        return x[idx0, :, idx2] * 2 + x[:, [0, 2], [1, 1]].sum()

    x = doppel.tensor(A[:, :, :, 0].astype(np.float32))
    cf = doppel.compile(f)
    np.testing.assert_allclose(npy(cf(x)), npy(f(x)), rtol=1e-6)
    np.testing.assert_allclose(npy(f(x)), A[[1, 0, 1], :, [3, 0, 2], 0] * 2 + A[:, [0, 2], [1, 1], 0].sum(),
                               rtol=1e-6)


def test_index_and_index_put_take_one_entry_per_dim():
    x = t64(A[:, :, :, 0])
    np.testing.assert_array_equal(npy(x.index([None, doppel.tensor([0, 2]), doppel.tensor([1, 3])])),
                                  A[:, [0, 2], [1, 3], 0])
    np.testing.assert_array_equal(npy(x.index([doppel.tensor([[True, False, True], [False, True, False]])])),
                                  A[:, :, :, 0][np.array([[True, False, True], [False, True, False]])])
    y = x.clone()
    y.index_put_([doppel.tensor([1, 0]), None, doppel.tensor([3, 0])], t64(-1.0))
    want = A[:, :, :, 0].copy()
    want[[1, 0], :, [3, 0]] = -1.0
    np.testing.assert_array_equal(npy(y), want)


def test_export_and_runtime_run_einsum_indexing_and_composites(tmp_path):
    w = doppel.tensor(rng(12).standard_normal((4, 5)).astype(np.float32))
    rows = doppel.tensor([2, 0, 1])

    def f(x):
        y = doppel.einsum("bi,ij->bj", x, w)
        y = doppel.triu(y[rows, 1:], 1) + y[:, [0, 4]].sum()
        return y.lerp(x[rows, :4], 0.75).movedim(0, 1)

    x = doppel.tensor(rng(13).standard_normal((3, 4)).astype(np.float32))
    path = tmp_path / "composites.dpl"
    doppel.export(f, [x], path)
    (y,) = doppel.runtime.load(path).run(x)
    np.testing.assert_allclose(np.asarray(y), npy(f(x)), rtol=1e-5, atol=1e-6)
