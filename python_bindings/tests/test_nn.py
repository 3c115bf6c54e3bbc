# nn from Python: a Python-defined Module (attribute registration, state dicts, modes), the C++
# layers checked against numpy, optimizers against hand-written numpy updates, schedulers, and
# DataLoader over a Python dataset.
import numpy as np
import pytest

import doppel
from doppel import nn
from doppel.utils.data import DataLoader, Dataset, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(8, 3)
        self.scale = nn.Parameter(doppel.ones(3))
        self.register_buffer("calls", doppel.zeros(1))
        self.register_buffer("scratch", doppel.zeros(2), persistent=False)
        self.note = "plain attribute"

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


def test_python_module_registers_by_attribute():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert [n for n, _ in net.named_buffers()] == ["calls", "scratch"]
    assert list(net.state_dict()) == ["scale", "calls"] + names[1:]  # PyTorch order: own entries first
    assert [n for n, _ in net.named_children()] == ["fc1", "act", "fc2"]
    assert net.note == "plain attribute" and net.fc1.in_features == 4
    assert net.fc1.weight.shape == (8, 4)
    # The wrapper's parameters are the C++ module's tensors (same storage as the optimizer sees).
    assert net.fc1.weight.data_ptr() == dict(net.named_parameters())["fc1.weight"].data_ptr()
    assert "(fc1): Linear(in_features=4, out_features=8" in repr(net)
    with pytest.raises(TypeError, match="Parameter or None"):
        net.scale = doppel.ones(3)
    net.train(False)
    assert not net.training and not net.fc1.training
    with pytest.raises(AttributeError):
        net.missing


def test_linear_and_conv_match_numpy():
    lin = nn.Linear(5, 3)
    x = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)
    w, b = np.asarray(lin.weight.detach()), np.asarray(lin.bias.detach())
    np.testing.assert_allclose(np.asarray(lin(doppel.tensor(x)).detach()), x @ w.T + b, rtol=1e-5, atol=1e-6)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    xi = np.random.default_rng(1).standard_normal((1, 2, 5, 5)).astype(np.float32)
    out = np.asarray(conv(doppel.tensor(xi)).detach())
    cw, cb = np.asarray(conv.weight.detach()), np.asarray(conv.bias.detach())
    pad = np.pad(xi, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros((1, 3, 5, 5), np.float32)
    for i in range(5):
        for j in range(5):
            ref[0, :, i, j] = np.tensordot(cw, pad[0, :, i:i + 3, j:j + 3], axes=([1, 2, 3], [0, 1, 2])) + cb
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    bn = nn.BatchNorm2d(3)
    y = bn(doppel.tensor(ref))
    assert abs(float(y.mean())) < 1e-5 and [n for n, _ in bn.named_buffers()][:2] == ["running_mean", "running_var"]
    assert nn.Sequential(nn.Flatten(), nn.Linear(75, 2))(doppel.tensor(ref)).shape == (1, 2)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    q = doppel.randn(2, 5, 8)
    out, weights = mha(q, q, q)
    assert out.shape == (2, 5, 8) and weights.shape == (2, 5, 5)
    assert nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)(q).shape == (2, 5, 8)
    # PyTorch's default is sequence first: [L, N, E] in, weights [N, L, S].
    out, weights = nn.MultiheadAttention(8, 2)(q, q, q)
    assert out.shape == (2, 5, 8) and weights.shape == (5, 2, 2)


def test_state_dict_round_trip_and_strictness():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    x = doppel.randn(3, 4)
    np.testing.assert_array_equal(np.asarray(a(x).detach()), np.asarray(b(x).detach()))
    with pytest.raises(ValueError, match="missing keys"):
        b.load_state_dict({"scale": doppel.ones(3)})
    sd = a.state_dict()
    sd["scale"] = doppel.ones(4)
    with pytest.raises(ValueError, match="shape"):
        b.load_state_dict(sd)
    net = Net().to(doppel.float64)
    assert net.fc1.weight.dtype == doppel.float64 and net.scale.dtype == doppel.float64


def test_module_to_device_dtype_and_tensor_like_torch():
    net = Net()
    x = doppel.randn(2, 4)
    before = np.asarray(net(x).detach())
    assert net.to(doppel.device("cpu")) is net
    net.to("cpu").cpu()
    np.testing.assert_array_equal(np.asarray(net(x).detach()), before)
    assert net.fc1.weight.requires_grad and net.fc1.weight.device == doppel.device("cpu")
    net.to(doppel.zeros(1, dtype=doppel.float64))  # the tensor's dtype and device
    assert net.fc2.weight.dtype == doppel.float64 and net.calls.dtype == doppel.float64
    net.to(device="cpu", dtype=doppel.float32)
    assert net.scale.dtype == doppel.float32
    if not doppel.cuda_is_available():
        with pytest.raises(doppel.DeviceError, match="no CUDA device"):
            net.cuda()


def test_sgd_and_adam_match_numpy_updates():
    w0 = np.array([1.0, -2.0, 3.0], np.float32)
    w = nn.Parameter(doppel.tensor(w0))
    opt = doppel.optim.SGD([w], lr=0.1, momentum=0.9)
    buf = np.zeros(3, np.float32)
    ref = w0.copy()
    for _ in range(3):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        buf = 0.9 * buf + 2 * ref
        ref = ref - 0.1 * buf
    np.testing.assert_allclose(np.asarray(w.detach()), ref, rtol=1e-5)
    p = nn.Parameter(doppel.tensor(w0))
    adam = doppel.optim.Adam([{"params": [p], "lr": 0.01}], betas=(0.8, 0.99))
    (p * p).sum().backward()
    adam.step()
    g = 2 * w0
    m, v = 0.2 * g, 0.01 * g * g
    expect = w0 - 0.01 * (m / 0.2) / (np.sqrt(v / 0.01) + 1e-8)
    np.testing.assert_allclose(np.asarray(p.detach()), expect, rtol=1e-5)
    with pytest.raises(TypeError, match="unexpected option 'momentun'"):
        doppel.optim.SGD([p], lr=0.1, momentun=0.9)
    with pytest.raises(ValueError):
        doppel.optim.SGD([p])  # lr is required


def _numpy_sgd(p, g, buf, lr, momentum, dampening, wd, nesterov, maximize):
    """PyTorch 1.13's single-tensor SGD for one parameter in float64; returns (p, buf)."""
    d = -g if maximize else g
    if wd:
        d = d + wd * p
    if momentum:
        buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
        d = d + momentum * buf if nesterov else buf
    return p - lr * d, buf


def _numpy_adam(p, g, st, lr, b1, b2, eps, wd, amsgrad, maximize, decoupled):
    """PyTorch's single-tensor Adam/AdamW for one parameter in float64; st = [t, m, v, vmax]."""
    g = -g if maximize else g
    if decoupled:
        p = p * (1 - lr * wd)
    elif wd:
        g = g + wd * p
    st[0] += 1
    st[1] = b1 * st[1] + (1 - b1) * g
    st[2] = b2 * st[2] + (1 - b2) * g * g
    st[3] = np.maximum(st[3], st[2])
    denom = np.sqrt(st[3] if amsgrad else st[2]) / np.sqrt(1 - b2 ** st[0]) + eps
    return p - lr / (1 - b1 ** st[0]) * st[1] / denom


@pytest.mark.parametrize("kind", ["sgd", "sgd_nesterov", "adam_amsgrad", "adamw"])
def test_fused_optimizers_match_unfused_and_numpy(kind):
    rng = np.random.default_rng(5)
    inits = [rng.standard_normal((3, 4)), rng.standard_normal(5), rng.standard_normal(())]
    opts = {
        "sgd": (doppel.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.01, maximize=True)),
        "sgd_nesterov": (doppel.optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
        "adam_amsgrad": (doppel.optim.Adam, dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True)),
        "adamw": (doppel.optim.AdamW, dict(lr=0.01, weight_decay=0.05, maximize=True)),
    }
    cls, kw = opts[kind]
    fused_params = [nn.Parameter(doppel.tensor(x, dtype=doppel.float64)) for x in inits]
    plain_params = [nn.Parameter(doppel.tensor(x, dtype=doppel.float64)) for x in inits]
    fused = cls(fused_params, fused=True, **kw)
    plain = cls(plain_params, **kw)
    ref = [x.copy() for x in inits]
    state = [None] * 3 if cls is doppel.optim.SGD else [[0, 0.0, 0.0, 0.0] for _ in inits]
    for t in range(20):
        # The middle parameter gets no gradient on every third step: skipped, as in PyTorch.
        for k in range(3):
            has = not (k == 1 and t % 3 == 2)
            g = np.sin(np.arange(inits[k].size, dtype=np.float64).reshape(inits[k].shape) + t + 3 * k)
            for ps in (fused_params, plain_params):
                ps[k].grad = doppel.tensor(g, dtype=doppel.float64) if has else None
            if not has:
                continue
            if cls is doppel.optim.SGD:
                ref[k], state[k] = _numpy_sgd(ref[k], g, state[k], kw["lr"], kw["momentum"], kw.get("dampening", 0),
                                              kw.get("weight_decay", 0), kw.get("nesterov", False),
                                              kw.get("maximize", False))
            else:
                b1, b2 = kw.get("betas", (0.9, 0.999))
                wd = kw.get("weight_decay", 0.01 if cls is doppel.optim.AdamW else 0)
                ref[k] = _numpy_adam(ref[k], g, state[k], kw["lr"], b1, b2, 1e-8, wd, kw.get("amsgrad", False),
                                     kw.get("maximize", False), cls is doppel.optim.AdamW)
        fused.step()
        plain.step()
        for k in range(3):
            np.testing.assert_array_equal(np.asarray(fused_params[k].detach()), np.asarray(plain_params[k].detach()))
            np.testing.assert_allclose(np.asarray(fused_params[k].detach()), ref[k], rtol=1e-12, atol=1e-14)
    # The state dict is the per-parameter one (no 'fused' entry), loadable by either kind.
    sd = fused.state_dict()
    assert not any(k.endswith(".fused") for k in sd)
    plain.load_state_dict(sd)
    with pytest.raises(doppel.DTypeError, match="one floating dtype"):
        cls([nn.Parameter(doppel.ones(2)), nn.Parameter(doppel.ones(2, dtype=doppel.float64))], fused=True, **kw)


def test_schedulers():
    p = nn.Parameter(doppel.ones(1))
    opt = doppel.optim.SGD([p], lr=1.0)
    sched = doppel.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        lrs.append(opt.lr)
        sched.step()
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25]
    cos = doppel.optim.lr_scheduler.CosineAnnealingLR(doppel.optim.SGD([p], lr=1.0), T_max=4)
    for _ in range(4):
        cos.step()
    assert cos.get_last_lr() == pytest.approx([0.0], abs=1e-12)
    # Values PyTorch 2.x gives for the same schedules.
    L = doppel.optim.lr_scheduler
    opt = doppel.optim.SGD([p], lr=1.0, momentum=0.9)
    seq = L.SequentialLR(opt, [L.LinearLR(opt, 0.5, 1.0, 2), L.StepLR(opt, 1, 0.5)], [2])
    lrs = []
    for _ in range(5):
        lrs.append(opt.lr)
        seq.step()
    assert lrs == pytest.approx([0.5, 0.75, 1.0, 0.5, 0.25])
    opt = doppel.optim.SGD([p], lr=1.0, momentum=0.9)
    one = L.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.lr)
        one.step()
    assert lrs[:3] == pytest.approx([0.04, 0.52, 1.0]) and lrs[-1] == pytest.approx(0.0, abs=1e-3)
    assert "param_groups.0.lr" in opt.state_dict()


class Squares(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        return doppel.tensor([float(i)]), i * i


def test_dataloader_over_python_dataset():
    loader = DataLoader(Squares(), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [b[0].shape for b in batches] == [(4, 1), (4, 1), (2, 1)]
    assert batches[0][1].tolist() == [0, 1, 4, 9] and batches[0][1].dtype == doppel.int64
    shuffled = DataLoader(Squares(), batch_size=10, shuffle=True, seed=1)
    e0, e1 = next(iter(shuffled))[1].tolist(), next(iter(shuffled))[1].tolist()
    assert sorted(e0) == sorted(i * i for i in range(10)) and e0 != e1
    td = TensorDataset(doppel.arange(6.0).reshape(3, 2), doppel.tensor([0, 1, 2]))
    x, y = next(iter(DataLoader(td, batch_size=3, drop_last=True)))
    assert x.shape == (3, 2) and y.tolist() == [0, 1, 2]


def test_training_a_python_module_reduces_the_loss():
    doppel.manual_seed(0)
    net = Net()
    opt = doppel.optim.Adam(net.parameters(), lr=0.05)
    x = doppel.randn(32, 4)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
