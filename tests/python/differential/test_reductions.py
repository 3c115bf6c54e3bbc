"""Reductions against PyTorch: every shared reduction over all dims, single and several dims,
negative dims, keepdim, non-contiguous inputs, NaN/inf inputs, every dtype the op takes, with
gradients; var/std(unbiased=), sum/mean/prod(dtype=); max/min with dim (values, indices, ties:
issue 12 item 6); softmax/log_softmax (dtype=); the scans cumsum/cumprod."""
import numpy as np
import pytest

from harness import Suite, T, check
from inputs import floats, ints, bools

suite = Suite("reductions")

REDUCTIONS = ["sum", "mean", "prod", "amax", "amin", "logsumexp", "var", "std"]
DIMS = {"all": "", "d0": "dim=0", "d1": "1", "dneg": "dim=-1", "d02": "dim=(0, 2)", "d1k": "dim=1, keepdim=True",
        "d02k": "dim=[0, 2], keepdim=True"}

for op in REDUCTIONS:
    for dname, dims in DIMS.items():
        if op == "logsumexp" and dname == "all":
            continue  # torch.logsumexp requires dim
        src = f"lambda torch, F, x: torch.{op}(x, {dims})" if dims else f"lambda torch, F, x: torch.{op}(x)"
        suite.add(f"{op}-{dname}-f32", src, T(floats((3, 4, 5), 1, specials=False), "float32", grad=True))
        suite.add(f"{op}-{dname}-f64", src, T(floats((3, 4, 5), 2, "float64", specials=False), "float64", grad=True))
    method = f"lambda torch, F, x: x.{op}(1)"
    suite.add(f"{op}-method-transposed", f"lambda torch, F, x: x.transpose(0, 2).{op}(1)",
              T(floats((3, 4, 5), 3, specials=False), "float32", grad=True))
    suite.add(f"{op}-method-stepslice", f"lambda torch, F, x: x[:, ::2].{op}(-1)",
              T(floats((6, 8, 5), 4, specials=False), "float32", grad=True))
    suite.add(f"{op}-specials", method, T(floats((6, 12), 5), "float32", grad=True))
    suite.add(f"{op}-large-specials", method, T(floats((64, 64), 5), "float32", grad=True), tol=(1e-4, 1e-5))
    suite.add(f"{op}-large", "lambda torch, F, x: x." + op + "(0)", T(floats((256, 64), 6, specials=False), "float32", grad=True),
              tol=(1e-4, 1e-5))
    if op not in ("logsumexp", "var", "std", "mean"):
        suite.add(f"{op}-int64", method, T(ints((4, 6), 7, -5, 6)))
        suite.add(f"{op}-int32", method, T(ints((4, 6), 8, -5, 6, np.int32)))
    if op in ("sum", "prod", "amax", "amin"):
        suite.add(f"{op}-bool", method, T(bools((4, 6), 9)))
    suite.add(f"{op}-bf16", method, T(floats((4, 6), 10, "bfloat16", specials=False), "bfloat16"), tol=(3e-2, 3e-2))
    suite.add(f"{op}-f16", method, T(floats((4, 6), 11, "float16", specials=False), "float16"), tol=(3e-3, 3e-3))
# correction / unbiased
suite.add("var-correction0", "lambda torch, F, x: torch.var(x, 1, correction=0)",
          T(floats((4, 6), 12, "float64", specials=False), "float64", grad=True))
for op in ("var", "std"):
    for unbiased in (True, False):
        suite.add(f"{op}-unbiased-{unbiased}", f"lambda torch, F, x: (torch.{op}(x, 1, unbiased={unbiased}), "
                  f"x.{op}(unbiased={unbiased}), x.{op}(dim=(0, 2), unbiased={unbiased}, keepdim=True))",
                  T(floats((4, 6, 3), 13, "float64", specials=False), "float64", grad=True))
    suite.add(f"{op}-one-element", f"lambda torch, F, x: (torch.{op}(x, 1), torch.{op}(x, 1, unbiased=False))",
              T(floats((4, 1), 16, "float64", specials=False), "float64", grad=True))
# dtype=: the accumulation and result dtype, from float and integer inputs
for op in ("sum", "mean", "prod"):
    suite.add(f"{op}-dtype-f64", f"lambda torch, F, x: (torch.{op}(x, 1, dtype=torch.float64), x.{op}(dtype=torch.float64))",
              T(floats((4, 6), 14, specials=False), "float32", grad=True))
    if op != "mean":
        suite.add(f"{op}-dtype-int", f"lambda torch, F, x: (torch.{op}(x, 0, dtype=torch.float32), x.{op}(1, dtype=torch.int32))",
                  T(ints((4, 6), 17, -4, 5)))
for op in ("softmax", "log_softmax"):
    suite.add(f"{op}-dtype", f"lambda torch, F, x: (torch.{op}(x, 1, dtype=torch.float64), F.{op}(x, 0, dtype=torch.float64))",
              T(floats((4, 6), 15, specials=False), "float32", grad=True))

# max/min/argmax/argmin
for op in ("max", "min"):
    suite.add(f"{op}-all", f"lambda torch, F, x: torch.{op}(x)", T(floats((4, 6), 20, specials=False), "float32", grad=True))
    suite.add(f"{op}-nan", f"lambda torch, F, x: torch.{op}(x, 1)", T(floats((4, 6), 21), "float32"))
    suite.add(f"{op}-dim-tuple", f"lambda torch, F, x: torch.{op}(x, 1, keepdim=True)",
              T(floats((4, 6), 22, specials=False), "float32", grad=True))
    # ties: the gradient goes to the returned index only
    ties = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [-1.0, -5.0, -5.0, -1.0]])
    suite.add(f"{op}-dim-ties-grad", f"lambda torch, F, x: torch.{op}(x, 1)", T(ties, "float64", grad=True))
    suite.add(f"{op}-values-indices", f"lambda torch, F, x: (lambda r: (r.values, r.indices))(x.{op}(dim=0))",
              T(floats((4, 6), 23, specials=False), "float32"))
    suite.add(f"{op}-int", f"lambda torch, F, x: x.{op}(0)", T(ints((4, 6), 24)))
    suite.add(f"arg{op}", f"lambda torch, F, x: (torch.arg{op}(x), torch.arg{op}(x, 1), x.arg{op}(0, keepdim=True))",
              T(floats((4, 6), 25, specials=False), "float32"))
    suite.add(f"arg{op}-nan", f"lambda torch, F, x: torch.arg{op}(x, 1)", T(floats((4, 6), 26), "float32"))
    suite.add(f"arg{op}-ties", f"lambda torch, F, x: torch.arg{op}(x, 1)", T(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])))
    suite.add(f"a{op}-ties-grad", f"lambda torch, F, x: torch.a{op}(x, 1)",
              T(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), "float64", grad=True))

# softmax family, at and above the element threshold
for op in ("softmax", "log_softmax"):
    for shape in ((3, 5), (64, 64), (2, 3, 700)):
        for dim in (0, -1):
            suite.add(f"{op}-{'x'.join(map(str, shape))}-d{dim}", f"lambda torch, F, x: F.{op}(x, dim={dim})",
                      T(floats(shape, 30, specials=False) * 4, "float32", grad=True))
    suite.add(f"{op}-inf", f"lambda torch, F, x: torch.{op}(x, 1)", T(np.array([[0.0, -np.inf, 1.0], [np.inf, 0.0, 1.0]]), "float32"))
    suite.add(f"{op}-f64-method", f"lambda torch, F, x: x.{op}(0)", T(floats((4, 5), 31, "float64", specials=False), "float64", grad=True))
    suite.add(f"{op}-transposed", f"lambda torch, F, x: x.t().{op}(1)", T(floats((5, 7), 32, specials=False), "float32", grad=True))

# scans: every dim, strided, specials (NaN/inf propagate along the scan), both sides of 4096
# elements, integer and bool inputs (promoted to int64), dtype=, zeros in cumprod's gradient
for op in ("cumsum", "cumprod"):
    for dim in (0, 1, -1):
        suite.add(f"{op}-d{dim}", f"lambda torch, F, x: torch.{op}(x, {dim})",
                  T(floats((3, 4, 5), 40, "float64", specials=False), "float64", grad=True))
    suite.add(f"{op}-method-strided", f"lambda torch, F, x: (x.t().{op}(1), x[::2, 1::2].{op}(dim=0))",
              T(floats((6, 7), 42, "float64", specials=False), "float64", grad=True))
    suite.add(f"{op}-specials", f"lambda torch, F, x: torch.{op}(x, 1)", T(floats((4, 12), 43), "float32"))
    for shape in ((63, 65), (64, 64)):
        suite.add(f"{op}-f32-{shape[0]}x{shape[1]}", f"lambda torch, F, x: torch.{op}(x, 0)",
                  T(floats(shape, 44, specials=False, low=0.5, high=1.5), "float32", grad=True), tol=(1e-4, 1e-5))
    for dt in ("int32", "int64"):
        suite.add(f"{op}-{dt}", f"lambda torch, F, x: x.{op}(1)", T(ints((3, 4), 41, -3, 4, dt)))
    suite.add(f"{op}-bool", f"lambda torch, F, x: torch.{op}(x, 0)", T(bools((4, 3), 45)))
    suite.add(f"{op}-dtype", f"lambda torch, F, x, i: (torch.{op}(x, 1, dtype=torch.float64), i.{op}(0, dtype=torch.float32))",
              T(floats((3, 4), 46, specials=False), "float32", grad=True), T(ints((3, 4), 47, -3, 4)))
    suite.add(f"{op}-0d-1d", f"lambda torch, F, x: (torch.{op}(x[0, 0], 0), torch.{op}(x[0], -1))",
              T(floats((2, 5), 48, "float64", specials=False), "float64", grad=True))
    suite.add(f"{op}-zeros-grad", f"lambda torch, F, x: torch.{op}(x, 1)",
              T(np.array([[1.0, 0.0, 2.0, 0.0], [0.0, 3.0, 4.0, 5.0], [2.0, 0.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]]),
                "float64", grad=True))


@pytest.mark.parametrize("case", suite.params())
def test_reductions(case, oracle):
    check(suite, oracle, case)
