"""Linear algebra and the functional nn ops against PyTorch, with gradients: matmuls on both sides
of the direct-loop threshold (4096 multiply-adds), convolutions, pooling (NaN propagation: issue
12 item 3) with indices, norms (instance_norm, normalize), losses with weight=, F.pad in every
mode, padding='same'|'valid', inplace=, dropout in eval."""
import numpy as np
import pytest

from harness import Suite, T, check, cpu_flag
from inputs import floats, ints

suite = Suite("nn_ops")


def f32(shape, seed, grad=True, specials=False):
    return T(floats(shape, seed, specials=specials), "float32", grad=grad)


def f64(shape, seed, grad=True):
    return T(floats(shape, seed, "float64", specials=False), "float64", grad=grad)


MM_TOL = (1e-4, 1e-4)
# (M, K, N): 16*16*16 = 4096 multiply-adds is the direct loop's last size, 16*16*17 oneDNN's first
for m, k, n in ((2, 3, 4), (16, 16, 16), (16, 16, 17), (33, 20, 9)):
    tag = f"{m}x{k}x{n}"
    suite.add(f"matmul-{tag}", "lambda torch, F, a, b: torch.matmul(a, b)", f32((m, k), 1), f32((k, n), 2), tol=MM_TOL)
    suite.add(f"mm-{tag}-transposed", "lambda torch, F, a, b: torch.mm(a.t(), b.t())", f32((k, m), 3), f32((n, k), 4), tol=MM_TOL)
    suite.add(f"matmul-op-{tag}", "lambda torch, F, a, b: a @ b", f64((m, k), 5), f64((k, n), 6))
    suite.add(f"linear-{tag}", "lambda torch, F, x, w, b: F.linear(x, w, b)", f32((m, k), 7), f32((n, k), 8), f32((n,), 9),
              tol=MM_TOL)
    suite.add(f"linear-nobias-{tag}", "lambda torch, F, x, w: F.linear(x, w)", f32((m, k), 10), f32((n, k), 11), tol=MM_TOL)
suite.add("linear-permuted-3d", "lambda torch, F, x, w, b: F.linear(x.permute(1, 0, 2), w, b)", f32((5, 3, 6), 12),
          f32((4, 6), 13), f32((4,), 14), tol=MM_TOL)
suite.add("bmm", "lambda torch, F, a, b: torch.bmm(a, b)", f32((3, 4, 5), 15), f32((3, 5, 2), 16), tol=MM_TOL)
suite.add("bmm-method-strided", "lambda torch, F, a, b: a.transpose(1, 2).bmm(b[:, ::2])", f64((3, 5, 4), 17), f64((3, 10, 2), 18))
suite.add("matmul-batched-bcast", "lambda torch, F, a, b: a @ b", f32((2, 1, 4, 5), 19), f32((3, 5, 2), 20), tol=MM_TOL)
suite.add("matmul-vec", "lambda torch, F, a, b: (a @ b, b @ a.t())", f64((4, 5), 21), f64((5,), 22))
suite.add("matmul-nan", "lambda torch, F, a, b: a @ b", f32((16, 16), 23, specials=True), f32((16, 17), 24), tol=MM_TOL)
for dt, tol in (("bfloat16", (3e-2, 3e-2)), ("float16", (3e-3, 3e-3))):
    suite.add(f"linear-{dt}", "lambda torch, F, x, w, b: F.linear(x, w, b)", T(floats((8, 16), 27, specials=False), dt),
              T(floats((16, 16), 28, specials=False) * 0.25, dt), T(floats((16,), 29, specials=False), dt), tol=tol)
    mm = suite.add(f"matmul-{dt}", "lambda torch, F, a, b: a @ b", T(floats((16, 16), 30, specials=False), dt),
                   T(floats((16, 17), 31, specials=False) * 0.25, dt), tol=tol)
    if dt == "bfloat16" and not cpu_flag("avx512f"):
        # Measured on AMD Zen 3: torch 1.13's bf16 matmul gives 0.0449 at (6, 4) where the float64
        # product of the same bf16 inputs is 0.0862 (doppel 0.0864); doppel's bf16 matmul is held to
        # the float64 reference kernel by its op specs (tests/ops/test_linalg.cpp).
        mm.marks.append(pytest.mark.skip(reason="torch 1.13's bf16 matmul without AVX-512 is no oracle"))
suite.add("matmul-int", "lambda torch, F, a, b: a @ b", T(ints((3, 4), 25)), T(ints((4, 2), 26)))

# convolutions
CONV = {
    "conv1d": ("F.conv1d(x, w, b, stride=2, padding=1)", (2, 3, 11), (4, 3, 3), (4,)),
    "conv1d-dil-groups": ("F.conv1d(x, w, None, padding=2, dilation=2, groups=2)", (2, 4, 9), (6, 2, 3), None),
    "conv2d": ("F.conv2d(x, w, b, padding=1)", (2, 3, 8, 8), (5, 3, 3, 3), (5,)),
    "conv2d-stride-dil": ("F.conv2d(x, w, b, stride=(2, 1), padding=(0, 2), dilation=2)", (1, 2, 9, 10), (3, 2, 3, 3), (3,)),
    "conv2d-depthwise": ("F.conv2d(x, w, b, groups=4)", (2, 4, 6, 6), (4, 1, 3, 3), (4,)),
    "conv2d-large": ("F.conv2d(x, w, b, padding=1)", (2, 8, 16, 16), (16, 8, 3, 3), (16,)),
    "conv_transpose2d": ("F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)", (2, 3, 5, 5), (3, 4, 3, 3), (4,)),
    "conv_transpose2d-groups": ("F.conv_transpose2d(x, w, b, groups=2, dilation=2)", (1, 4, 4, 4), (4, 3, 2, 2), (6,)),
}
for name, (expr, xs, ws, bs) in CONV.items():
    args = [f32(xs, 30), f32(ws, 31)] + ([f32(bs, 32)] if bs else [])
    params = "x, w, b" if bs else "x, w"
    suite.add(name, f"lambda torch, F, {params}: {expr}", *args, tol=(2e-4, 2e-4))
    args64 = [f64(xs, 33), f64(ws, 34)] + ([f64(bs, 35)] if bs else [])
    suite.add(f"{name}-f64", f"lambda torch, F, {params}: {expr}", *args64)
suite.add("conv2d-nchw-permuted", "lambda torch, F, x, w: F.conv2d(x.permute(0, 3, 1, 2), w, padding=1)",
          f32((2, 6, 6, 3), 36), f32((4, 3, 3, 3), 37), tol=(2e-4, 2e-4))

# pooling: NaN is the max in PyTorch (item 3 for float32)
POOL = {
    "max_pool2d": "F.max_pool2d(x, 2)", "max_pool2d-stride-pad": "F.max_pool2d(x, 3, stride=2, padding=1)",
    "max_pool2d-ceil-dil": "F.max_pool2d(x, 2, stride=2, dilation=2, ceil_mode=True)",
    "avg_pool2d": "F.avg_pool2d(x, 2)", "avg_pool2d-pad": "F.avg_pool2d(x, 3, stride=2, padding=1)",
    "avg_pool2d-nopad-count": "F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)",
    "avg_pool2d-ceil": "F.avg_pool2d(x, 3, 2, ceil_mode=True)", "avg_pool2d-divisor": "F.avg_pool2d(x, 2, divisor_override=3)",
    "adaptive_avg_pool2d": "F.adaptive_avg_pool2d(x, (3, 2))", "adaptive_avg_pool2d-1": "F.adaptive_avg_pool2d(x, 1)",
}
for name, expr in POOL.items():
    for shape in ((2, 3, 7, 8), (4, 16, 32, 32)):
        tag = "small" if shape[0] == 2 else "large"
        suite.add(f"{name}-{tag}", f"lambda torch, F, x: {expr}", f32(shape, 40))
        suite.add(f"{name}-{tag}-nan", f"lambda torch, F, x: {expr}", f32(shape, 41, specials=True))
    suite.add(f"{name}-f64-nan", f"lambda torch, F, x: {expr}", T(floats((2, 3, 7, 8), 42, "float64"), "float64", grad=True))
    suite.add(f"{name}-channels-last-view", f"lambda torch, F, x: (lambda x: {expr})(x.permute(0, 3, 1, 2))",
              f32((2, 7, 8, 3), 43))

# norms
NORMS = {
    "layer_norm": ("F.layer_norm(x, (6,), w, b)", (4, 5, 6), (6,)),
    "layer_norm-2d": ("F.layer_norm(x, (5, 6), w, b, eps=1e-3)", (4, 5, 6), (5, 6)),
    "group_norm": ("F.group_norm(x, 2, w, b)", (3, 4, 5, 5), (4,)),
    "batch_norm-train": ("F.batch_norm(x, None, None, w, b, training=True)", (6, 4, 3, 3), (4,)),
    "batch_norm-1d-train": ("F.batch_norm(x, None, None, w, b, True, 0.1, 1e-3)", (8, 4), (4,)),
}
for name, (expr, xs, ws) in NORMS.items():
    suite.add(name, f"lambda torch, F, x, w, b: {expr}", f32(xs, 50), f32(ws, 51), f32(ws, 52), tol=(1e-4, 1e-5))
    suite.add(f"{name}-f64", f"lambda torch, F, x, w, b: {expr}", f64(xs, 53), f64(ws, 54), f64(ws, 55))
    suite.add(f"{name}-transposed", f"lambda torch, F, x, w, b: (lambda x: {expr})(x.transpose(0, 1).transpose(0, 1))",
              f32(xs, 56), f32(ws, 57), f32(ws, 58), tol=(1e-4, 1e-5))
suite.add("layer_norm-noaffine", "lambda torch, F, x: F.layer_norm(x, (6,))", f32((64, 64, 6), 59), tol=(1e-4, 1e-5))
suite.add("batch_norm-eval-running", "lambda torch, F, x, m, v, w, b: F.batch_norm(x, m, v, w, b, training=False)",
          f32((5, 4, 3), 60), T(floats((4,), 61, specials=False), "float32"), T(floats((4,), 62, specials=False) ** 2 + 0.1, "float32"),
          f32((4,), 63), f32((4,), 64), tol=(1e-4, 1e-5))
suite.add("batch_norm-train-running-update",
          "def f(torch, F, x, m, v):\n    m, v = m.clone(), v.clone()\n    y = F.batch_norm(x, m, v, training=True, momentum=0.3)\n    return y, m, v",
          f64((6, 3, 4), 65, grad=False), T(floats((3,), 66, specials=False)), T(floats((3,), 67, specials=False) ** 2 + 0.5))

# softmax-based losses and the rest
C = 5
WEIGHT = "torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5], dtype=x.dtype)"
LOSSES = {
    "cross_entropy": "F.cross_entropy(x, t)", "cross_entropy-sum": "F.cross_entropy(x, t, reduction='sum')",
    "cross_entropy-none": "F.cross_entropy(x, t, reduction='none')",
    "cross_entropy-ignore": "F.cross_entropy(x, t, ignore_index=1)",
    "cross_entropy-smooth": "F.cross_entropy(x, t, label_smoothing=0.2)",
    "nll_loss": "F.nll_loss(F.log_softmax(x, 1), t)", "nll_loss-none": "F.nll_loss(x, t, reduction='none', ignore_index=0)",
    "cross_entropy-weight": f"F.cross_entropy(x, t, weight={WEIGHT})",
    "cross_entropy-weight-sum-ignore": f"F.cross_entropy(x, t, {WEIGHT}, reduction='sum', ignore_index=2)",
    "cross_entropy-weight-smooth": f"F.cross_entropy(x, t, weight={WEIGHT}, label_smoothing=0.3)",
    "nll_loss-weight": f"F.nll_loss(x, t, weight={WEIGHT})",
    "nll_loss-weight-none-ignore": f"F.nll_loss(x, t, {WEIGHT}, ignore_index=0, reduction='none')",
}
for name, expr in LOSSES.items():
    suite.add(name, f"lambda torch, F, x, t: {expr}", f32((6, C), 70), T(ints((6,), 71, 0, C)), tol=(1e-5, 1e-6))
    suite.add(f"{name}-f64", f"lambda torch, F, x, t: {expr}", f64((6, C), 72), T(ints((6,), 73, 0, C)))
suite.add("cross_entropy-4d", "lambda torch, F, x, t: F.cross_entropy(x, t)", f64((2, C, 3, 3), 74), T(ints((2, 3, 3), 75, 0, C)))
suite.add("cross_entropy-probs", "lambda torch, F, x, p: F.cross_entropy(x, p.softmax(1))", f64((4, C), 76), f64((4, C), 77))
PAIR_LOSSES = {
    "mse_loss": "F.mse_loss(x, y)", "mse_loss-sum": "F.mse_loss(x, y, reduction='sum')", "l1_loss": "F.l1_loss(x, y)",
    "l1_loss-none": "F.l1_loss(x, y, reduction='none')", "smooth_l1_loss": "F.smooth_l1_loss(x, y)",
    "smooth_l1_loss-beta": "F.smooth_l1_loss(x, y, beta=0.5)",
    "bce_with_logits": "F.binary_cross_entropy_with_logits(x, y.sigmoid())",
    "bce_with_logits-posw": "F.binary_cross_entropy_with_logits(x, y.sigmoid(), pos_weight=torch.ones(4) * 2)",
    "bce_with_logits-weight": "F.binary_cross_entropy_with_logits(x, y.sigmoid(), weight=y[0].abs().detach(), reduction='sum')",
    "huber_loss": "F.huber_loss(x, y)", "huber_loss-delta": "F.huber_loss(x, y * 0.3, delta=0.5)",
    "huber_loss-none": "F.huber_loss(x, y, reduction='none', delta=2.0)", "huber_loss-sum": "F.huber_loss(x, y, reduction='sum')",
    "kl_div": "F.kl_div(F.log_softmax(x, 1), F.softmax(y, 1))",
    "kl_div-batchmean": "F.kl_div(F.log_softmax(x, 1), F.softmax(y, 1), reduction='batchmean')",
    "kl_div-none": "F.kl_div(x, y.abs(), reduction='none')", "kl_div-sum-zero-target": "F.kl_div(x, y.relu(), reduction='sum')",
    "kl_div-log_target": "F.kl_div(F.log_softmax(x, 1), F.log_softmax(y, 1), reduction='batchmean', log_target=True)",
    "binary_cross_entropy": "F.binary_cross_entropy(x.sigmoid(), y.sigmoid())",
    "binary_cross_entropy-weight": "F.binary_cross_entropy(x.sigmoid(), y.sigmoid(), weight=y[1].abs().detach())",
    "binary_cross_entropy-none": "F.binary_cross_entropy(x.sigmoid(), (y > 0).to(x.dtype), reduction='none')",
    "binary_cross_entropy-sum-saturated": "F.binary_cross_entropy((x * 100).sigmoid(), y.sigmoid(), reduction='sum')",
}
for name, expr in PAIR_LOSSES.items():
    suite.add(name, f"lambda torch, F, x, y: {expr}", f32((3, 4), 80), f32((3, 4), 81), tol=(1e-5, 1e-6))
    suite.add(f"{name}-f64", f"lambda torch, F, x, y: {expr}", f64((3, 4), 82), f64((3, 4), 83))
suite.add("dropout-eval", "lambda torch, F, x: F.dropout(x, 0.5, training=False)", f32((4, 5), 84))
suite.add("dropout-p0", "lambda torch, F, x: F.dropout(x, 0.0)", f32((4, 5), 85))

# the convolutions added this round: conv3d, conv_transpose1d/3d, padding='same'|'valid'
CONV_NEW = {
    "conv3d": ("F.conv3d(x, w, b, padding=1)", (1, 3, 4, 5, 4), (2, 3, 2, 3, 2), (2,)),
    "conv3d-stride-groups": ("F.conv3d(x, w, None, stride=(2, 1, 2), groups=2, dilation=(1, 2, 1))", (2, 4, 5, 6, 5),
                             (4, 2, 3, 2, 2), None),
    "conv_transpose1d": ("F.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1)", (2, 3, 6), (3, 2, 3), (2,)),
    "conv_transpose1d-groups-dil": ("F.conv_transpose1d(x, w, None, groups=3, dilation=2)", (1, 6, 5), (6, 2, 3), None),
    "conv_transpose3d": ("F.conv_transpose3d(x, w, b, stride=2, padding=(0, 1, 1))", (1, 2, 3, 3, 4), (2, 3, 2, 3, 3), (3,)),
    "conv1d-same-even": ("F.conv1d(x, w, b, padding='same')", (2, 3, 9), (4, 3, 4), (4,)),
    "conv1d-same-dil": ("F.conv1d(x, w, b, padding='same', dilation=3)", (2, 3, 11), (4, 3, 3), (4,)),
    "conv2d-same": ("F.conv2d(x, w, b, padding='same')", (1, 3, 5, 6), (2, 3, 3, 2), (2,)),
    "conv2d-valid": ("F.conv2d(x, w, b, padding='valid')", (1, 3, 5, 6), (2, 3, 3, 2), (2,)),
    "conv3d-same": ("F.conv3d(x, w, b, padding='same')", (1, 2, 4, 4, 3), (2, 2, 3, 2, 2), (2,)),
}
for name, (expr, xs, ws, bs) in CONV_NEW.items():
    params = "x, w, b" if bs else "x, w"
    suite.add(name, f"lambda torch, F, {params}: {expr}", *[f32(xs, 100), f32(ws, 101)] + ([f32(bs, 102)] if bs else []),
              tol=(2e-4, 2e-4))
    suite.add(f"{name}-f64", f"lambda torch, F, {params}: {expr}", *[f64(xs, 103), f64(ws, 104)] + ([f64(bs, 105)] if bs else []))
suite.add("conv2d-same-strided-refused", "lambda torch, F, x, w: F.conv2d(x, w, padding='same', stride=2)", f64((1, 3, 5, 5), 106),
          f64((2, 3, 3, 3), 107), error_says="same")

# the pools added this round (NaN is the max, as in max_pool2d), with indices
POOL_NEW = {
    "max_pool1d": ("F.max_pool1d(x, 2)", 3), "max_pool1d-stride-pad": ("F.max_pool1d(x, 3, 2, 1)", 3),
    "max_pool1d-ceil-dil": ("F.max_pool1d(x, 2, stride=2, dilation=2, ceil_mode=True)", 3),
    "max_pool1d-indices": ("F.max_pool1d(x, 3, 2, 1, return_indices=True)", 3),
    "avg_pool1d": ("F.avg_pool1d(x, 3, 2, 1)", 3), "avg_pool1d-nopad-count": ("F.avg_pool1d(x, 3, 2, 1, count_include_pad=False)", 3),
    "avg_pool1d-ceil": ("F.avg_pool1d(x, 2, ceil_mode=True)", 3),
    "max_pool2d-indices": ("F.max_pool2d(x, 2, return_indices=True)", 4),
    "max_pool2d-indices-stride-pad": ("F.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)", 4),
    "adaptive_max_pool2d": ("F.adaptive_max_pool2d(x, (2, 3))", 4), "adaptive_max_pool2d-1": ("F.adaptive_max_pool2d(x, 1)", 4),
    "adaptive_max_pool2d-indices": ("F.adaptive_max_pool2d(x, (3, 5), return_indices=True)", 4),
    "adaptive_max_pool2d-none": ("F.adaptive_max_pool2d(x, (None, 2))", 4),
}
for name, (expr, rank) in POOL_NEW.items():
    for tag, shape in (("small", (2, 3, 7, 8)), ("large", (4, 16, 32, 32))):
        shape = shape[:2] + (shape[2] * shape[3],) if rank == 3 else shape
        suite.add(f"{name}-{tag}", f"lambda torch, F, x: {expr}", f32(shape, 110))
        suite.add(f"{name}-{tag}-nan", f"lambda torch, F, x: {expr}", f32(shape, 111, specials=True))
    shape = (2, 3, 11) if rank == 3 else (2, 3, 7, 8)
    suite.add(f"{name}-f64-nan", f"lambda torch, F, x: {expr}", T(floats(shape, 112, "float64"), "float64", grad=True))
    suite.add(f"{name}-strided", f"lambda torch, F, x: (lambda x: {expr})(x.transpose(1, -1).transpose(1, -1)[..., ::2])",
              f64(shape[:-1] + (2 * shape[-1],), 113))
suite.add("max_pool1d_with_indices", "lambda torch, F, x: torch.max_pool1d_with_indices(x, 3, 2, 1)",
          T(floats((2, 3, 11), 115, "float64"), "float64", grad=True))
suite.add("max_pool2d-indices-ties", "lambda torch, F, x: F.max_pool2d(x, 2, 1, return_indices=True)",
          T(np.array([[[[1.0, 1.0, 0.0], [1.0, 1.0, 2.0], [2.0, 2.0, 2.0]]]]), "float64", grad=True))

# instance_norm / normalize
suite.add("instance_norm", "lambda torch, F, x: F.instance_norm(x)", f64((2, 3, 4, 5), 120))
suite.add("instance_norm-affine", "lambda torch, F, x, w, b: F.instance_norm(x, weight=w, bias=b, eps=1e-3)",
          f64((2, 3, 7), 121), f64((3,), 122), f64((3,), 123))
suite.add("instance_norm-f32-large", "lambda torch, F, x, w, b: F.instance_norm(x, None, None, w, b)", f32((4, 8, 16, 16), 124),
          f32((8,), 125), f32((8,), 126), tol=(1e-4, 1e-5))
suite.add("instance_norm-running",
          "def f(torch, F, x, m, v):\n    m, v = m.clone(), v.clone()\n    y = F.instance_norm(x, m, v, momentum=0.3)\n"
          "    return y, m, v", f64((3, 4, 5), 127, grad=False), T(floats((4,), 128, specials=False)),
          T(floats((4,), 129, specials=False) ** 2 + 0.5))
suite.add("instance_norm-eval-stats", "lambda torch, F, x, m, v: F.instance_norm(x, m, v, use_input_stats=False)",
          f64((3, 4, 5), 130), T(floats((4,), 131, specials=False)), T(floats((4,), 132, specials=False) ** 2 + 0.5))
NORMALIZE = {"default": "F.normalize(x)", "p1-d0": "F.normalize(x, p=1.0, dim=0)", "pinf": "F.normalize(x, float('inf'), -1)",
             "eps-zero-row": "F.normalize(x * (x > 2.5), dim=1, eps=1e-3)", "p3-3d": "F.normalize(x.reshape(2, 2, 5), 3, 2)"}
for name, expr in NORMALIZE.items():
    suite.add(f"normalize-{name}", f"lambda torch, F, x: {expr}", f64((4, 5), 133))
    suite.add(f"normalize-{name}-f32", f"lambda torch, F, x: {expr}", f32((4, 5), 134), tol=(1e-5, 1e-6))

# F.pad in every mode, 1-3 padded dims, negative (cropping) pads, with gradients
PADS = {
    "constant": ("F.pad(x, (1, 2, 0, 1), value=0.5)", (2, 3, 4, 5)), "constant-int": ("F.pad(x, [2, 0], 'constant', 3)", (2, 3, 4)),
    "constant-crop": ("F.pad(x, (-1, 2, 1, -2))", (2, 3, 4, 5)),
    "constant-3d": ("F.pad(x, (1, 1, 2, 0, 0, 1))", (1, 2, 3, 4, 2)), "zeros-all-dims": ("F.pad(x, (1, 1, 1, 1, 1, 1))", (2, 3, 4)),
    "reflect-1d": ("F.pad(x, (2, 3), mode='reflect')", (2, 3, 5)), "reflect-2d": ("F.pad(x, (2, 1, 1, 2), mode='reflect')", (2, 3, 4, 5)),
    "reflect-3d": ("F.pad(x, (1, 1, 2, 0, 1, 2), 'reflect')", (1, 2, 3, 4, 3)),
    "replicate-1d": ("F.pad(x, (3, 1), mode='replicate')", (2, 3, 4)),
    "replicate-2d": ("F.pad(x, (2, 1, 1, 4), mode='replicate')", (2, 3, 4, 5)),
    "replicate-3d": ("F.pad(x, (1, 0, 2, 1, 0, 3), 'replicate')", (1, 2, 3, 4, 3)),
    "circular-1d": ("F.pad(x, (2, 3), mode='circular')", (2, 3, 5)),
    "circular-2d": ("F.pad(x, (2, 1, 1, 2), mode='circular')", (2, 3, 4, 5)),
    "circular-3d": ("F.pad(x, (1, 1, 2, 0, 1, 2), 'circular')", (1, 2, 3, 4, 3)),
    "circular-crop": ("F.pad(x, (-1, 2), mode='circular')", (2, 3, 5)),
    "reflect-too-large": ("F.pad(x, (5, 0), mode='reflect')", (2, 3, 5)),
}
for name, (expr, shape) in PADS.items():
    raises = name.endswith("too-large")
    suite.add(f"pad-{name}", f"lambda torch, F, x: {expr}", f64(shape, 140), must_raise=raises,
              error_says="pad" if raises else None)
    suite.add(f"pad-{name}-strided", f"lambda torch, F, x: (lambda x: {expr})(x.transpose(0, -1).transpose(0, -1))",
              f32(shape, 141), must_raise=raises)
suite.add("pad-int", "lambda torch, F, x: (F.pad(x, (1, 2), value=7), F.pad(x, (-1, 1, 0, 2)))",
          T(ints((2, 3, 4), 142)))
suite.add("pad-f32-at", "lambda torch, F, x: F.pad(x, (1, 1, 1, 1), mode='reflect')", T(floats((1, 4, 32, 32), 143), "float32", grad=True),
          signed_zero=True)

# inplace=True: the input is overwritten and returned; gradients flow through the copy
INPLACE = {"relu": "F.relu(y, inplace=True)", "leaky_relu": "F.leaky_relu(y, 0.3, inplace=True)",
           "elu": "F.elu(y, 0.5, inplace=True)", "silu": "F.silu(y, inplace=True)", "hardtanh": "F.hardtanh(y, -0.5, 0.5, True)",
           "relu6": "F.relu6(y, inplace=True)", "hardswish": "F.hardswish(y, inplace=True)",
           "hardsigmoid": "F.hardsigmoid(y, inplace=True)", "mish": "F.mish(y, inplace=True)", "selu": "F.selu(y, inplace=True)",
           "dropout-eval": "F.dropout(y, 0.4, False, True)"}
for name, expr in INPLACE.items():
    # the result is the input's memory (a new Python object in doppel: `z is y` does not hold)
    suite.add(f"inplace-{name}", f"def f(torch, F, x):\n    y = x * 2.0\n    z = {expr}\n    return z, y, z.data_ptr() == y.data_ptr()",
              f64((4, 5), 150))


@pytest.mark.parametrize("case", suite.params())
def test_nn_ops(case, oracle):
    check(suite, oracle, case)
