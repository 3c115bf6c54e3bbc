# topk, sort, argsort, multinomial, tril/triu from Python (issue 17): the named tuples, keyword
# forms, numpy oracles (np.argsort(kind="stable"), np.tril/np.triu), gradients, multinomial's
# statistics and seeding, the in-place forms, compile == eager, and ONNX export (TopK, Trilu)
# run by onnxruntime with a symbolic batch.
import io

import numpy as np
import onnxruntime as ort
import pytest

import doppel


def npy(t):
    return np.asarray(t.detach())


def f32(shape, seed):
    return np.random.default_rng(seed).uniform(-2, 2, size=shape).astype(np.float32)


def test_topk_and_sort_return_named_tuples_matching_numpy():
    x = f32((4, 50), 0)
    r = doppel.topk(doppel.from_numpy(x), 5)
    assert type(r).__name__ == "topk" and type(r).__module__ == "doppel.return_types"
    v, i = r
    want = np.argsort(-x, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(npy(i), want)
    np.testing.assert_array_equal(npy(v), np.take_along_axis(x, want, 1))
    t = doppel.from_numpy(x)
    s = t.sort(dim=0, descending=False)
    assert type(s).__name__ == "sort"
    np.testing.assert_array_equal(npy(s.indices), np.argsort(x, axis=0, kind="stable"))
    np.testing.assert_array_equal(npy(t.argsort(1, True)), np.argsort(-x, axis=1, kind="stable"))
    np.testing.assert_array_equal(npy(doppel.argsort(t, stable=True)), np.argsort(x, axis=-1, kind="stable"))
    small = t.topk(3, dim=1, largest=False, sorted=True)
    np.testing.assert_array_equal(npy(small.indices), np.argsort(x, axis=1, kind="stable")[:, :3])


def test_ties_nan_and_errors():
    x = doppel.tensor([2.0, float("nan"), 2.0, -0.0, 0.0, float("inf")])
    assert doppel.argsort(x).tolist() == [3, 4, 0, 2, 5, 1]
    assert x.topk(3).indices.tolist() == [1, 5, 0]
    with pytest.raises(IndexError, match="topk"):
        x.topk(7)
    with pytest.raises(ValueError, match="multinomial"):
        doppel.multinomial(doppel.tensor([1.0, -1.0]), 1)
    with pytest.raises(ValueError, match="without replacement"):
        doppel.tensor([[1.0, 2.0]]).multinomial(3)


def test_gradients_scatter_back_and_tril_mask():
    x = doppel.tensor([[0.5, 3.0, -1.0, 2.0]], dtype=doppel.float64, requires_grad=True)
    v, _ = x.topk(2)
    (v * doppel.tensor([[10.0, 100.0]], dtype=doppel.float64)).sum().backward()
    assert x.grad.tolist() == [[0.0, 10.0, 0.0, 100.0]]
    y = doppel.ones(3, 3, dtype=doppel.float64, requires_grad=True)
    y.tril(-1).sum().backward()
    np.testing.assert_array_equal(npy(y.grad), np.tril(np.ones((3, 3)), -1))


def test_tril_triu_in_place_match_numpy():
    a = np.random.default_rng(3).standard_normal((2, 4, 6))
    for k in (-2, 0, 3):
        t = doppel.from_numpy(a.copy())
        r = t.tril_(k)
        np.testing.assert_array_equal(npy(t), np.tril(a, k))
        np.testing.assert_array_equal(npy(r), np.tril(a, k))
        u = doppel.from_numpy(a.copy())
        u.triu_(diagonal=k)
        np.testing.assert_array_equal(npy(u), np.triu(a, k))


def test_multinomial_frequencies_seed_and_no_repeats():
    w = doppel.tensor([1.0, 0.0, 3.0, 4.0])
    doppel.manual_seed(7)
    s = doppel.multinomial(w, 40000, replacement=True)
    counts = np.bincount(npy(s), minlength=4)
    assert counts[1] == 0
    expected = 40000 * np.array([1, 0, 3, 4]) / 8
    chi2 = sum((counts[c] - expected[c]) ** 2 / expected[c] for c in (0, 2, 3))
    assert chi2 < 13.8  # 2 degrees of freedom, p = 0.001
    doppel.manual_seed(7)
    assert doppel.multinomial(w, 40000, replacement=True).tolist() == s.tolist()
    rows = doppel.from_numpy(np.random.default_rng(1).uniform(0.1, 1, size=(50, 30)).astype(np.float32))
    d = npy(rows.multinomial(30))
    assert d.dtype == np.int64 and all(sorted(r) == list(range(30)) for r in d)


def test_compiled_equals_eager():
    def f(x):
        v, i = doppel.topk(x, 4)
        s = x.sort(descending=True).values
        return v * 2.0, i, s[:, :3] + doppel.triu(x[:, :4].reshape(-1, 2, 2)).sum()

    g = doppel.compile(f, dynamic=True)
    for batch in (2, 5):
        x = doppel.from_numpy(f32((batch, 40), batch))
        for got, want in zip(g(x), f(x)):
            np.testing.assert_array_equal(npy(got), npy(want))


# uint8: computed as float in ONNX and cast back; the integer inputs have ties (lower index first).
@pytest.mark.parametrize("dtype", ["float32", "int64", "uint8"])
def test_onnx_export_topk_sort_trilu_in_onnxruntime(dtype):
    def f(x):
        v, i = doppel.topk(x, 3, dim=1)
        s = doppel.sort(x, dim=0, descending=True)
        a = doppel.argsort(x)
        return v.to(doppel.float32), i, s.values.to(doppel.float32), s.indices, a, doppel.tril(x, 1).to(doppel.float32), \
            doppel.triu(x, -1).to(doppel.float32)

    dt = getattr(doppel, dtype)
    x = doppel.from_numpy(np.abs(f32((4, 9), 0)) * 10).to(dt)
    buf = io.BytesIO()
    doppel.onnx.export(f, (x,), buf, input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    for batch in (4, 7):
        xb = doppel.from_numpy(np.abs(f32((batch, 9), batch)) * 10).to(dt)
        got = sess.run(None, {"x": npy(xb)})
        for g, w in zip(got, f(xb)):
            np.testing.assert_array_equal(g, npy(w))
