"""nn modules with the same weights (copied over by name), optimizer trajectories and LR schedules
against PyTorch, all from the same source. Modules: output and every parameter's gradient of
sum(y^2); MultiheadAttention/TransformerEncoderLayer with PyTorch's default layout (issue 12
item 7). Optimizers: 5 steps of a small nonconvex problem, the parameter after each step; parameter
groups. Schedulers: the learning rate over a standard loop (OneCycleLR: item 9)."""
import numpy as np
import pytest

from harness import Suite, T, check
from inputs import floats, ints

suite = Suite("modules_optim")

MODULE_SRC = """def f(torch, F, x, *values):
    m = {ctor}
    params = dict(m.named_parameters())
    assert sorted(params) == sorted({names!r}), sorted(params)
    with torch.no_grad():
        for name, v in zip({names!r}, values):
            params[name].copy_(v)
    m.{mode}()
    {xgrad}
    y = {call}
    ys = [t for t in (y if isinstance(y, tuple) else (y,)) if t is not None]
    sum((t.float() * t.float()).sum() for t in ys if t.dtype.is_floating_point).backward()
    return (*ys, *[params[n].grad for n in {names!r}], *([x.grad] if {xgrad_flag} else []){buffers})
"""


def module(cid, ctor, params, x, call="m(x)", mode="train", dtype="float64", buffers=None, tol=None):
    """params: [(name, shape)] in PyTorch's naming; x: the input Arg's array (float: also its grad)."""
    names = [n for n, _ in params]
    floating = np.asarray(x).dtype.kind == "f"
    src = MODULE_SRC.format(ctor=ctor, names=names, mode=mode, call=call,
                            xgrad="x = x.detach().requires_grad_(True)" if floating else "",
                            xgrad_flag=floating,
                            buffers="".join(f", dict(m.named_buffers())[{b!r}]" for b in (buffers or [])))
    values = [T(floats(s, 7 * k + len(cid), dtype, specials=False) * 0.5, dtype) for k, (_, s) in enumerate(params)]
    suite.add(cid, src, T(x, dtype if floating else None), *values, tol=tol)


def x64(shape, seed):
    return floats(shape, seed, "float64", specials=False)


LIN = [("weight", (3, 5)), ("bias", (3,))]
for dt in ("float64", "float32"):
    tol = None if dt == "float64" else (1e-4, 1e-5)
    module(f"Linear-{dt}", "torch.nn.Linear(5, 3, dtype=torch." + dt + ")", LIN, x64((4, 5), 1), dtype=dt, tol=tol)
module("Linear-nobias", "torch.nn.Linear(5, 3, bias=False).double()", LIN[:1], x64((2, 4, 5), 2))
module("Conv1d", "torch.nn.Conv1d(2, 3, 3, stride=2, padding=1).double()", [("weight", (3, 2, 3)), ("bias", (3,))], x64((2, 2, 9), 3))
module("Conv2d", "torch.nn.Conv2d(2, 4, 3, padding=1, groups=2).double()", [("weight", (4, 1, 3, 3)), ("bias", (4,))],
       x64((2, 2, 5, 6), 4))
module("ConvTranspose2d", "torch.nn.ConvTranspose2d(3, 2, 3, stride=2).double()", [("weight", (3, 2, 3, 3)), ("bias", (2,))],
       x64((1, 3, 4, 4), 5))
BN = [("weight", (3,)), ("bias", (3,))]
for mode in ("train", "eval"):
    module(f"BatchNorm1d-{mode}", "torch.nn.BatchNorm1d(3).double()", BN, x64((6, 3), 6), mode=mode,
           buffers=["running_mean", "running_var", "num_batches_tracked"])
    module(f"BatchNorm2d-{mode}", "torch.nn.BatchNorm2d(3, momentum=0.3, eps=1e-3).double()", BN, x64((4, 3, 2, 5), 7), mode=mode,
           buffers=["running_mean", "running_var"])
module("LayerNorm", "torch.nn.LayerNorm(6).double()", [("weight", (6,)), ("bias", (6,))], x64((3, 4, 6), 8))
module("LayerNorm-2d-eps", "torch.nn.LayerNorm((4, 6), eps=1e-3).double()", [("weight", (4, 6)), ("bias", (4, 6))], x64((3, 4, 6), 9))
module("GroupNorm", "torch.nn.GroupNorm(2, 4).double()", [("weight", (4,)), ("bias", (4,))], x64((3, 4, 3, 3), 10))
module("Embedding", "torch.nn.Embedding(7, 3).double()", [("weight", (7, 3))], ints((2, 5), 11, 0, 7))
module("Embedding-padding", "torch.nn.Embedding(7, 3, padding_idx=0).double()", [("weight", (7, 3))], ints((2, 5), 12, 0, 7))
for name, ctor in (("ReLU", "ReLU()"), ("GELU", "GELU()"), ("GELU-tanh", "GELU(approximate='tanh')"), ("SiLU", "SiLU()"),
                   ("Sigmoid", "Sigmoid()"), ("Tanh", "Tanh()"), ("LeakyReLU", "LeakyReLU(0.2)"), ("ELU", "ELU(0.5)"),
                   ("Softplus", "Softplus(beta=2.0)"), ("Softmax", "Softmax(dim=1)"), ("LogSoftmax", "LogSoftmax(1)"),
                   ("Identity", "Identity()"), ("Flatten", "Flatten()"), ("Dropout-eval", "Dropout(0.3)"),
                   ("MaxPool2d", "MaxPool2d(2)"), ("AvgPool2d", "AvgPool2d(2, stride=1)"),
                   ("AdaptiveAvgPool2d", "AdaptiveAvgPool2d((2, 1))")):
    shape = (2, 3, 4, 4) if "Pool" in name else (3, 5)
    module(f"{name}", f"torch.nn.{ctor}", [], x64(shape, 13), mode="eval" if "Dropout" in name else "train")
# the modules added this round
for name, ctor in (("Hardtanh", "Hardtanh(-0.5, 0.8)"), ("ReLU6", "ReLU6()"), ("Hardswish", "Hardswish()"),
                   ("Hardsigmoid", "Hardsigmoid()"), ("Mish", "Mish()"), ("SELU", "SELU()"), ("LogSigmoid", "LogSigmoid()"),
                   ("ReLU-inplace", "ReLU(inplace=True)"), ("LeakyReLU-inplace", "LeakyReLU(0.1, True)"),
                   ("ELU-inplace", "ELU(inplace=True)"), ("SiLU-inplace", "SiLU(inplace=True)"),
                   ("MaxPool1d", "MaxPool1d(3, 2, 1)"), ("MaxPool1d-indices", "MaxPool1d(2, return_indices=True)"),
                   ("AvgPool1d", "AvgPool1d(3, stride=2, padding=1, count_include_pad=False)"),
                   ("MaxPool2d-indices", "MaxPool2d(2, 1, return_indices=True)"),
                   ("AdaptiveMaxPool2d", "AdaptiveMaxPool2d((3, 2))"),
                   ("AdaptiveMaxPool2d-indices", "AdaptiveMaxPool2d(2, return_indices=True)"),
                   ("InstanceNorm1d", "InstanceNorm1d(3)"), ("InstanceNorm2d", "InstanceNorm2d(3)"),
                   ("ZeroPad2d", "ZeroPad2d((1, 0, 2, 1))"), ("ConstantPad1d", "ConstantPad1d(2, 0.5)"),
                   ("ConstantPad2d", "ConstantPad2d((1, 2, 0, 1), -1.0)"), ("ConstantPad3d", "ConstantPad3d(1, 2.0)"),
                   ("ReflectionPad1d", "ReflectionPad1d((2, 1))"), ("ReflectionPad2d", "ReflectionPad2d(1)"),
                   ("ReflectionPad3d", "ReflectionPad3d((1, 0, 1, 1, 0, 1))"),
                   ("ReplicationPad1d", "ReplicationPad1d(3)"), ("ReplicationPad2d", "ReplicationPad2d((0, 1, 2, 0))"),
                   ("ReplicationPad3d", "ReplicationPad3d(1)")):
    shape = (2, 3, 4, 4) if "2d" in name or "3d" in name else (2, 3, 6) if "1d" in name else (3, 5)
    module(name, f"torch.nn.{ctor}", [], x64(shape, 13), call="m(x * 1.0)" if "inplace" in name else "m(x)")
module("InstanceNorm2d-affine-stats", "torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True, momentum=0.2).double()",
       BN, x64((2, 3, 4, 5), 23), buffers=["running_mean", "running_var", "num_batches_tracked"])
module("InstanceNorm1d-affine-eval", "torch.nn.InstanceNorm1d(3, affine=True).double()", BN, x64((2, 3, 6), 24), mode="eval")
module("Conv3d", "torch.nn.Conv3d(2, 3, (2, 3, 2), stride=(1, 2, 1), padding=1).double()",
       [("weight", (3, 2, 2, 3, 2)), ("bias", (3,))], x64((1, 2, 4, 5, 3), 25))
module("ConvTranspose1d", "torch.nn.ConvTranspose1d(3, 4, 3, stride=2, padding=1, output_padding=1).double()",
       [("weight", (3, 4, 3)), ("bias", (4,))], x64((2, 3, 5), 26))
module("ConvTranspose3d", "torch.nn.ConvTranspose3d(2, 3, 2, stride=2, bias=False).double()", [("weight", (2, 3, 2, 2, 2))],
       x64((1, 2, 2, 3, 2), 27))
for mode in ("zeros", "reflect", "replicate", "circular"):
    module(f"Conv2d-same-{mode}", f"torch.nn.Conv2d(2, 3, (3, 4), padding='same', padding_mode='{mode}').double()",
           [("weight", (3, 2, 3, 4)), ("bias", (3,))], x64((1, 2, 5, 6), 28))
    module(f"Conv1d-pad-{mode}", f"torch.nn.Conv1d(2, 3, 3, padding=2, padding_mode='{mode}').double()",
           [("weight", (3, 2, 3)), ("bias", (3,))], x64((2, 2, 7), 29))
module("Conv1d-valid", "torch.nn.Conv1d(2, 3, 3, padding='valid', bias=False).double()", [("weight", (3, 2, 3))], x64((2, 2, 7), 37))
module("Sequential", "torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2)).double()",
       [("0.weight", (6, 4)), ("0.bias", (6,)), ("2.weight", (2, 6)), ("2.bias", (2,))], x64((5, 4), 14))
for name, ctor, target in (("CrossEntropyLoss", "CrossEntropyLoss()", ints((4,), 15, 0, 5)),
                           ("CrossEntropyLoss-smooth", "CrossEntropyLoss(label_smoothing=0.1, reduction='sum')", ints((4,), 16, 0, 5)),
                           ("NLLLoss", "NLLLoss()", ints((4,), 17, 0, 5)), ("MSELoss", "MSELoss()", x64((4, 5), 18)),
                           ("L1Loss", "L1Loss(reduction='sum')", x64((4, 5), 19)), ("SmoothL1Loss", "SmoothL1Loss(beta=0.5)", x64((4, 5), 20)),
                           ("BCEWithLogitsLoss", "BCEWithLogitsLoss()", x64((4, 5), 21) > 0),
                           ("HuberLoss", "HuberLoss(delta=0.7)", x64((4, 5), 38)),
                           ("HuberLoss-sum", "HuberLoss(reduction='sum')", x64((4, 5), 39)),
                           ("KLDivLoss", "KLDivLoss(reduction='batchmean')", np.abs(x64((4, 5), 40))),
                           ("KLDivLoss-log_target", "KLDivLoss(log_target=True)", x64((4, 5), 41)),
                           ("CrossEntropyLoss-weight", "CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5], "
                            "dtype=torch.float64))", ints((4,), 42, 0, 5)),
                           ("NLLLoss-weight", "NLLLoss(torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5], dtype=torch.float64), "
                            "ignore_index=1)", ints((4,), 43, 0, 5))):
    tgt = "torch.tensor(" + repr(target.tolist()) + (", dtype=torch.float64)" if target.dtype.kind in "fb" else ")")
    module(f"{name}", f"torch.nn.{ctor}", [], x64((4, 5), 22), call=f"m(x, {tgt})")
for name, ctor in (("BCELoss", "BCELoss()"), ("BCELoss-weight-sum", "BCELoss(weight=torch.tensor([0.5, 1.0, 2.0, 0.0, 1.5], "
                                                                "dtype=torch.float64), reduction='sum')")):
    tgt = "torch.tensor(" + repr((x64((4, 5), 44) > 0).tolist()) + ", dtype=torch.float64)"
    module(name, f"torch.nn.{ctor}", [], x64((4, 5), 45), call=f"m(x.sigmoid(), {tgt})")

E, H = 8, 2
MHA = [("in_proj_weight", (3 * E, E)), ("in_proj_bias", (3 * E,)), ("out_proj.weight", (E, E)), ("out_proj.bias", (E,))]
module("MultiheadAttention-default-layout", f"torch.nn.MultiheadAttention({E}, {H}).double()", MHA, x64((5, 3, E), 30),
       call="m(x, x, x)")
module("MultiheadAttention-batch_first-False", f"torch.nn.MultiheadAttention({E}, {H}, batch_first=False).double()", MHA,
       x64((5, 3, E), 31), call="m(x, x, x)")
module("MultiheadAttention-batch_first-True", f"torch.nn.MultiheadAttention({E}, {H}, batch_first=True).double()", MHA,
       x64((3, 5, E), 32), call="m(x, x * 0.5, x, need_weights=True, average_attn_weights=False)")
module("MultiheadAttention-masks", f"torch.nn.MultiheadAttention({E}, {H}, batch_first=True).double()", MHA, x64((2, 4, E), 33),
       call="m(x, x, x, key_padding_mask=torch.tensor([[False, False, True, False], [False, True, True, False]]), "
            "attn_mask=torch.tensor([[False, True, False, False]] * 4))")
TEL = [("self_attn." + n, s) for n, s in MHA] + [
    ("linear1.weight", (16, E)), ("linear1.bias", (16,)), ("linear2.weight", (E, 16)), ("linear2.bias", (E,)),
    ("norm1.weight", (E,)), ("norm1.bias", (E,)), ("norm2.weight", (E,)), ("norm2.bias", (E,))]
module("TransformerEncoderLayer-default-layout", f"torch.nn.TransformerEncoderLayer({E}, {H}, 16, dropout=0.0).double()", TEL,
       x64((5, 3, E), 34))
module("TransformerEncoderLayer-batch_first", f"torch.nn.TransformerEncoderLayer({E}, {H}, 16, dropout=0.0, batch_first=True).double()",
       TEL, x64((3, 5, E), 35))
module("TransformerEncoderLayer-norm_first-gelu",
       f"torch.nn.TransformerEncoderLayer({E}, {H}, 16, dropout=0.0, activation='gelu', batch_first=True, norm_first=True).double()",
       TEL, x64((3, 5, E), 36))

# ---- optimizers: 5 steps on loss = sum(tanh(x @ p)^2) + sum(p^4) / 10, the parameter after each step
OPT_SRC = """def f(torch, F, p0, x):
    p = p0.detach().clone().requires_grad_(True)
    opt = torch.optim.{opt}([p], {kw})
    traj = []
    for _ in range(5):
        opt.zero_grad()
        loss = ((x @ p).tanh() ** 2).sum() + (p ** 4).sum() / 10
        loss.backward()
        opt.step()
        traj.append(p.detach().clone())
    return torch.stack(traj)
"""
OPTIMIZERS = {
    "SGD": "lr=0.1", "SGD-momentum": "lr=0.1, momentum=0.9", "SGD-nesterov": "lr=0.1, momentum=0.9, nesterov=True",
    "SGD-dampening-wd": "lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.1",
    "Adam": "lr=0.01", "Adam-betas-wd": "lr=0.02, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1",
    "Adam-amsgrad": "lr=0.05, amsgrad=True", "AdamW": "lr=0.01", "AdamW-wd": "lr=0.05, weight_decay=0.5",
    "RMSprop": "lr=0.01", "RMSprop-momentum-centered": "lr=0.01, alpha=0.9, momentum=0.5, centered=True",
    "RMSprop-wd": "lr=0.01, weight_decay=0.1, eps=1e-6", "Adagrad": "lr=0.1",
    "Adagrad-decay-wd-init": "lr=0.5, lr_decay=0.1, weight_decay=0.2, initial_accumulator_value=0.3, eps=1e-8",
    "Adadelta": "lr=1.0", "Adadelta-rho-eps-wd": "lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1",
}
for name, kw in OPTIMIZERS.items():
    opt = name.split("-")[0]
    suite.add(f"optim-{name}", OPT_SRC.format(opt=opt, kw=kw), T(x64((4, 3), 40)), T(x64((5, 4), 41)))
suite.add("optim-param_groups-lr", "def f(torch, F, p0):\n    p = p0.clone().requires_grad_(True)\n"
          "    opt = torch.optim.SGD([p], lr=0.1)\n    opt.param_groups[0]['lr'] = 0.5\n    (p * p).sum().backward()\n"
          "    opt.step()\n    return p.detach()", T(x64((3,), 42)))
# parameter groups: per-group options over the constructor's defaults, a group added later, and
# the options read back from param_groups
GROUPS_SRC = """def f(torch, F, a0, b0, c0):
    a, b, c = (t.clone().requires_grad_(True) for t in (a0, b0, c0))
    opt = torch.optim.{opt}([{{'params': [a]}}, {{'params': [b], 'lr': 0.05, 'weight_decay': 0.1}}], {kw})
    traj = []
    for step in range(4):
        if step == 2:
            {add_group}
        opt.zero_grad()
        ((a * b.sum()).tanh().sum() + (b ** 2).sum() + (c ** 3).sum()).backward()
        opt.step()
        traj += [a.detach().clone(), b.detach().clone(), c.detach().clone()]
    return (*traj, torch.tensor([g['lr'] for g in opt.param_groups], dtype=torch.float64),
            torch.tensor([g['weight_decay'] for g in opt.param_groups], dtype=torch.float64))
"""
# (torch 1.13's Adagrad makes its state in __init__ only: a group added later fails in step())
for opt, kw in (("SGD", "lr=0.1, momentum=0.9"), ("Adam", "lr=0.01"), ("AdamW", "lr=0.01, weight_decay=0.2"),
                ("RMSprop", "lr=0.01"), ("Adagrad", "lr=0.1, lr_decay=0.01")):
    add = "pass" if opt == "Adagrad" else "opt.add_param_group({'params': [c], 'lr': 0.2})"
    suite.add(f"optim-param_groups-{opt}", GROUPS_SRC.format(opt=opt, kw=kw, add_group=add), T(x64((3,), 43)), T(x64((2,), 44)),
              T(x64((2,), 45)))

# ---- LR schedulers: the lr over a standard loop (step the optimizer, then the scheduler)
SCHED_SRC = """def f(torch, F, p0):
    p = p0.clone().requires_grad_(True)
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = {ctor}
    lrs = []
    for _ in range({steps}):
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    return torch.tensor(lrs, dtype=torch.float64), p.detach()
"""
SCHEDULERS = {
    "StepLR": ("torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)", 10),
    "CosineAnnealingLR": ("torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6, eta_min=0.01)", 10),
    "LinearLR": ("torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=4)", 8),
    "OneCycleLR-cos": ("torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)", 10),
    "OneCycleLR-linear": ("torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy='linear')", 10),
    "SequentialLR": ("torch.optim.lr_scheduler.SequentialLR(opt, [torch.optim.lr_scheduler.LinearLR(opt, 0.5, total_iters=2), "
                     "torch.optim.lr_scheduler.StepLR(opt, 2, 0.5)], milestones=[3])", 9),
}
for name, (ctor, steps) in SCHEDULERS.items():
    suite.add(f"sched-{name}", SCHED_SRC.format(ctor=ctor, steps=steps), T(x64((3,), 50)))


@pytest.mark.parametrize("case", suite.params())
def test_modules_optim(case, oracle):
    check(suite, oracle, case)
