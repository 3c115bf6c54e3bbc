"""Quantized ops (issue 18): doppel.quantize_per_tensor / quantize_per_channel / dequantize and
doppel.ops.quantized against PyTorch 1.13's quantized tensors and ops (Debian's torch, run under
/usr/bin/python3, engine 'onednn': this torch has no fbgemm), and their ONNX export run by
onnxruntime. The int8 kernels agree within one quantization step (float32 requantization on
both sides, rounding ties may differ); quantize agrees exactly except where stated."""
import pathlib
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import doppel

TORCH_PYTHON = "/usr/bin/python3"
Q = doppel.ops.quantized


def torch_run(tmp_path, code, **arrays):
    """Runs `code` under Debian's torch with the arrays as numpy globals; it sets `out` (a dict of
    arrays), which comes back."""
    src = tmp_path / "in.npz"
    np.savez(src, **arrays)
    prog = ("import numpy as np, torch\n"
            "torch.backends.quantized.engine = 'onednn'\n"
            f"a = dict(np.load({str(src)!r}))\n"
            "globals().update(a)\n" + code + "\n"
            f"np.savez({str(tmp_path / 'out.npz')!r}, **out)\n")
    r = subprocess.run([TORCH_PYTHON, "-c", prog], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return dict(np.load(tmp_path / "out.npz"))


def t(a):
    return doppel.from_numpy(np.require(a, requirements="C"))


def f32(v):
    return doppel.tensor(np.float32(v))


def i32(v):
    return doppel.tensor(np.int32(v))


SPECIALS = np.array([np.nan, np.inf, -np.inf, -0.0, 0.5, 1.5, 2.5, -0.5, -2.5, 1e-40, 700, -700, 0.3, -0.7],
                    np.float32)


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_quantize_per_tensor_matches_torch(tmp_path, dtype):
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-4, 4, 500).astype(np.float32), SPECIALS])
    zp = -3 if dtype == "int8" else 128
    got = doppel.quantize_per_tensor(t(x), 0.05, zp, getattr(doppel, dtype)).numpy()
    ones = doppel.quantize_per_tensor(t(SPECIALS), 1.0, zp, getattr(doppel, dtype)).numpy()
    want = torch_run(tmp_path, f"""
qt = torch.qint8 if {dtype!r} == 'int8' else torch.quint8
out = dict(q=torch.quantize_per_tensor(torch.from_numpy(x), 0.05, {zp}, qt).int_repr().numpy(),
           ones=torch.quantize_per_tensor(torch.from_numpy(s), 1.0, {zp}, qt).int_repr().numpy())""", x=x, s=SPECIALS)
    lo = np.iinfo(dtype).min
    # +inf: torch gives the lowest value (its float-to-int conversion of inf), doppel saturates.
    pos_inf = np.isposinf(x)
    assert (got[pos_inf] == np.iinfo(dtype).max).all() and (want["q"][pos_inf] == lo).all()
    np.testing.assert_array_equal(got[~pos_inf], want["q"][~pos_inf])
    # NaN gives the lowest value on both sides; ties round half to even (0.5 -> 0, 2.5 -> 2).
    assert got[np.isnan(x)].tolist() == [lo]
    keep = ~np.isposinf(SPECIALS)
    np.testing.assert_array_equal(ones[keep], want["ones"][keep])


def test_quantize_per_channel_and_dequantize_match_torch(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.uniform(-3, 3, (4, 5, 6)).astype(np.float32)
    scales = rng.uniform(0.01, 0.05, 5).astype(np.float32)
    zps = rng.integers(-10, 10, 5).astype(np.int32)
    q = doppel.quantize_per_channel(t(x), t(scales), t(zps), 1, doppel.int8)
    deq = doppel.dequantize(q, t(scales), t(zps), axis=1).numpy()
    want = torch_run(tmp_path, """
q = torch.quantize_per_channel(torch.from_numpy(x), torch.from_numpy(scales).double(), torch.from_numpy(zps).long(),
                               1, torch.qint8)
out = dict(q=q.int_repr().numpy(), deq=q.dequantize().numpy())""", x=x, scales=scales, zps=zps)
    np.testing.assert_array_equal(q.numpy(), want["q"])
    np.testing.assert_allclose(deq, want["deq"], rtol=1e-6, atol=0)


def test_quantized_ops_refuse_gradients():
    x = doppel.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match="quantize: not differentiable"):
        doppel.quantize_per_tensor(x, 0.1, 0, doppel.int8)
    with doppel.no_grad():
        assert doppel.quantize_per_tensor(x, 0.1, 0, doppel.int8).numpy().tolist() == [10, 10, 10]


def linear_case(rng, m, k, n):
    x = rng.uniform(-2, 2, (m, k)).astype(np.float32)
    w = rng.uniform(-1, 1, (n, k)).astype(np.float32)
    b = rng.uniform(-1, 1, n).astype(np.float32)
    return x, w, b


def test_quantized_linear_matches_torch_within_one_step(tmp_path):
    rng = np.random.default_rng(3)
    x, w, b = linear_case(rng, 9, 67, 13)
    w_scales = (np.abs(w).max(axis=1) / 127).astype(np.float32)
    xs, xz, ys, yz = 0.02, 130, 0.05, 120
    xq = doppel.quantize_per_tensor(t(x), xs, xz, doppel.uint8)
    wq = doppel.quantize_per_channel(t(w), t(w_scales), t(np.zeros(13, np.int32)), 0, doppel.int8)
    for relu in (False, True):
        got = Q.linear(xq, f32(xs), i32(xz), wq, t(w_scales), t(np.zeros(13, np.int32)), f32(ys), i32(yz), t(b),
                       relu=relu, out_dtype=doppel.uint8).numpy()
        # Where oneDNN's int8 dot product saturates (no VNNI), torch's int8 kernels (its onednn
        # engine) saturate with it, and doppel's do not: the oracle is then torch's float64 product
        # of the dequantized values, requantized.
        product = ("""
y = torch.nn.functional.linear(xq.dequantize().double(), wq.dequantize().double(), torch.from_numpy(b).double())
y = y.relu() if {relu} else y
out = dict(y=torch.quantize_per_tensor(y.float(), {ys}, {yz}, torch.quint8).int_repr().numpy())"""
                   if doppel._C._onednn_int8_saturates() else """
packed = torch.ops.quantized.linear_prepack(wq, torch.from_numpy(b))
op = torch.ops.quantized.linear_relu if {relu} else torch.ops.quantized.linear
out = dict(y=op(xq, packed, {ys}, {yz}).int_repr().numpy())""").format(relu=relu, ys=ys, yz=yz)
        want = torch_run(tmp_path, f"""
xq = torch.quantize_per_tensor(torch.from_numpy(x), {xs}, {xz}, torch.quint8)
wq = torch.quantize_per_channel(torch.from_numpy(w), torch.from_numpy(ws).double(), torch.zeros(13, dtype=torch.long),
                                0, torch.qint8)""" + product, x=x, w=w, b=b, ws=w_scales)
        diff = np.abs(got.astype(int) - want["y"].astype(int))
        assert diff.max() <= 1, diff.max()


def test_quantized_conv2d_with_residual_and_add_and_cat_match_torch(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 2, (2, 8, 9, 9)).astype(np.float32)
    w = rng.uniform(-0.5, 0.5, (16, 4, 3, 3)).astype(np.float32)
    b = rng.uniform(-0.3, 0.3, 16).astype(np.float32)
    ws = (np.abs(w).reshape(16, -1).max(axis=1) / 127).astype(np.float32)
    z16 = np.zeros(16, np.int32)
    xq = doppel.quantize_per_tensor(t(x), 0.02, 40, doppel.uint8)
    wq = doppel.quantize_per_channel(t(w), t(ws), t(z16), 0, doppel.int8)
    y = Q.conv2d(xq, f32(0.02), i32(40), wq, t(ws), t(z16), f32(0.1), i32(60), t(b), stride=(2, 1), padding=(1, 1),
                 groups=2, relu=True, out_dtype=doppel.uint8).numpy()
    r = rng.uniform(-2, 2, (2, 16, 5, 9)).astype(np.float32)
    rq = doppel.quantize_per_tensor(t(r), 0.03, 70, doppel.uint8)
    s = Q.add(doppel.from_numpy(y), f32(0.1), i32(60), rq, f32(0.03), i32(70), f32(0.08), i32(50), relu=True,
              out_dtype=doppel.uint8).numpy()
    c = Q.cat([(doppel.from_numpy(y), f32(0.1), i32(60)), (rq, f32(0.03), i32(70))], f32(0.09), i32(55), dim=1,
              out_dtype=doppel.uint8).numpy()
    want = torch_run(tmp_path, """
xq = torch.quantize_per_tensor(torch.from_numpy(x), 0.02, 40, torch.quint8)
wq = torch.quantize_per_channel(torch.from_numpy(w), torch.from_numpy(ws).double(), torch.zeros(16, dtype=torch.long),
                                0, torch.qint8)
packed = torch.ops.quantized.conv2d_prepack(wq, torch.from_numpy(b), [2, 1], [1, 1], [1, 1], 2)
y = torch.ops.quantized.conv2d_relu(xq, packed, 0.1, 60)
rq = torch.quantize_per_tensor(torch.from_numpy(r), 0.03, 70, torch.quint8)
s = torch.ops.quantized.add_relu(y, rq, 0.08, 50)
c = torch.ops.quantized.cat([y, rq], dim=1, scale=0.09, zero_point=55)
out = dict(y=y.int_repr().numpy(), s=s.int_repr().numpy(), c=c.int_repr().numpy())""", x=x, w=w, b=b, ws=ws, r=r)
    for name, got in (("y", y), ("s", s), ("c", c)):
        diff = np.abs(got.astype(int) - want[name].astype(int))
        assert diff.max() <= 1, (name, diff.max())


@pytest.mark.parametrize("engine,reduce_range", [("onednn", True), ("qnnpack", False)])
def test_dynamic_quantized_linear_matches_torch_dynamic_linear(tmp_path, engine, reduce_range):
    """torch.ao.nn.quantized.dynamic.Linear passes reduce_range=True (7-bit activations), which the
    'onednn' engine honours and 'qnnpack' ignores (it warns): doppel's reduce_range matches each."""
    rng = np.random.default_rng(5)
    x, w, b = linear_case(rng, 16, 96, 24)
    x[0, 0] = 3.5  # an asymmetric range
    want = torch_run(tmp_path, f"""
torch.backends.quantized.engine = {engine!r}
lin = torch.nn.Linear(96, 24)
lin.weight.data = torch.from_numpy(w); lin.bias.data = torch.from_numpy(b)
dq = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {{torch.nn.Linear}}, dtype=torch.qint8)
wq = dq[0].weight()
out = dict(y=dq(torch.from_numpy(x)).detach().numpy(), wq=wq.int_repr().numpy(), ws=np.float32(wq.q_scale()))""",
                     x=x, w=w, b=b)
    got = doppel.ops.quantized.dynamic_linear(t(x), t(want["wq"]), t(want["ws"]), t(b),
                                              reduce_range=reduce_range).numpy()
    # Both quantize x with PyTorch's parameters; float32 products and sums in another order (and a
    # rounding tie of x, which torch computes as x * (1 / scale)) differ in the last bits.
    np.testing.assert_allclose(got, want["y"], rtol=1e-5, atol=1e-5)
    other = doppel.ops.quantized.dynamic_linear(t(x), t(want["wq"]), t(want["ws"]), t(b),
                                                reduce_range=not reduce_range).numpy()
    assert np.abs(other - want["y"]).max() > 1e-2  # the test tells the two ranges apart


def test_onnx_qdq_export_runs_in_onnxruntime_within_one_step(tmp_path):
    rng = np.random.default_rng(6)
    w = rng.uniform(-0.5, 0.5, (8, 4, 3, 3)).astype(np.float32)
    ws = (np.abs(w).reshape(8, -1).max(axis=1) / 127).astype(np.float32)
    z8 = doppel.from_numpy(np.zeros(8, np.int32))
    wq = doppel.quantize_per_channel(t(w), t(ws), z8, 0, doppel.int8)
    lw = rng.uniform(-0.3, 0.3, (5, 8 * 6 * 6)).astype(np.float32)
    lws = (np.abs(lw).max(axis=1) / 127).astype(np.float32)
    z5 = doppel.from_numpy(np.zeros(5, np.int32))
    lwq = doppel.quantize_per_channel(t(lw), t(lws), z5, 0, doppel.int8)
    b = doppel.from_numpy(rng.uniform(-0.2, 0.2, 8).astype(np.float32))
    consts = dict(xs=f32(0.02), xz=i32(128), ys=f32(0.05), yz=i32(10), ws=t(ws), lws=t(lws))

    def f(x):
        c = consts
        q = doppel.quantize(x, c["xs"], c["xz"], dtype=doppel.uint8)
        y = Q.conv2d(q, c["xs"], c["xz"], wq, c["ws"], z8, c["ys"], c["yz"], b, padding=(1, 1), relu=True,
                     out_dtype=doppel.uint8)
        s = Q.add(y, c["ys"], c["yz"], y, c["ys"], c["yz"], c["ys"], c["yz"], out_dtype=doppel.uint8)
        k = Q.cat([(s, c["ys"], c["yz"]), (y, c["ys"], c["yz"])], c["ys"], c["yz"], dim=1, out_dtype=doppel.uint8)
        flat = k[:, :8].reshape(x.shape[0], -1)
        logits = Q.linear(flat, c["ys"], c["yz"], lwq, c["lws"], z5, None, None, None, out_dtype=doppel.float32)
        return doppel.dequantize(k, c["ys"], c["yz"]), logits

    x = rng.uniform(-2, 2, (2, 4, 6, 6)).astype(np.float32)
    path = tmp_path / "q.onnx"
    doppel.onnx.export(f, (t(x),), path, input_names=["x"], output_names=["cat", "logits"])
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    with doppel.no_grad():
        want_cat, want_logits = (o.numpy() for o in f(t(x)))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got_cat, got_logits = sess.run(None, {"x": x})
    np.testing.assert_allclose(got_cat, want_cat, rtol=0, atol=0.05 + 1e-6)  # one step of 0.05
    # The float logits read the int8 result: within one step of the input times the weights.
    np.testing.assert_allclose(got_logits, want_logits, rtol=1e-4, atol=0.05 * np.abs(lw).sum(axis=1).max())
