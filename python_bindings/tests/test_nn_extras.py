# Issue 12's nn additions from Python: losses (class weights, huber, kl_div, binary_cross_entropy)
# compiled vs eager and exported, F.pad / normalize / instance_norm, conv3d, conv_transpose1d,
# padding='same', padding modules, inplace=, Adagrad and optimizer.param_groups. Oracles: numpy
# float64 loops and PyTorch 1.13 numbers (the script that printed them is quoted with the test).
import numpy as np
import pytest

import doppel
from doppel import nn
from doppel.nn import functional as F


def arr(t):
    return np.asarray(t.detach())


def t64(v):
    return doppel.tensor(np.asarray(v, dtype=np.float64))


LOSSES = {
    "cross_entropy weight": lambda x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.1),
    "nll_loss weight": lambda x, t, w: F.nll_loss(F.log_softmax(x, 1), t, weight=w, reduction="sum"),
    "huber": lambda x, t, w: F.huber_loss(x[:, :3], F.softmax(x, 1)[:, :3], delta=0.5),
    "kl_div batchmean": lambda x, t, w: F.kl_div(F.log_softmax(x, 1), F.softmax(x * 0.5, 1), reduction="batchmean"),
    "bce": lambda x, t, w: F.binary_cross_entropy(F.sigmoid(x), F.softmax(x, 1), weight=w),
    "bce_with_logits weight": lambda x, t, w: F.binary_cross_entropy_with_logits(x, F.softmax(x, 1), weight=w,
                                                                                  pos_weight=w),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_compiled_loss_equals_eager_with_gradient(name):
    fn = LOSSES[name]
    rng = np.random.default_rng(3)
    w = doppel.tensor(rng.uniform(0.2, 2.0, 4).astype(np.float32))

    def step(x, t):
        loss = fn(x, t, w)
        (g,) = doppel.autograd.grad([loss], [x])
        return loss, g

    f = doppel.compile(step)
    for seed in (0, 1, 2):
        r = np.random.default_rng(seed)
        x = doppel.tensor(r.normal(size=(5, 4)).astype(np.float32)).requires_grad_()
        t = doppel.tensor(r.integers(0, 4, 5))
        want_loss, want_g = step(x, t)
        got_loss, got_g = f(x, t)
        np.testing.assert_allclose(arr(got_loss), arr(want_loss), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(arr(got_g), arr(want_g), rtol=1e-5, atol=1e-6)


class PadNorm(nn.Module):
    def forward(self, x):
        y = F.pad(x, (1, 2, 2, 0), mode="reflect")
        y = F.instance_norm(y) + F.normalize(y, p=2.0, dim=1)
        return F.pad(y, (1, -1), value=0.5)


def test_pad_normalize_instance_norm_export_to_dpl(tmp_path):
    m = PadNorm()
    x = doppel.tensor(np.random.default_rng(4).normal(size=(2, 3, 4, 5)).astype(np.float32))
    path = tmp_path / "padnorm.dpl"
    doppel.export(m, [x], path)
    (y,) = doppel.runtime.load(path).run(x)
    with doppel.no_grad():
        np.testing.assert_allclose(np.asarray(y), arr(m(x)), rtol=1e-5, atol=1e-6)


def np_conv(x, w, stride, pads, dilation):
    """Cross-correlation in float64 of x [N, C, *S] with w [O, C, *K]; pads: (left, right) per dim."""
    n = x.ndim - 2
    x = np.pad(x, [(0, 0), (0, 0)] + list(pads))
    k = w.shape[2:]
    out_sz = [(x.shape[2 + i] - dilation[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(n)]
    out = np.zeros((x.shape[0], w.shape[0], *out_sz))
    for pos in np.ndindex(*out_sz):
        for kpos in np.ndindex(*k):
            src = tuple(pos[i] * stride[i] + kpos[i] * dilation[i] for i in range(n))
            out[(slice(None), slice(None)) + pos] += np.einsum("nc,oc->no", x[(slice(None), slice(None)) + src],
                                                               w[(slice(None), slice(None)) + kpos])
    return out


def test_conv3d_and_padding_same_against_numpy():
    r = np.random.default_rng(5)
    x = r.normal(size=(2, 2, 4, 5, 3))
    w = r.normal(size=(3, 2, 2, 3, 2))
    got = F.conv3d(t64(x), t64(w), stride=(1, 2, 1), padding=1)
    np.testing.assert_allclose(arr(got), np_conv(x, w, (1, 2, 1), [(1, 1)] * 3, (1, 1, 1)), rtol=1e-10)
    # 'same' with even kernels pads the odd one at the end, as PyTorch; dilation 2 pads symmetrically.
    same = F.conv3d(t64(x), t64(w), padding="same")
    assert same.shape == (2, 3, 4, 5, 3)
    np.testing.assert_allclose(arr(same), np_conv(x, w, (1, 1, 1), [(0, 1), (1, 1), (0, 1)], (1, 1, 1)), rtol=1e-10)
    x2, w2 = r.normal(size=(1, 2, 6, 5)), r.normal(size=(2, 2, 4, 3))
    same2 = F.conv2d(t64(x2), t64(w2), padding="same", dilation=(1, 2))
    np.testing.assert_allclose(arr(same2), np_conv(x2, w2, (1, 1), [(1, 2), (2, 2)], (1, 2)), rtol=1e-10)
    valid = F.conv1d(t64(x2[:, :, :, 0]), t64(w2[:, :, :, 0]), padding="valid")
    np.testing.assert_allclose(arr(valid), np_conv(x2[:, :, :, 0], w2[:, :, :, 0], (1,), [(0, 0)], (1,)), rtol=1e-10)
    with pytest.raises(ValueError, match="strided"):
        F.conv2d(t64(x2), t64(w2), padding="same", stride=2)
    with pytest.raises(ValueError, match="padding string"):
        F.conv1d(t64(x2[:, :, :, 0]), t64(w2[:, :, :, 0]), padding="full")


def test_conv_transpose1d_against_numpy():
    r = np.random.default_rng(6)
    x, w, b = r.normal(size=(2, 3, 5)), r.normal(size=(3, 2, 3)), r.normal(size=2)
    stride, pad, out_pad = 2, 1, 1
    # The definition: every input position scatters w into the output.
    full = np.zeros((2, 2, (5 - 1) * stride + 3 + out_pad))
    for i in range(5):
        full[:, :, i * stride:i * stride + 3] += np.einsum("nc,cok->nok", x[:, :, i], w)
    want = full[:, :, pad:full.shape[2] - pad] + b[None, :, None]
    got = F.conv_transpose1d(t64(x), t64(w), t64(b), stride=stride, padding=pad, output_padding=out_pad)
    np.testing.assert_allclose(arr(got), want, rtol=1e-10)
    m = nn.ConvTranspose1d(3, 2, 3, stride=2, padding=1, output_padding=1)
    assert m(doppel.randn(2, 3, 5)).shape == (2, 2, 10)
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]


def test_conv_modules_padding_modes_equal_pad_then_conv():
    doppel.manual_seed(7)
    x = doppel.randn(1, 2, 5, 6)
    for mode in ("zeros", "reflect", "replicate", "circular"):
        m = nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode)
        pad_mode = "constant" if mode == "zeros" else mode
        want = F.conv2d(F.pad(x, (1, 1, 1, 1), mode=pad_mode), m.weight, m.bias)
        np.testing.assert_allclose(arr(m(x)), arr(want), rtol=1e-5, atol=1e-6)
    same = nn.Conv1d(2, 2, 4, padding="same")
    x1 = doppel.randn(1, 2, 7)
    np.testing.assert_allclose(arr(same(x1)), arr(F.conv1d(x1, same.weight, same.bias, padding="same")), rtol=1e-6)
    m3 = nn.Conv3d(2, 4, (2, 3, 3), padding="same", padding_mode="replicate")
    x3 = doppel.randn(1, 2, 3, 4, 5)
    want3 = F.conv3d(F.pad(x3, (1, 1, 1, 1, 0, 1), mode="replicate"), m3.weight, m3.bias)
    np.testing.assert_allclose(arr(m3(x3)), arr(want3), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        nn.Conv2d(2, 3, 3, padding_mode="mirror")


def test_pad_modules_and_functional_against_numpy():
    x = np.arange(24, dtype=np.float64).reshape(1, 2, 3, 4)
    cases = [(nn.ZeroPad2d(1), np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])),
             (nn.ConstantPad1d((2, 0), 3.5), np.pad(x, [(0, 0)] * 3 + [(2, 0)], constant_values=3.5)),
             (nn.ReflectionPad2d((1, 2, 2, 1)), np.pad(x, [(0, 0), (0, 0), (2, 1), (1, 2)], mode="reflect")),
             (nn.ReplicationPad2d(2), np.pad(x, [(0, 0), (0, 0), (2, 2), (2, 2)], mode="edge")),
             (nn.ReflectionPad1d(3), np.pad(x[0], [(0, 0), (0, 0), (3, 3)], mode="reflect"))]
    for m, want in cases:
        src = x[0] if want.ndim == 3 else x
        np.testing.assert_array_equal(arr(m(t64(src))), want)
    np.testing.assert_array_equal(arr(F.pad(t64(x[0]), (1, 1), mode="circular")),
                                  np.pad(x[0], [(0, 0)] * 2 + [(1, 1)], mode="wrap"))
    with pytest.raises(doppel.ShapeError, match="circular"):  # 2 values need a 2-d or 3-d input, as PyTorch
        F.pad(t64(x), (1, 1), mode="circular")
    with pytest.raises(doppel.ShapeError, match="reflect"):
        F.pad(t64(x), (4, 0), mode="reflect")
    with pytest.raises(ValueError, match="mode"):
        F.pad(t64(x), (1, 1), mode="mirror")


def test_instance_norm_modules():
    r = np.random.default_rng(8)
    x = r.normal(size=(2, 3, 6)).astype(np.float32)
    m = nn.InstanceNorm1d(3)
    assert [n for n, _ in m.named_parameters()] == []
    mu, sd = x.mean(2, keepdims=True), x.var(2, keepdims=True)
    np.testing.assert_allclose(arr(m(doppel.tensor(x))), (x - mu) / np.sqrt(sd + 1e-5), rtol=1e-4, atol=1e-5)
    # Unbatched input, affine and running statistics (eval then uses them).
    t = nn.InstanceNorm1d(3, affine=True, track_running_stats=True)
    assert arr(t(doppel.tensor(x[0]))).shape == (3, 6)
    want_rm = 0.9 * 0 + 0.1 * x[0].mean(1)
    np.testing.assert_allclose(arr(t.running_mean), want_rm, rtol=1e-5, atol=1e-7)
    t.eval()
    rm, rv = want_rm[None, :, None], arr(t.running_var)[None, :, None]
    np.testing.assert_allclose(arr(t(doppel.tensor(x))), (x - rm) / np.sqrt(rv + 1e-5), rtol=1e-4, atol=1e-5)
    assert nn.InstanceNorm2d(3)(doppel.randn(2, 3, 4, 4)).shape == (2, 3, 4, 4)


@pytest.mark.parametrize("name,make", [("relu", lambda x: F.relu(x, inplace=True)),
                                       ("leaky_relu", lambda x: F.leaky_relu(x, 0.2, inplace=True)),
                                       ("elu", lambda x: F.elu(x, inplace=True)),
                                       ("ReLU", lambda x: nn.ReLU(inplace=True)(x)),
                                       ("LeakyReLU", lambda x: nn.LeakyReLU(0.2, inplace=True)(x))])
def test_inplace_writes_into_the_input_and_keeps_the_gradient(name, make):
    v = np.array([-1.5, -0.2, 0.0, 0.7, 2.0])
    a = t64(v).requires_grad_()
    h = a * 2.0  # a non-leaf, as in-place needs
    out = make(h)
    assert h.data_ptr() == out.data_ptr()
    ref_fn = {"relu": lambda z: np.maximum(z, 0), "ReLU": lambda z: np.maximum(z, 0),
              "leaky_relu": lambda z: np.where(z > 0, z, 0.2 * z), "LeakyReLU": lambda z: np.where(z > 0, z, 0.2 * z),
              "elu": lambda z: np.where(z > 0, z, np.expm1(z))}[name]
    np.testing.assert_allclose(arr(h), ref_fn(2 * v), rtol=1e-12)
    out.sum().backward()
    d = {"relu": lambda z: (z > 0) * 1.0, "ReLU": lambda z: (z > 0) * 1.0,
         "leaky_relu": lambda z: np.where(z > 0, 1.0, 0.2), "LeakyReLU": lambda z: np.where(z > 0, 1.0, 0.2),
         "elu": lambda z: np.where(z > 0, 1.0, np.exp(z))}[name]
    np.testing.assert_allclose(arr(a.grad), 2 * d(2 * v), rtol=1e-12)


def test_dropout_inplace():
    x = doppel.ones(1000)
    out = F.dropout(x, 0.5, training=True, inplace=True)
    assert out.data_ptr() == x.data_ptr()
    vals = set(np.unique(arr(x)).tolist())
    assert vals == {0.0, 2.0}
    y = doppel.ones(10)
    assert F.dropout(y, 0.5, training=False, inplace=True).data_ptr() == y.data_ptr()
    m = nn.Dropout(0.5, inplace=True)
    z = doppel.ones(1000)
    m(z)
    assert set(np.unique(arr(z)).tolist()) == {0.0, 2.0}
    assert not F.relu(-doppel.ones(3)).data_ptr() == 0  # the default is out of place
    w = -doppel.ones(3)
    F.relu(w)
    assert arr(w).tolist() == [-1.0, -1.0, -1.0]


def test_loss_modules_with_weights():
    x = doppel.tensor(np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]], dtype=np.float32))
    t = doppel.tensor(np.array([2, 0]))
    w = doppel.tensor(np.array([0.5, 2.0, 1.0], dtype=np.float32))
    np.testing.assert_allclose(arr(nn.CrossEntropyLoss(weight=w)(x, t)), arr(F.cross_entropy(x, t, weight=w)))
    assert "weight" in dict(nn.CrossEntropyLoss(weight=w).named_buffers())
    np.testing.assert_allclose(arr(nn.NLLLoss(weight=w, reduction="sum")(x, t)),
                               arr(F.nll_loss(x, t, weight=w, reduction="sum")))
    p = F.sigmoid(x)
    np.testing.assert_allclose(arr(nn.BCELoss(weight=w)(p, F.softmax(x, 1))),
                               arr(F.binary_cross_entropy(p, F.softmax(x, 1), weight=w)))
    np.testing.assert_allclose(arr(nn.HuberLoss(delta=0.3)(x, x * 0.5)), arr(F.huber_loss(x, x * 0.5, delta=0.3)))
    np.testing.assert_allclose(arr(nn.KLDivLoss(reduction="batchmean", log_target=True)(x, x * 0.5)),
                               arr(F.kl_div(x, x * 0.5, reduction="batchmean", log_target=True)))
    np.testing.assert_allclose(arr(nn.BCEWithLogitsLoss(weight=w)(x, p)),
                               arr(F.binary_cross_entropy_with_logits(x, p, weight=w)))
    with pytest.raises(ValueError, match="batchmean"):
        F.mse_loss(x, x, reduction="batchmean")


# p = torch.tensor([1.,-2.,.5], float64, requires_grad=True); loss = (p**3).sum() + (p*[1,2,3]).sum()
# opt = torch.optim.Adagrad([p], lr=0.1, lr_decay=0.01); after two steps set param_groups[0]['lr'] = 0.05
# and run two more; print(p) gave ADAGRAD_LR_CHANGE.
ADAGRAD_LR_CHANGE = [0.789495529608037, -2.2289728975896774, 0.2829206380861093]


def test_adagrad_param_groups_write_through():
    p = t64([1.0, -2.0, 0.5]).requires_grad_()
    opt = doppel.optim.Adagrad([p], lr=0.1, lr_decay=0.01)
    c = t64([1.0, 2.0, 3.0])
    for i in range(4):
        if i == 2:
            for g in opt.param_groups:
                g["lr"] = 0.05
        opt.zero_grad()
        ((p ** 3).sum() + (p * c).sum()).backward()
        opt.step()
    np.testing.assert_allclose(arr(p), ADAGRAD_LR_CHANGE, rtol=1e-13)
    g = opt.param_groups[0]
    assert g["lr"] == 0.05 and g["lr_decay"] == 0.01 and g["eps"] == 1e-10 and g["maximize"] is False
    assert g["params"][0].data_ptr() == p.data_ptr()
    sd = opt.state_dict()
    assert "state.0.sum" in sd and "state.0.step" in sd and "param_groups.0.initial_accumulator_value" in sd


def test_param_groups_schedulers_and_add_param_group():
    a = doppel.zeros(2).requires_grad_()
    b = doppel.zeros(3).requires_grad_()
    opt = doppel.optim.Adam([a], lr=0.1, betas=(0.8, 0.9))
    sched = doppel.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.05  # the scheduler's write is visible
    assert opt.param_groups[0]["betas"] == (0.8, 0.9)
    opt.param_groups[0]["betas"] = (0.5, 0.6)
    assert opt.param_groups[0]["betas"] == (0.5, 0.6)
    opt.add_param_group({"params": [b], "lr": 0.3})
    assert len(opt.param_groups) == 2
    g1 = opt.param_groups[1]
    assert g1["lr"] == 0.3 and g1["betas"] == (0.8, 0.9)  # the constructor's options fill the rest
    with pytest.raises(ValueError):
        opt.param_groups[0]["lr"] = -1.0
    assert opt.param_groups[0]["lr"] == 0.05
    with pytest.raises(ValueError):
        opt.param_groups[0]["params"] = [b]
    with pytest.raises(ValueError, match="no option"):
        opt.param_groups[0]["momentum"] = 0.9


def test_large_float32_inputs_match_float64_formulas():
    """8192 float32 elements: past the size where contiguous float32 elementwise ops take the
    oneDNN path (the small cases above run the reference kernels)."""
    r = np.random.default_rng(9)
    x = r.normal(size=(64, 128))
    y = r.normal(size=(64, 128))
    p = 1 / (1 + np.exp(-x))
    q = r.uniform(0.01, 1.0, size=(64, 128))
    f32 = lambda a: doppel.tensor(a.astype(np.float32))  # noqa: E731
    d = np.abs(x - y)
    np.testing.assert_allclose(arr(F.huber_loss(f32(x), f32(y), delta=0.7)),
                               np.where(d < 0.7, 0.5 * d * d, 0.7 * (d - 0.35)).mean(), rtol=1e-5)
    lx = x - np.log(np.exp(x).sum(1, keepdims=True))
    np.testing.assert_allclose(arr(F.kl_div(f32(lx), f32(q), reduction="batchmean")),
                               (q * (np.log(q) - lx)).sum() / 64, rtol=1e-4)
    np.testing.assert_allclose(arr(F.binary_cross_entropy(f32(p), f32(q), reduction="sum")),
                               -(q * np.log(p) + (1 - q) * np.log(1 - p)).sum(), rtol=1e-4)
    np.testing.assert_allclose(arr(F.normalize(f32(x), dim=1)), x / np.linalg.norm(x, axis=1, keepdims=True),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arr(F.pad(f32(x)[None], (3, 2), mode="reflect"))[0],
                               np.pad(x, [(0, 0), (3, 2)], mode="reflect").astype(np.float32))


class Losses(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("w", doppel.tensor(np.array([0.5, 2.0, 1.0, 3.0], dtype=np.float32)))

    def forward(self, x, t):
        p = F.softmax(x, 1)
        return (F.cross_entropy(x, t, weight=self.w, label_smoothing=0.1) + F.nll_loss(F.log_softmax(x, 1), t, self.w)
                + F.huber_loss(x, p, delta=0.5) + F.kl_div(F.log_softmax(x, 1), p * 0.5 + 0.125, reduction="batchmean")
                + F.binary_cross_entropy(F.sigmoid(x), p, weight=self.w)
                + F.binary_cross_entropy_with_logits(x, p, weight=self.w, pos_weight=self.w))


def test_losses_export_to_dpl(tmp_path):
    m = Losses()
    r = np.random.default_rng(10)
    x = doppel.tensor(r.normal(size=(5, 4)).astype(np.float32))
    t = doppel.tensor(r.integers(0, 4, 5))
    path = tmp_path / "losses.dpl"
    doppel.export(m, [x, t], path)
    model = doppel.runtime.load(path)
    x2 = doppel.tensor(r.normal(size=(5, 4)).astype(np.float32))
    t2 = doppel.tensor(r.integers(0, 4, 5))
    (y,) = model.run(x2, t2)
    with doppel.no_grad():
        np.testing.assert_allclose(np.asarray(y), arr(m(x2, t2)), rtol=1e-5)
