"""doppel.scaled_dot_product_attention, rms_norm, apply_rotary (doppel.nn.functional) and
nn.RMSNorm against float64 numpy references written here (torch 1.13 has neither sdpa nor
rms_norm), their ONNX exports in onnxruntime, traced graphs against eager, and gradients against
central finite differences in float64."""
import io

import numpy as np
import onnxruntime as ort
import pytest

import doppel
import doppel.nn as nn
import doppel.nn.functional as F


def rnd(shape, seed, dtype=np.float64):
    return np.random.default_rng(seed).uniform(-2, 2, size=shape).astype(dtype)


def t(a):
    return doppel.from_numpy(np.ascontiguousarray(a))


def np_sdpa(q, k, v, mask=None, causal=False, scale=None, gqa=False):
    """The attention formula in float64: repeat_kv, masks, softmax with zero rows where every key is
    masked (PyTorch >= 2.5's math backend), weights @ v."""
    q, k, v = (np.asarray(x, np.float64) for x in (q, k, v))
    if gqa and k.shape[-3] != q.shape[-3]:
        k = np.repeat(k, q.shape[-3] // k.shape[-3], axis=-3)
        v = np.repeat(v, q.shape[-3] // v.shape[-3], axis=-3)
    s = q @ np.swapaxes(k, -1, -2) * (scale if scale is not None else 1 / np.sqrt(q.shape[-1]))
    L, S = q.shape[-2], k.shape[-2]
    if causal:
        s = np.where(np.tril(np.ones((L, S), bool)), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    mx = s.max(axis=-1, keepdims=True)
    dead = np.isneginf(mx)
    e = np.exp(s - np.where(dead, 0, mx))
    w = np.where(dead, 0, e / np.where(dead, 1, e.sum(axis=-1, keepdims=True)))
    return w @ v


CASES = {
    "plain L != S, E != Ev": dict(q=(2, 3, 4, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 5)),
    "causal": dict(q=(1, 2, 5, 4), k=(1, 2, 5, 4), v=(1, 2, 5, 4), causal=True),
    "causal L < S": dict(q=(2, 3, 4), k=(2, 7, 4), v=(2, 7, 3), causal=True),
    "bool mask": dict(q=(2, 2, 3, 4), k=(2, 2, 5, 4), v=(2, 2, 5, 4), mask="bool"),
    "float mask": dict(q=(2, 2, 3, 4), k=(2, 2, 5, 4), v=(2, 2, 5, 4), mask="float"),
    "gqa": dict(q=(1, 6, 3, 4), k=(1, 2, 5, 4), v=(1, 2, 5, 4), gqa=True, causal=True),
    "scale": dict(q=(2, 3, 4), k=(2, 5, 4), v=(2, 5, 4), scale=0.25),
    "long (row blocks)": dict(q=(1, 1, 700, 8), k=(1, 1, 400, 8), v=(1, 1, 400, 8), causal=True),
}


def make_case(c, dtype, transposed_heads=False):
    q, k, v = (rnd(c[n], i, dtype) for i, n in enumerate("qkv"))
    mask = None
    L, S = c["q"][-2], c["k"][-2]
    if c.get("mask") == "bool":
        mask = np.random.default_rng(9).uniform(size=(L, S)) > 0.3
        mask[1] = False  # a query row that attends to nothing
    elif c.get("mask") == "float":
        mask = rnd((c["q"][0], 1, L, S), 10, dtype)
    return q, k, v, mask


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(CASES))
def test_sdpa_matches_numpy(name, dtype):
    c = CASES[name]
    q, k, v, mask = make_case(c, dtype)
    want = np_sdpa(q, k, v, mask, c.get("causal", False), c.get("scale"), c.get("gqa", False))
    got = F.scaled_dot_product_attention(t(q), t(k), t(v), None if mask is None else t(mask), 0.0,
                                         c.get("causal", False), scale=c.get("scale"),
                                         enable_gqa=c.get("gqa", False)).numpy()
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_sdpa_reads_transposed_heads_and_gives_zero_rows_for_masked_queries():
#Hugging Face produces[B, L, H, E].transpose(1, 2) : non - contiguous heads.
    q, k, v = (rnd((2, 5, 3, 4), s, np.float32) for s in (1, 2, 3))
    qt, kt, vt = (t(x).transpose(1, 2) for x in (q, k, v))
    assert not qt.is_contiguous()
    mask = np.ones((5, 5), bool)
    mask[2] = False
    got = doppel.scaled_dot_product_attention(qt, kt, vt, t(mask)).numpy()
    want = np_sdpa(*(np.swapaxes(x, 1, 2) for x in (q, k, v)), mask)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    assert (got[:, :, 2] == 0).all()


def test_sdpa_errors_name_the_problem():
    q = t(rnd((2, 4, 3, 8), 1))
    k = t(rnd((2, 4, 5, 8), 2))
    with pytest.raises(ValueError, match="is_causal"):
        doppel.scaled_dot_product_attention(q, k, k, doppel.ones(3, 5, dtype=doppel.bool), is_causal=True)
    with pytest.raises(doppel.ShapeError, match="enable_gqa"):
        doppel.scaled_dot_product_attention(q, t(rnd((2, 3, 5, 8), 3)), t(rnd((2, 3, 5, 8), 4)), enable_gqa=True)


def test_sdpa_dropout_is_seeded_and_scaled():
    q, k = doppel.zeros(2, 32, 4), doppel.zeros(2, 32, 4)
    v = doppel.eye(32).unsqueeze(0).expand(2, 32, 32)
    doppel.manual_seed(7)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    doppel.manual_seed(7)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) <= {0.0, np.float32(1 / 32 / 0.5)}
    assert abs((a == 0).mean() - 0.5) < 0.03


def finite_diff_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


@pytest.mark.parametrize("name", ["causal", "gqa", "bool mask", "float mask"])
def test_sdpa_gradients_match_finite_differences(name):
    c = CASES[name]
    q, k, v, mask = make_case(c, np.float64)
    w = rnd(np_sdpa(q, k, v, mask, c.get("causal", False), None, c.get("gqa", False)).shape, 5)
    m = None if mask is None else t(mask)
    xs = [t(x).requires_grad_(True) for x in (q, k, v)]
    out = doppel.scaled_dot_product_attention(*xs, m, is_causal=c.get("causal", False), enable_gqa=c.get("gqa", False))
    (out * t(w)).sum().backward()
    for i, x in enumerate((q, k, v)):
        def loss(xi, i=i):
            args = [q, k, v]
            args[i] = xi
            return (np_sdpa(*args, mask, c.get("causal", False), None, c.get("gqa", False)) * w).sum()
        np.testing.assert_allclose(xs[i].grad.numpy(), finite_diff_grad(loss, x), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype,eps", [(np.float32, np.finfo(np.float32).eps), (np.float64, np.finfo(np.float64).eps)])
def test_rms_norm_matches_numpy_with_dtype_eps(dtype, eps):
    x, w = rnd((3, 4, 6), 1, dtype), rnd((6,), 2, dtype)
    x64 = x.astype(np.float64)
    want = x64 / np.sqrt((x64 ** 2).mean(-1, keepdims=True) + eps) * w
    got = F.rms_norm(t(x), [6], t(w)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-14)
    m = nn.RMSNorm(6, eps=1e-6, dtype=doppel.float32)
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    xf = x.astype(np.float32)
    np.testing.assert_allclose(m(t(xf)).detach().numpy(), xf / np.sqrt((xf.astype(np.float64) ** 2).mean(-1, keepdims=True)
                                                                + 1e-6), rtol=1e-6)


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], -1)


def test_apply_rotary_and_hf_tables_match_numpy():
    B, H, L, D = 2, 3, 5, 8
    pos = np.arange(L)[None].repeat(B, 0)
    cos, sin = F.rotary_cos_sin(t(pos.astype(np.int64)), D, base=10000.0)
    inv = 1.0 / (10000.0 ** (np.arange(0, D, 2, dtype=np.int64).astype(np.float32) / D))
    ang = pos[..., None].astype(np.float32) * inv
    emb = np.concatenate([ang, ang], -1)
    np.testing.assert_allclose(cos.numpy(), np.cos(emb), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sin.numpy(), np.sin(emb), rtol=1e-6, atol=1e-6)
    x = rnd((B, H, L, D), 3, np.float32)
    c, s = cos.numpy()[:, None], sin.numpy()[:, None]
    got = F.apply_rotary(t(x), cos.unsqueeze(1), sin.unsqueeze(1)).numpy()
    np.testing.assert_allclose(got, x * c + rotate_half(x) * s, rtol=1e-6, atol=1e-6)


def test_rms_norm_and_rotary_gradients_match_finite_differences():
    x, w = rnd((3, 6), 1), rnd((6,), 2)
    c, s = rnd((3, 6), 3), rnd((6,), 4)
    g = rnd((3, 6), 5)
    xt, wt, ct, st = (t(a).requires_grad_(True) for a in (x, w, c, s))
    (F.apply_rotary(F.rms_norm(xt, [6], wt, 1e-5), ct, st) * t(g)).sum().backward()

    def f(x_, w_, c_, s_):
        y = x_ / np.sqrt((x_ ** 2).mean(-1, keepdims=True) + 1e-5) * w_
        return ((y * c_ + rotate_half(y) * s_) * g).sum()
    args = [x, w, c, s]
    for i, tt in enumerate((xt, wt, ct, st)):
        def loss(a, i=i):
            b = list(args)
            b[i] = a
            return f(*b)
        np.testing.assert_allclose(tt.grad.numpy(), finite_diff_grad(loss, args[i]), rtol=1e-6, atol=1e-7)


def attention_block(x, wq, wk, wv, wn, cos, sin):
    B, L, _ = x.shape
    h = F.rms_norm(x, [8], wn)
    q = (h @ wq).reshape(B, L, 4, 2).transpose(1, 2)
    k = (h @ wk).reshape(B, L, 2, 2).transpose(1, 2)
    v = (h @ wv).reshape(B, L, 2, 2).transpose(1, 2)
    a = F.scaled_dot_product_attention(F.apply_rotary(q, cos, sin), F.apply_rotary(k, cos, sin), v, is_causal=True,
                                       enable_gqa=True)
    return a.transpose(1, 2).reshape(B, L, 8)


def block_inputs():
    ws = [t(rnd(s, i, np.float32)) for i, s in enumerate([(8, 8), (8, 4), (8, 4), (8,)])]
    cos, sin = F.rotary_cos_sin(doppel.arange(0, 6, dtype=doppel.int64), 2)
    return ws, cos, sin


def test_trace_equals_eager():
    ws, cos, sin = block_inputs()
    x = t(rnd((2, 6, 8), 9, np.float32))
    r = doppel.trace(lambda x: attention_block(x, *ws, cos, sin), x)
    assert {"scaled_dot_product_attention", "rms_norm", "apply_rotary"} <= set(r.graph.op_names())
    with doppel.no_grad():
        want = attention_block(x, *ws, cos, sin).numpy()
    np.testing.assert_array_equal(r.outputs[0].detach().numpy(), want)
    f = doppel.compile(lambda x: attention_block(x, *ws, cos, sin))
    for _ in range(2):
        np.testing.assert_allclose(f(x).detach().numpy(), want, rtol=1e-6, atol=1e-7)


def test_onnx_export_runs_in_onnxruntime():
    ws, cos, sin = block_inputs()
    mask = np.tril(np.ones((6, 6), bool))
    mask[3, :] = False  # a fully masked query row: 0 in doppel and in the exported graph

    def f(x, m, fm):
        h = attention_block(x, *ws, cos, sin)
        q = h.reshape(2, 6, 2, 4).transpose(1, 2)
        return F.scaled_dot_product_attention(q, q, q, m, scale=0.5), F.scaled_dot_product_attention(q, q, q, fm)

    x, fm = rnd((2, 6, 8), 9, np.float32), rnd((2, 1, 6, 6), 10, np.float32)
    buf = io.BytesIO()
    doppel.onnx.export(f, (t(x), t(mask), t(fm)), buf, input_names=["x", "m", "fm"])
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x, "m": mask, "fm": fm})
    with doppel.no_grad():
        want = [o.numpy() for o in f(t(x), t(mask), t(fm))]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    assert (got[0][:, :, 3] == 0).all()


def test_compiled_decode_step_with_a_symbolic_cache_length_traces_once():
    wn = doppel.ones(8)

    def step(q, k, v, cos, sin):
        return F.scaled_dot_product_attention(F.apply_rotary(F.rms_norm(q, [8], wn), cos, sin), k, v, enable_gqa=True)

    f = doppel.compile(step, dynamic=[(1, 2, "cache"), (2, 2, "cache")])
    for S in (5, 9, 13, 13):
        args = [t(rnd(s, S + i, np.float32)) for i, s in
                enumerate([(2, 4, 1, 8), (2, 2, S, 8), (2, 2, S, 8), (1, 8), (1, 8)])]
        with doppel.no_grad():
            want = step(*args).numpy()
        np.testing.assert_allclose(f(*args).numpy(), want, rtol=1e-6, atol=1e-7)
    assert f.trace_reasons() == ["first call"]
    assert f.num_graph_runs >= 2
