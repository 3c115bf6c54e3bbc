"""topk, sort, argsort, multinomial, tril_/triu_ against PyTorch (issue 17): every dim, largest
and smallest, both sides of topk's heap threshold (k * 16 <= n), k = 0 and k = n, strided
inputs, NaN/±inf/denormals/±0 (values only where torch's order of ties is unspecified), stable
sorts of tied integers, bool, gradients, and the generation shape [2, 50257]. Ties: torch 1.13's
unstable order is unspecified, doppel's is lower index first, so cases with ties compare values
or use stable=True. multinomial's draws come from another random stream: its refusals are
compared (the statistics are in python_bindings/tests/test_sort_select.py)."""
import numpy as np
import pytest

from harness import Suite, T, check
from inputs import floats, ints, bools

suite = Suite("sorting")

# topk: tie-free float inputs, indices and values, with gradients
for dim in (0, 1, -1):
    suite.add(f"topk-d{dim}", f"lambda torch, F, x: torch.topk(x, 3, {dim})",
              T(floats((5, 6, 7), 1, "float64", specials=False), "float64", grad=True))
    suite.add(f"topk-smallest-d{dim}", f"lambda torch, F, x: x.topk(2, dim={dim}, largest=False)",
              T(floats((5, 6, 7), 2, specials=False), "float32", grad=True))
for k in (4, 5, 63, 64, 0):  # n = 64: k = 4 scans with the heap, k = 5 selects
    suite.add(f"topk-k{k}", f"lambda torch, F, x: (torch.topk(x, {k}), torch.topk(x, {k}, largest=False))",
              T(floats((3, 64), 3, specials=False), "float32", grad=True))
suite.add("topk-strided", "lambda torch, F, x: (x.t().topk(2), x[:, ::2].topk(3, 0))",
          T(floats((6, 8), 4, specials=False), "float32", grad=True))
suite.add("topk-unsorted-values", "lambda torch, F, x: torch.topk(x, 4, sorted=False).values.sort().values",
          T(floats((3, 9), 5, specials=False), "float32"))
suite.add("topk-specials-values", "lambda torch, F, x: (torch.topk(x, 6).values, x.topk(6, largest=False).values)",
          T(floats((2, 24), 6), "float32"))
suite.add("topk-specials-indices", "lambda torch, F, x: torch.topk(x, 3, 1)",
          T(np.array([[1.0, np.nan, -np.inf, 2.0, np.inf, 1e-40], [-1.0, 5.0, 1e-40, -1e-40, np.inf, 3.0]]), "float32"))
suite.add("topk-generation-shape", "lambda torch, F, x: torch.topk(x, 50)", T(floats((2, 50257), 7, specials=False), "float32"))
suite.add("topk-int", "lambda torch, F, x: x.topk(3).values", T(ints((4, 9), 8)))
suite.add("topk-0d", "lambda torch, F, x: (torch.topk(x[0], 1), torch.topk(x[0], 0))", T(floats((1,), 9, "float64", specials=False), "float64"))
suite.add("topk-k-too-large", "lambda torch, F, x: torch.topk(x, 5)", T(floats((4,), 10), "float32"), must_raise=True,
          error_says="topk")

# sort / argsort
for dim in (0, 1, -1):
    for desc in (False, True):
        suite.add(f"sort-d{dim}-desc{desc}", f"lambda torch, F, x: torch.sort(x, {dim}, descending={desc})",
                  T(floats((4, 5, 6), 11, "float64", specials=False), "float64", grad=True))
suite.add("sort-method-strided", "lambda torch, F, x: (x.t().sort(), x[::2].sort(0, True))",
          T(floats((6, 7), 12, specials=False), "float32", grad=True))
suite.add("sort-specials-values", "lambda torch, F, x: (x.sort(1).values, x.sort(1, descending=True).values)",
          T(floats((3, 24), 13), "float32"))
suite.add("sort-nan-inf-indices", "lambda torch, F, x: (x.sort(), x.sort(descending=True))",
          T(np.array([3.0, np.nan, -np.inf, 1e-40, np.inf, -2.0, 0.0]), "float32"))
for dt in ("float32", "float64", "bfloat16", "float16"):
    suite.add(f"sort-{dt}", "lambda torch, F, x: torch.sort(x, -1, descending=True)",
              T(floats((4, 10), 14, dt, specials=False), dt))
for dt in ("int64", "int32"):
    suite.add(f"sort-stable-{dt}", "lambda torch, F, x: (torch.sort(x, stable=True), torch.sort(x, stable=True, dim=0, descending=True))",
              T(ints((6, 9), 15, -3, 4, dt)))
suite.add("sort-stable-bool", "lambda torch, F, x: (x.sort(stable=True, dim=1), x.sort(stable=True, descending=True))",
          T(bools((5, 7), 16)))
suite.add("sort-stable-float-ties", "lambda torch, F, x: torch.sort(x, stable=True, descending=True)",
          T(np.array([[1.0, 2.0, 1.0, -0.0, 0.0, 2.0, np.nan, np.nan]]), "float64", grad=True))
suite.add("sort-generation-shape", "lambda torch, F, x: torch.sort(x, descending=True, stable=True)",
          T(floats((2, 50257), 17, specials=False), "float32"))
suite.add("sort-empty-0d", "lambda torch, F, x: (torch.sort(x[:0], 0), torch.sort(x[0]))",
          T(floats((3,), 18, "float64", specials=False), "float64"))
suite.add("argsort", "lambda torch, F, x: (torch.argsort(x), x.argsort(0, True), torch.argsort(x, dim=1, descending=True))",
          T(floats((5, 6), 19, specials=False), "float32"))
suite.add("argsort-stable", "lambda torch, F, x: torch.argsort(x, stable=True)", T(ints((3, 20), 20, 0, 3)))

# multinomial: the refusals (the draws are random)
for cid, w, call in (("negative", [[1.0, -1.0]], "torch.multinomial(x, 1)"),
                     ("nan", [[1.0, np.nan]], "x.multinomial(1, True)"),
                     ("zero-row", [[0.0, 0.0]], "torch.multinomial(x, 1)"),
                     ("too-many", [[1.0, 1.0, 0.5]], "torch.multinomial(x, 4)"),
                     ("no-samples", [[1.0, 1.0]], "torch.multinomial(x, 0)"),
                     ("3d", [[[1.0, 1.0]]], "torch.multinomial(x, 1)")):
    suite.add(f"multinomial-{cid}", f"lambda torch, F, x: {call}", T(np.array(w), "float32"), must_raise=True)
suite.add("multinomial-int", "lambda torch, F, x: torch.multinomial(x, 1)", T(ints((2, 3), 21, 1, 3)), must_raise=True)

# tril_ / triu_ (tril / triu themselves: test_shape_index.py)
suite.add("tril_-triu_", "lambda torch, F, x: (x.clone().tril_(), x.clone().triu_(1), x.clone().tril_(diagonal=-1))",
          T(floats((2, 4, 5), 22, "float64", specials=False), "float64", grad=True))
suite.add("tril-triu-large-f32", "lambda torch, F, x: (x.tril(2), torch.triu(x, -3))", T(floats((3, 70, 70), 23), "float32", grad=True))
suite.add("tril-triu-int-bool", "lambda torch, F, x, b: (x.tril(1), b.triu(), torch.tril(b, -1))",
          T(ints((4, 4), 24)), T(bools((2, 3, 3), 25)))


@pytest.mark.parametrize("case", suite.params())
def test_sorting(case, oracle):
    check(suite, oracle, case)
