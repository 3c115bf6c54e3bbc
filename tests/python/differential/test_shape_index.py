"""Views, shape ops, joins/splits, indexing and gather/scatter against PyTorch, with gradients,
on contiguous, transposed and step-sliced operands; the copy kernels on both sides of oneDNN's
threshold; flips/rolls/diagonals/triangles; dot/outer/einsum; scatter; advanced indexing with
several indices (getitem and setitem)."""
import numpy as np
import pytest

from harness import Suite, T, check
from inputs import floats, ints, bools

suite = Suite("shape_index")


def f32(shape, seed, grad=True):
    return T(floats(shape, seed, specials=False), "float32", grad=grad)


def f64(shape, seed, grad=True):
    return T(floats(shape, seed, "float64", specials=False), "float64", grad=grad)


# name, then the expression over x (one per line)
VIEWS = dict(line.split(maxsplit=1) for line in """
reshape               x.reshape(4, 15)
reshape-fn            torch.reshape(x, (-1, 5))
view                  x.view(12, 5)
permute               x.permute(2, 0, 1)
permute-fn            torch.permute(x, (1, 2, 0))
transpose             x.transpose(0, 2)
transpose-fn          torch.transpose(x, 1, -1)
t                     x[0].t()
narrow                torch.narrow(x, 1, 1, 2)
select                x.select(2, 3)
squeeze               x[:, :1].squeeze()
squeeze-dim           x[:, :1].squeeze(1)
unsqueeze             torch.unsqueeze(x, -1)
flatten               x.flatten()
flatten-12            torch.flatten(x, 1)
expand                x[:, :1].expand(3, 6, 5)
expand-new-dim        x[0].expand(2, 4, 5)
broadcast_to          torch.broadcast_to(x[:, :1], (3, 4, 5))
contiguous            x.transpose(0, 1).contiguous()
clone                 x.clone()
view_as               x.view_as(torch.zeros(60))
reshape_as            x.reshape_as(torch.zeros(5, 12))
expand_as             x[:, :1].expand_as(x)
getitem-int           x[1]
getitem-slice         x[1:, ::2, -3:]
getitem-neg-step-free x[..., 1]
getitem-none          x[None, :, 0]
getitem-tensor        x[torch.tensor([2, 0, 2])]
getitem-mask          x[x > 0.5]
getitem-list          x[:, [3, 1]]
getitem-two-adv       x[[0, 1], [1, 2]]
getitem-adv-bcast     x[torch.tensor([[0], [2]]), :, torch.tensor([1, 4, 0])]
getitem-adv-split     x[[2, 0], 1:3, [4, 4]]
getitem-adv-mixed     x[1, [3, 0, 3], 1::2]
getitem-adv-neg       x[[-1, 0], [-2, 3], [-5, 4]]
getitem-adv-mask-int  x[torch.tensor([True, False, True]), 2]
flip                  torch.flip(x, [0, 2])
flip-method-neg       x.flip(-1)
fliplr                torch.fliplr(x)
flipud                x[0].flipud()
roll                  torch.roll(x, 2, 1)
roll-dims             torch.roll(x, (-1, 7), (0, 2))
roll-flat             x.roll(-3)
diagonal              torch.diagonal(x, 0, 1, 2)
diagonal-offset       x.diagonal(1, 0, 2)
diagonal-neg-offset   torch.diagonal(x, offset=-2, dim1=2, dim2=1)
diagonal-empty        x.diagonal(9)
diag-vec              torch.diag(x[0, 1])
diag-vec-offset       x[1, 2].diag(-2)
diag-mat              torch.diag(x[0])
diag-mat-offset       x[2].diag(3)
unfold                x.unfold(2, 2, 1)
unfold-step           x.unfold(1, 2, 2)
unfold-overlap        x.transpose(0, 2).unfold(0, 3, 1)
tril                  torch.tril(x)
tril-neg              x.tril(-1)
triu                  x.triu(1)
triu-neg              torch.triu(x[0].t(), diagonal=-2)
movedim               torch.movedim(x, 0, -1)
movedim-list          torch.movedim(x, (0, 1), (2, 0))
moveaxis              x.moveaxis(-1, 0)
swapaxes              x.swapaxes(0, 1)
swapdims              torch.swapdims(x, 2, 0)
swapaxes-fn           torch.swapaxes(x, -1, -2)
mT                    x.mT
mH                    x.mH
unflatten             x.unflatten(2, (1, 5))
unflatten-neg         torch.unflatten(x, 1, (2, -1))
repeat                x.repeat(2, 1, 3)
repeat-more-dims      x.repeat(2, 1, 1, 2)
unbind                torch.unbind(x, 1)
unbind-method         x.unbind()
hstack                torch.hstack([x, x[:, :2]])
vstack                torch.vstack((x, x[:1]))
hstack-1d             torch.hstack([x[0, 0], x[1, 1]])
vstack-1d             torch.vstack([x[0, 0], x[1, 1]])
row_stack             torch.row_stack((x[0], x[1, :2]))
split                 torch.split(x, 2, dim=1)
split-sizes           x.split([1, 3], 1)
split_with_sizes      x.split_with_sizes([2, 3], 2)
chunk                 torch.chunk(x, 2, 2)
slice-step            x[:, 1::2]
""".strip().splitlines())
for name, expr in VIEWS.items():
    suite.add(f"{name}", f"lambda torch, F, x: {expr}", f32((3, 4, 5), 1))
    suite.add(f"{name}-of-transposed", f"lambda torch, F, x: (lambda x: {expr})(x.permute(1, 0, 2).permute(1, 0, 2))",
              f64((3, 4, 5), 2))
for name, expr in (("cat", "torch.cat([x, y], 1)"), ("cat-d0", "torch.cat((x, y.t()), 0)"), ("concat", "torch.concat([x, y], -1)"),
                   ("stack", "torch.stack([x, y], 1)"), ("stack-last", "torch.stack([x, y], -1)")):
    suite.add(name, f"lambda torch, F, x, y: {expr}", f32((4, 4), 3), f32((4, 4), 4))
    suite.add(f"{name}-int", f"lambda torch, F, x, y: {expr}", T(ints((4, 4), 5)), T(ints((4, 4), 6)))
suite.add("cat-mixed-dtype", "lambda torch, F, x, y: torch.cat([x, y], 0)", f32((2, 3), 7), T(ints((2, 3), 8)))

# refusals: both sides raise; doppel's message names the op the user called
for name, expr in (("reshape", "x.reshape(5, 7)"), ("reshape-strided", "x.t().reshape(5, -1)"),
                   ("reshape-fn", "torch.reshape(x, (5, 7))")):
    suite.add(f"error-{name}", f"lambda torch, F, x: {expr}", f32((3, 4), 48), error_says="reshape")
suite.add("error-view", "lambda torch, F, x: x.view(5, 7)", f32((3, 4), 49), error_says="view")

# copies/casts around oneDNN's copy threshold (4096), non-contiguous sources
for shape in ((63, 65), (64, 64)):
    tag = "x".join(map(str, shape))
    suite.add(f"contiguous-copy-{tag}", "lambda torch, F, x: x.t().contiguous()", T(floats(shape, 9), "float32", grad=True),
              signed_zero=True)
    for dt in ("float64", "float16", "bfloat16", "int32", "int64", "bool"):
        suite.add(f"to-{dt}-{tag}", f"lambda torch, F, x: x.to(torch.{dt})", T(floats(shape, 10) * 100, "float32"))
    suite.add(f"float-from-int-{tag}", "lambda torch, F, x: (x.float(), x.double(), x.half(), x.bool(), x.int())",
              T(ints(shape, 11)))
suite.add("to-int-nan-free", "lambda torch, F, x: x.long()", T(floats((4, 5), 12, specials=False) * 10, "float32"))

# factories (deterministic ones; random factories differ by design)
FACTORIES = {
    "zeros-ones": "(torch.zeros(2, 3), torch.ones((3,), dtype=torch.int32), torch.zeros_like(x), torch.ones_like(x))",
    "full": "(torch.full((2, 3), 1.5), torch.full_like(x, 7), torch.full((2,), 3, dtype=torch.int64))",
    "arange": "(torch.arange(5), torch.arange(1.0, 4.0, 0.5), torch.arange(2, 11, 3), torch.arange(0, 1, 0.1))",
    "linspace": "(torch.linspace(0, 1, 7), torch.linspace(-2.0, 3.0, steps=4))",
    "eye": "(torch.eye(3), torch.eye(2, 4))",
    "scalar_tensor": "(torch.scalar_tensor(2.5), torch.scalar_tensor(3, dtype=torch.int64))",
    "tensor": "(torch.tensor([[1, 2], [3, 4]]), torch.tensor([1.5, 2.5]), torch.tensor([True, False]), torch.tensor(3.0))",
    "promote_types": "torch.zeros(1, dtype=torch.promote_types(torch.int32, torch.float32)) + x[0, 0]",
}
for name, expr in FACTORIES.items():
    suite.add(f"factory-{name}", f"lambda torch, F, x: {expr}", f32((2, 3), 19, grad=False))
suite.add("matrix-trace", "lambda torch, F, x: torch.trace(x)", f64((4, 4), 44))
suite.add("convolution", "lambda torch, F, x, w, b: torch.convolution(x, w, b, [1, 1], [1, 0], [1, 1], False, [0, 0], 1)",
          f64((1, 2, 5, 5), 45), f64((3, 2, 3, 3), 46), f64((3,), 47))

# indexing ops
suite.add("index_select", "lambda torch, F, x, i: torch.index_select(x, 1, i)", f32((3, 5), 20), T(np.array([4, 0, 4, 2])))
suite.add("index_select-method", "lambda torch, F, x, i: x.index_select(0, i)", f64((3, 5), 21), T(np.array([2, 2, 0])))
suite.add("gather", "lambda torch, F, x, i: torch.gather(x, 1, i)", f32((3, 5), 22), T(ints((3, 4), 23, 0, 5)))
suite.add("gather-d0", "lambda torch, F, x, i: x.gather(0, i)", f64((3, 5), 24), T(ints((2, 5), 25, 0, 3)))
suite.add("scatter_add", "lambda torch, F, x, i, s: torch.scatter_add(x, 1, i, s)", f32((3, 5), 26), T(ints((3, 4), 27, 0, 5)),
          f32((3, 4), 28))
suite.add("index_add", "lambda torch, F, x, i, s: (torch.index_add(x, 1, i, s), x.index_add(0, i[:2], s.t()[:2, :3], alpha=-2))",
          f64((3, 5), 79), T(np.array([4, 0, 4, 2])), f64((3, 4), 80))
suite.add("index_add_-f32", "def f(torch, F, x, i, s):\n    y = x * 1.0\n    y.index_add_(0, i, s, alpha=0.5)\n    return y",
          f32((4, 3), 81), T(np.array([3, 0, 3, 1])), f32((4, 3), 82))
for alpha in (1, 3):
    suite.add(f"index_add_-int-alpha{alpha}", f"def f(torch, F, n, i):\n    m = n.clone()\n"
              f"    m.index_add_(1, i, n[:, :3], alpha={alpha})\n    return m", T(ints((2, 4), 83)), T(np.array([3, 0, 3])))
suite.add("scatter_add_", "lambda torch, F, x, i, s: x.clone().scatter_add_(0, i, s)", f64((3, 5), 29), T(ints((2, 5), 30, 0, 3)),
          f64((2, 5), 31))
suite.add("masked_fill", "lambda torch, F, x, m: x.masked_fill(m, -2.5)", f32((4, 5), 32), T(bools((4, 5), 33)))
suite.add("masked_fill-bcast", "lambda torch, F, x, m: torch.masked_fill(x, m, float('-inf'))", f32((4, 5), 34), T(bools((1, 5), 35)))
suite.add("masked_fill-0d-tensor", "lambda torch, F, x, m: x.masked_fill(m, torch.tensor(3.0))", f32((4, 5), 36),
          T(bools((4, 5), 37)))
suite.add("masked_fill-0d-tensor-grad", "lambda torch, F, x, m, v: torch.masked_fill(x, m, v[0, 0])", f64((4, 5), 38),
          T(bools((1, 5), 39)), f64((2, 2), 40))
suite.add("embedding", "lambda torch, F, i, w: F.embedding(i, w)", T(ints((2, 3), 38, 0, 6)), f32((6, 4), 39))
suite.add("embedding-padding", "lambda torch, F, i, w: F.embedding(i, w, padding_idx=2)", T(np.array([[2, 0], [1, 2]])), f64((6, 4), 40))
suite.add("one_hot", "lambda torch, F, i: (F.one_hot(i), F.one_hot(i, 7))", T(ints((2, 3), 41, 0, 5)))
suite.add("where-method-scalar", "lambda torch, F, x: torch.where(x > 0, x, 0.0)", f32((4, 5), 42))
suite.add("setitem-view-of-clone", "def f(torch, F, x):\n    y = x.clone()\n    y[1:, 2] = 7.0\n    y[0] = y[2] * 2\n    return y",
          f32((3, 4), 43))

# flips/rolls/diagonals/triangles of integer and bool tensors, and large (oneDNN-size) float32 copies
for name, expr in (("flip", "torch.flip(x, [1])"), ("roll", "x.roll(3, 0)"), ("tril", "x.tril(1)"), ("triu", "torch.triu(x)"),
                   ("diag", "torch.diag(x)"), ("diagonal", "x.diagonal()"), ("unfold", "x.unfold(1, 3, 2)"),
                   ("repeat", "x.repeat(2, 2)")):
    suite.add(f"{name}-int", f"lambda torch, F, x: {expr}", T(ints((6, 7), 50)))
    suite.add(f"{name}-bool", f"lambda torch, F, x: {expr}", T(bools((6, 7), 51)))
    for size, shape in (("below", (63, 65)), ("at", (64, 64))):
        suite.add(f"{name}-f32-{size}", f"lambda torch, F, x: {expr}", T(floats(shape, 52), "float32", grad=True), signed_zero=True)
suite.add("diag-nonsquare", "lambda torch, F, x: (torch.diag(x), torch.diag(x, 2), x.diag(-1), torch.diag(x.t(), -3))",
          f64((4, 6), 53))

# products and einsum
suite.add("dot", "lambda torch, F, x, y: (torch.dot(x, y), x.dot(y.flip(0)))", f64((7,), 54), f64((7,), 55))
suite.add("dot-f32-strided", "lambda torch, F, x: torch.dot(x[0], x[:, 1])", f32((9, 9), 56))
suite.add("dot-int", "lambda torch, F, x, y: torch.dot(x, y)", T(ints((6,), 57)), T(ints((6,), 58)))
suite.add("outer", "lambda torch, F, x, y: (torch.outer(x, y), x.outer(y[:2]), torch.ger(x, y), x.ger(y))", f64((4,), 59),
          f64((5,), 60))
suite.add("outer-int", "lambda torch, F, x, y: torch.outer(x, y)", T(ints((3,), 61)), T(ints((4,), 62)))
EINSUM = {"matmul": ("ij,jk->ik", [(3, 4), (4, 5)]), "bmm": ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
          "trace": ("ii", [(4, 4)]), "diag": ("ii->i", [(4, 4)]), "transpose": ("ij->ji", [(3, 4)]),
          "sum": ("ijk->j", [(2, 3, 4)]), "outer": ("i,j->ij", [(3,), (4,)]), "dot": ("i,i", [(5,), (5,)]),
          "implicit": ("ij,jk", [(3, 4), (4, 5)]), "ellipsis": ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 2)]),
          "three": ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), "bcast": ("bij,jk->bik", [(2, 3, 4), (4, 5)]),
          "hadamard": ("ij,ij->ij", [(3, 4), (3, 4)])}
for name, (eq, shapes) in EINSUM.items():
    names = ", ".join(f"a{k}" for k in range(len(shapes)))
    suite.add(f"einsum-{name}", f"lambda torch, F, {names}: torch.einsum('{eq}', {names})",
              *[f64(sh, 63 + k) for k, sh in enumerate(shapes)])
suite.add("einsum-list-operands", "lambda torch, F, a, b: torch.einsum('ij,jk->ik', [a, b.t()])", f32((3, 4), 66), f32((5, 4), 67),
          tol=(1e-5, 1e-6))

# scatter / scatter_: a scalar or a tensor source, every dim, reductions, the out-of-place gradient
suite.add("scatter-src", "lambda torch, F, x, i, s: torch.scatter(x, 1, i, s)", f64((3, 5), 68),
          T(np.array([[4, 0], [1, 3], [2, 2]])), f64((3, 2), 69))
suite.add("scatter-value", "lambda torch, F, x, i: (torch.scatter(x, 0, i, 0.5), x.scatter(1, i[:, :3], -2.0))",
          f64((3, 5), 70), T(np.array([[2, 0, 1, 1, 0], [1, 2, 0, 2, 2]])))
suite.add("scatter_-inplace", "lambda torch, F, x, i, s: x.clone().scatter_(1, i, s)", f64((3, 5), 71),
          T(np.array([[4, 0], [1, 3], [0, 2]])), f64((3, 2), 72))
suite.add("scatter_-value-int", "lambda torch, F, x, i: x.clone().scatter_(0, i, 9)", T(ints((3, 4), 73)), T(np.array([[2, 0, 1, 0]])))
for reduce in ("add", "multiply"):
    suite.add(f"scatter_-reduce-{reduce}", f"lambda torch, F, x, i, s: x.detach().clone().scatter_(1, i, s.detach(), reduce='{reduce}')",
              f64((3, 5), 74), T(np.array([[4, 4], [1, 3], [0, 0]])), f64((3, 2), 75))
suite.add("scatter-index-out-of-range", "lambda torch, F, x, i: torch.scatter(x, 1, i, 1.0)", f64((2, 3), 76, grad=False),
          T(np.array([[3], [0]])), must_raise=True)

# setitem with several advanced indices (values, broadcast value, accumulation into a clone)
SETITEM = {
    "two-adv": "y[[0, 2], [1, 3]] = 5.0",
    "adv-slice": "y[[2, 0], 1:3] = v[:2, :2]",
    "adv-bcast-value": "y[torch.tensor([[0], [2]]), torch.tensor([1, 3])] = v[0, :2]",
    "mask": "y[y > 0.5] = -1.0",
    "adv-neg": "y[[-1, 0], [-2, 3]] = v[1, 1]",
    "index_put_": "y.index_put_((torch.tensor([0, 2]), torch.tensor([1, 3])), v[0, :2])",
    "index_put_-accumulate": "y.index_put_((torch.tensor([0, 2, 0]), torch.tensor([1, 3, 1])), v[1, :3], accumulate=True)",
    "index_put_-bcast": "y.index_put_((torch.tensor([2, 1]),), v[0] * 2)",
}
for name, stmt in SETITEM.items():
    suite.add(f"setitem-{name}", f"def f(torch, F, x, v):\n    y = x.clone()\n    {stmt}\n    return y", f64((3, 4), 77),
              f64((3, 4), 78))


@pytest.mark.parametrize("case", suite.params())
def test_shape_index(case, oracle):
    check(suite, oracle, case)
