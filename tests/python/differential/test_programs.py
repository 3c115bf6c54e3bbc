"""Random op programs with gradients in float64, compiled vs eager, and in-place semantics,
against PyTorch.

Programs: a seeded generator writes small straight-line functions over the shared op set (each
statement applies a random op to random earlier values; domains kept finite: log of |a| + 1 and
the like); value and the gradients of every input must match, in float64 at 4x4 and in float32 at
64x64 (oneDNN's sizes); the first 50 also compiled. Compiled: doppel.compile of the
same source against PyTorch eager, over several calls with new inputs each (a frozen value
shows from the second call on), for detach/.data (issue 12 item 1), views of inputs, strided
inputs reaching reshape (item 8), closures. In-place: overlap (item 4) and views of non-leaves
(item 11)."""
import random

import pytest

from harness import Suite, T, check
from inputs import floats

suite = Suite("programs")

N = 4  # every value of a program is N x N: matmul, transpose and broadcasting all apply
UNARY = [
    "torch.tanh({a})", "torch.sigmoid({a})", "torch.exp({a}.clamp(-3, 3))", "torch.log({a}.abs() + 1)",
    "torch.sqrt({a} * {a} + 0.5)", "torch.sin({a})", "torch.cos({a})", "F.silu({a})", "F.gelu({a})",
    "F.gelu({a}, approximate='tanh')", "F.softplus({a})", "torch.relu({a})", "{a}.t()", "{a}.softmax(-1)",
    "F.log_softmax({a}, 0)", "torch.erf({a})", "({a} * {a} + 1).reciprocal()", "-{a}", "{a}.abs()", "F.elu({a})",
    "F.leaky_relu({a}, 0.1)", "{a} ** 2", "{a}.sum(1, keepdim=True) * {a}", "{a} - {a}.mean(0, keepdim=True)",
    "{a}.amax(1, keepdim=True) + {a}", "{a} * 0.5 + 1.5", "torch.rsqrt({a} * {a} + 1)", "torch.log1p({a}.abs())",
    "{a}.logsumexp(0, keepdim=True) - {a}", "{a}.var(1, keepdim=True) + {a}", "{a}.std(0) * {a}",
    "{a}.prod(1, keepdim=True) + {a}", "{a}.transpose(0, 1).contiguous()", "{a}.flatten().reshape(4, 4)",
    "torch.stack([{a}, {a} * 2], 0).sum(0)", "F.layer_norm({a}, (4,))", "torch.clamp({a}, -1, 1)",
    "{a}.unsqueeze(0).expand(2, 4, 4).sum(0)", "{a}[:, [1, 0, 3, 2]]", "{a}.index_select(0, torch.tensor([3, 1, 2, 0]))",
    "{a}.permute(1, 0) * 2", "{a}[[3, 2, 1, 0]]",
]
BINARY = [
    "{a} + {b}", "{a} - {b}", "{a} * {b}", "{a} / ({b} * {b} + 1)", "torch.maximum({a}, {b})", "torch.minimum({a}, {b})",
    "{a} @ {b}", "torch.where({a} > {b}, {a}, {b})", "torch.cat([{a}, {b}], 0)[::2]", "F.linear({a}, {b})",
    "torch.matmul({a}, {b}.t())", "{a} * {b}.sum(0)", "torch.mm({a}, {b}) / 4", "{a}[:, :2] @ {b}[:2]",
    "torch.cat([{a}, {b}], 1)[:, 1::2]", "{a} + {b}[0]", "F.mse_loss({a}, {b}, reduction='none')",
    "F.smooth_l1_loss({a}, {b}, reduction='none')", "{a}.masked_fill({b} > 0.5, 0.25)",
]


def program(seed):
    r = random.Random(seed)
    n_in = r.randint(1, 3)
    names = [f"x{i}" for i in range(n_in)]
    lines = [f"def f(torch, F, {', '.join(names)}):"]
    for k in range(r.randint(3, 8)):
        if r.random() < 0.45 and len(names) > 0:
            expr = r.choice(BINARY).format(a=r.choice(names), b=r.choice(names))
        else:
            expr = r.choice(UNARY).format(a=r.choice(names))
        lines.append(f"    v{k} = {expr}")
        names.append(f"v{k}")
    outs = [names[-1]] + ([names[-2]] if r.random() < 0.3 else [])
    lines.append(f"    return {', '.join(outs)}")
    return "\n".join(lines), n_in


for seed in range(150):
    src, n_in = program(seed)
    args = [T(floats((N, N), 1000 * seed + i, "float64", specials=False), "float64", grad=True) for i in range(n_in)]
    suite.add(f"program-{seed}", src, *args, tol=(1e-8, 1e-10))

# programs over 64 x 64 float32 values: the oneDNN paths (elementwise from 4096 elements, matmul).
# Left out: 177, the cosine of a triple product of 64x64 values (~60 in size), whose float32 gradient
# is itself off the float64 one by up to 0.054 in ~100 of 4096 elements, torch's and doppel's alike
# (0.054 and 0.058): two float32 answers agree there only where both sum in the same order (with
# AVX-512, not AVX2). Its float64 4x4 form above stays.
ILL_CONDITIONED_F32 = {177}
for seed in sorted(set(range(150, 180)) - ILL_CONDITIONED_F32):
    src, n_in = program(seed)
    src = src.replace("reshape(4, 4)", "reshape(64, 64)").replace("expand(2, 4, 4)", "expand(2, 64, 64)")
    src = src.replace("[:, [1, 0, 3, 2]]", "[:, [1, 0, 3, 2] * 16]").replace("[[3, 2, 1, 0]]", "[[3, 2, 1, 0] * 16]")
    src = src.replace("torch.tensor([3, 1, 2, 0])", "torch.tensor([3, 1, 2, 0] * 16)").replace("(4,)", "(64,)")
    args = [T(floats((64, 64), 1000 * seed + i, specials=False), "float32", grad=True) for i in range(n_in)]
    suite.add(f"program-{seed}-f32-64x64", src, *args, tol=(2e-3, 1e-4))

# the first 50 programs again, compiled (values over three input sets; the graph is traced once)
for seed in range(50):
    src, n_in = program(seed)
    sets = [[T(floats((N, N), 1000 * seed + 10 * c + i, "float64", specials=False), "float64") for i in range(n_in)]
            for c in range(3)]
    suite.add(f"program-{seed}-compiled", src, calls=sets, compile=True, tol=(1e-8, 1e-10))

# ---- compiled vs eager: several calls with new inputs each


def calls(n_args, shape=(3, 4), dtype="float32", count=4, seed=0):
    return [[T(floats(shape, 100 * seed + 10 * c + i, specials=False), dtype) for i in range(n_args)] for c in range(count)]


COMPILED = {
    "plain": ("lambda torch, F, x, w: torch.tanh(x * w) + w", 2),
    "detach": ("lambda torch, F, x, w: x * w.detach()", 2),
    "data": ("lambda torch, F, x, w: x * w.data", 2),
    "detach-mse": ("lambda torch, F, x, t: F.mse_loss(x * 2, t.detach())", 2),
    "view-of-input": ("lambda torch, F, x, w: x[1:] + x[:-1] * w[0]", 2),
    "transpose-of-input": ("lambda torch, F, x, w: x.t() @ w", 2),
    "input-returned-view": ("lambda torch, F, x, w: (x[0], x.reshape(-1) * 2)", 2),
    "reduce-keepdim": ("lambda torch, F, x, w: x.sum(1, keepdim=True) * w.amax(0)", 2),
    "clone-then-inplace": ("def f(torch, F, x, w):\n    y = x.clone()\n    y.add_(w)\n    y.mul_(2)\n    return y", 2),
}
for name, (src, n_args) in COMPILED.items():
    suite.add(f"compiled-{name}", src, calls=calls(n_args, seed=len(name)), compile=True)
# the ops added in issue 12's second round, traced and replayed
COMPILED_ROUND2 = {
    "elementwise": "torch.fmod(x, w + 3.5) - torch.atan2(x, w).trunc() + torch.remainder(w, 0.7) + torch.lerp(x, w, 0.25)",
    "activations": "F.selu(x) + F.logsigmoid(w) + F.hardsigmoid(x) * F.relu6(w * 4) + F.hardtanh(x, -0.5, 0.5) + F.mish(w) "
                   "+ F.hardswish(x * 3)",
    "div-modes": "torch.div(x, w + 3.5, rounding_mode='floor') + torch.add(x, w, alpha=2) + x // 0.3",
    "int-ops": "((x * 10).long() & 7 | (w * 10).long() % 3) ^ ~(x * 4).long()",
    "scans": "torch.cumsum(x, 1) * torch.cumprod(w, 0)",
    "views": "torch.flip(x, [0]) + torch.roll(w, 1, 1) + x.tril() - w.triu(1) + x.fliplr().mT.mT",
    "diag-unfold": "(x.diagonal() * w.diagonal(1), x.unfold(1, 2, 1).sum(-1), torch.diag(w[0]))",
    "pad": "(F.pad(x[None], (1, 2), mode='reflect'), F.pad(w, (0, 1, 1, 0), value=0.5), F.pad(x[None], (2, 1), mode='circular'))",
    "einsum-outer": "torch.einsum('ij,kj->ik', x, w) + torch.outer(x[0], w[1])[:3, :3] + torch.dot(x[1], w[2])",
    "scatter-where": "torch.scatter(x, 1, torch.tensor([[0], [2], [3]]), 0.0) + torch.where(w > 0, 1.0, -1.0) + x.where(x > w, w)",
    "reductions": "(x.std(1, unbiased=False), x.sum(0, dtype=torch.float64), torch.max(x, w), x.max(1).values, "
                  "torch.softmax(w, 1, dtype=torch.float64))",
    "stack-index": "(torch.hstack([x, w]), torch.vstack([x, w]), x[[0, 2], [1, 3]], torch.movedim(x[None], 0, 2), "
                   "x.repeat(2, 1), x.unflatten(1, (2, 2)), torch.unbind(w, 0)[1])",
}
for name, expr in COMPILED_ROUND2.items():
    suite.add(f"compiled-round2-{name}", f"lambda torch, F, x, w: {expr}", calls=calls(2, seed=len(name) + 20), compile=True)
# strided inputs (prep makes them eagerly, outside the trace): strided on every call, or traced
# with contiguous inputs for two calls and then given strided ones of the same shapes
def strided_calls(n_args, shape, seed, first):
    return [args + [c >= first] for c, args in enumerate(calls(n_args, shape=shape, count=5, seed=seed))]


STRIDED = {
    "t-reshape": ("lambda torch, F, x: x.t().reshape(-1) * 2", (4, 3), "x.t()"),
    "t-reshape-2d": ("lambda torch, F, x: x.t().reshape(2, 6)", (4, 3), "x.t()"),
    "reshape": ("lambda torch, F, x: x.reshape(-1) * 2", (4, 3), "x.t()"),
    "t-elementwise": ("lambda torch, F, x: torch.exp(x) + x", (4, 3), "x.t()"),
    "t-linear": ("lambda torch, F, x: F.linear(x, torch.ones(5, 4) * 0.5)", (4, 3), "x.t()"),
    "t-sum": ("lambda torch, F, x: x.sum(0)", (4, 3), "x.t()"),
    "step-reshape": ("lambda torch, F, x: x.reshape(2, -1) + 1", (6, 6), "x[::2]"),
}
for name, (src, shape, view) in STRIDED.items():
    for first in (0, 2):
        suite.add(f"compiled-strided-{name}-from{first}", src, calls=strided_calls(1, shape, len(name), first), compile=True,
                  prep=f"lambda torch, F, x, strided: (({view}) if strided else ({view}).contiguous(),)")
suite.add("compiled-linear-backward-permuted",
          "def f(torch, F, x, w):\n    w = w.detach().requires_grad_(True)\n    y = F.linear(x, w).sum()\n    y.backward()\n"
          "    return w.grad",
          calls=strided_calls(2, (4, 4), 4, 0), compile=True,
          prep="lambda torch, F, x, w, strided: (x.permute(1, 0) if strided else x.permute(1, 0).contiguous(), w)")
CLOSURES = {
    "constant": "def make(torch, F):\n    w = torch.ones(3, 4) * 0.25\n    return lambda x: x * w + w.sum()",
    "python-scalar": "def make(torch, F):\n    k = 1.5\n    return lambda x: torch.tanh(x * k)",
    "nested-function": "def make(torch, F):\n    b = torch.arange(4.0)\n    def inner(y):\n        return y.relu() + b\n"
                       "    return lambda x: inner(x) * inner(-x)",
}
for name, src in CLOSURES.items():
    suite.add(f"compiled-closure-{name}", src, calls=calls(1, seed=len(name)), compile=True)
suite.add("compiled-training-step",
          "def make(torch, F):\n    m = torch.nn.Linear(4, 2)\n    with torch.no_grad():\n"
          "        m.weight.copy_(torch.arange(8.0).reshape(2, 4) * 0.1)\n        m.bias.copy_(torch.tensor([0.5, -0.5]))\n"
          "    opt = torch.optim.SGD(m.parameters(), lr=0.1)\n"
          "    def step(x, t):\n        opt.zero_grad()\n        loss = F.mse_loss(m(x), t.detach())\n        loss.backward()\n"
          "        opt.step()\n        return loss.detach(), m.weight.detach().clone()\n    return step",
          calls=[[T(floats((5, 4), 70 + c, specials=False), "float32"), T(floats((5, 2), 80 + c, specials=False), "float32")]
                 for c in range(3)], compile=True)

# modules compiled whole (doppel.compile(module)) against torch eager; deterministic weights
MODULE_MAKE = """def make(torch, F):
    m = {ctor}
    with torch.no_grad():
        for k, p in enumerate(m.parameters()):
            p.copy_(torch.linspace(-1.0, 1.0 + 0.1 * k, p.numel()).reshape(p.shape))
    m.{mode}()
    return m
"""
COMPILED_MODULES = {
    "mlp": ("torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 3))", "train", (5, 4)),
    "cnn-eval": ("torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), "
                 "torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(16, 3))", "eval", (2, 2, 4, 4)),
    "layernorm-mlp": ("torch.nn.Sequential(torch.nn.LayerNorm(6), torch.nn.Linear(6, 6), torch.nn.Tanh())", "train", (3, 6)),
}
for name, (ctor, mode, shape) in COMPILED_MODULES.items():
    suite.add(f"compiled-module-{name}", MODULE_MAKE.format(ctor=ctor, mode=mode), calls=calls(1, shape=shape, seed=len(name)),
              compile=True, tol=(1e-4, 1e-5))

# ---- in-place semantics
INPLACE = {
    "overlap-add-t": ("def f(torch, F, x):\n    z = x.clone()\n    z.add_(z.t())\n    return z", False),
    "overlap-mul-shifted": ("def f(torch, F, x):\n    z = x.clone()\n    z[1:].mul_(z[:-1])\n    return z", False),
    "overlap-copy-t": ("def f(torch, F, x):\n    z = x.clone()\n    z.copy_(z.t())\n    return z", False),
    "same-tensor-ok": ("def f(torch, F, x):\n    z = x.clone()\n    z.add_(z)\n    z.mul_(z)\n    return z", False),
    "disjoint-views-ok": ("def f(torch, F, x):\n    z = x.clone()\n    z[:2].add_(z[2:])\n    return z", False),
    "view-of-nonleaf": ("def f(torch, F, x):\n    y = x * 2\n    y[0].mul_(3)\n    return y", True),
    "view-of-nonleaf-add": ("def f(torch, F, x):\n    y = x * 2\n    y[:, 1:].add_(1.0)\n    return y.exp()", True),
    "mul_-by-grad-tensor": ("def f(torch, F, x, t):\n    y = x * 1.0\n    y.mul_(t)\n    return y", True),
    "nonleaf-inplace-ok": ("def f(torch, F, x):\n    y = x * 2\n    y.add_(1)\n    return y * y", True),
    "relu_-clamp_": ("def f(torch, F, x):\n    y = x * 1.5\n    y.relu_()\n    y.clamp_(max=1.0)\n    return y", True),
    "arith_": ("def f(torch, F, x, t):\n    y = x * 1.0\n    y.add_(t).sub_(0.5).mul_(2.0).div_(t.abs() + 1).neg_()\n"
               "    return y", True),
    "fill_-zero_": ("def f(torch, F, x):\n    y = x * 1.0\n    y[0].fill_(2.5)\n    z = x.detach().clone()\n"
                    "    z.zero_()\n    return y, z", True),
    "copy_": ("def f(torch, F, x, t):\n    y = torch.zeros(3, 3, dtype=x.dtype)\n    y.copy_(x.t())\n    return y * t",
              True),
    "leaf-inplace-refused": ("def f(torch, F, x):\n    x.add_(1)\n    return x", True),
}
for name, (src, grad) in INPLACE.items():
    n = src.split("(")[1].count(",") - 1
    args = [T(floats((3, 3), 90 + i, "float64", specials=False), "float64", grad=grad) for i in range(n)]
    suite.add(f"inplace-{name}", src, *args, must_raise=True)


@pytest.mark.parametrize("case", suite.params())
def test_programs(case, oracle):
    check(suite, oracle, case)
