// The C++ side of the composite tensor API (einsum, dot/outer, lerp, addcmul/addcdiv, clamp with
// tensor bounds, masked_fill with a tensor value, tril/triu, movedim, unflatten, repeat,
// hstack/vstack): values against plain double loops, gradients against finite differences,
// errors by type. python_bindings/tests/test_tensor_api.py checks the same ops against numpy.
#include <cmath>
#include <limits>

#include "doppel/ops/einsum.h"
#include "doppel/ops/linalg_composite.h"
#include "doppel/ops/pointwise_composite.h"
#include "doppel/ops/shape_composite.h"
#include "support/gradcheck.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

std::vector<double> values(const Tensor& t) { return contiguous(t.to(DType::Float64)).to_vector<double>(); }

}  // namespace

TEST_CASE("einsum: batched matmul, ellipsis broadcast and implicit output against double loops", "[composites]") {
  const Tensor a = make_input({2, 3, 4}, DType::Float64, 1), b = make_input({4, 5}, DType::Float64, 2);
  const std::vector<double> av = values(a), bv = values(b);
  for (const char* eq : {"...ij,...jk->...ik", "bij,jk->bik", "bij,jk"}) {
    Tensor y = einsum(eq, {a, b});
    REQUIRE(y.shape() == Shape{2, 3, 5});
    const std::vector<double> got = values(y);
    for (int n = 0; n < 2; ++n)
      for (int i = 0; i < 3; ++i)
        for (int k = 0; k < 5; ++k) {
          double want = 0;
          for (int j = 0; j < 4; ++j) want += av[size_t((n * 3 + i) * 4 + j)] * bv[size_t(j * 5 + k)];
          CHECK(std::abs(got[size_t((n * 3 + i) * 5 + k)] - want) < 1e-12);
        }
  }
  // "ba,ab" (implicit, nothing left) is the trace of a @ b; "ij->" sums everything.
  const Tensor m = make_input({3, 4}, DType::Float64, 3), n = make_input({4, 3}, DType::Float64, 4);
  const std::vector<double> mv = values(m), nv = values(n);
  double trace = 0, total = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) {
      trace += mv[size_t(i * 4 + j)] * nv[size_t(j * 3 + i)];
      total += mv[size_t(i * 4 + j)];
    }
  CHECK(std::abs(einsum("ij,ji", {m, n}).item<double>() - trace) < 1e-12);
  CHECK(std::abs(einsum("ij->", {m}).item<double>() - total) < 1e-12);
  CHECK(einsum("ij->ji", {m}).shape() == Shape{4, 3});
}

TEST_CASE("einsum: gradients of a three-operand contraction match finite differences", "[composites]") {
  const std::vector<Tensor> in = {grad_input(make_input({2, 3}, DType::Float64, 5)),
                                  grad_input(make_input({4, 3, 5}, DType::Float64, 6)),
                                  grad_input(make_input({2, 5}, DType::Float64, 7))};
  auto err =
      gradcheck([](const std::vector<Tensor>& x) { return std::vector<Tensor>{einsum("bn,anm,bm->ba", x)}; }, in);
  INFO((err ? *err : ""));
  CHECK(!err);
}

TEST_CASE("einsum: bad equations raise typed errors naming the problem", "[composites]") {
  const Tensor a = zeros({2, 3}), b = zeros({4, 5});
  CHECK_THROWS_AS(einsum("ij,jk->ik", {a, b}), ShapeError);
  CHECK_THROWS_AS(einsum("ijk->i", {a}), ShapeError);
  CHECK_THROWS_AS(einsum("ij,jk", {a}), ValueError);
  CHECK_THROWS_AS(einsum("ii->i", {zeros({3, 4})}), ShapeError);  // a diagonal needs equal sizes
  CHECK(error_message<ValueError>([&] { einsum("ij->iz", {a}); }).find("'z'") != std::string::npos);
}

TEST_CASE("einsum: a subscript repeated in one operand takes its diagonal", "[composites]") {
  const Tensor m = arange(9.0).reshape({3, 3});  // diagonal 0, 4, 8
  CHECK(einsum("ii->i", {m}).to_vector<double>() == std::vector<double>{0, 4, 8});
  CHECK(einsum("ii", {m}).item<double>() == 12.0);  // implicit output: the trace
  const Tensor b = arange(18.0).reshape({2, 3, 3});
  CHECK(einsum("bii->bi", {b}).to_vector<double>() == std::vector<double>{0, 4, 8, 9, 13, 17});
  CHECK(einsum("iij,j->i", {arange(12.0).reshape({2, 2, 3}), ones({3})}).to_vector<double>() ==
        std::vector<double>{0 + 1 + 2, 9 + 10 + 11});
}

TEST_CASE("dot and outer: values and shape errors", "[composites]") {
  const Tensor a = tensor(std::vector<double>{1, 2, 3}), b = tensor(std::vector<double>{4, -5, 6});
  CHECK(dot(a, b).item<double>() == 12.0);
  CHECK(values(outer(a, b)) == std::vector<double>{4, -5, 6, 8, -10, 12, 12, -15, 18});
  CHECK_THROWS_AS(dot(a, zeros({2}, {.dtype = DType::Float64})), ShapeError);
  CHECK_THROWS_AS(outer(zeros({2, 2}), a), ShapeError);
}

TEST_CASE("lerp: PyTorch's two-branch formula, exact at weight 1, gradients", "[composites]") {
  const Tensor s = tensor(std::vector<double>{1, -2, 1e8}), e = tensor(std::vector<double>{3, 5, 1});
  CHECK(values(lerp(s, e, 1.0)) == std::vector<double>{3, 5, 1});
  CHECK(values(lerp(s, e, 0.25)) == std::vector<double>{1.5, -0.25, 1e8 + 0.25 * (1 - 1e8)});
  const Tensor w = tensor(std::vector<double>{0.0, 0.6, 1.0});
  CHECK(values(lerp(s, e, w)) == std::vector<double>{1, 5 - 7 * 0.4, 1});
  auto err = gradcheck([](const std::vector<Tensor>& x) { return std::vector<Tensor>{lerp(x[0], x[1], x[2])}; },
                       {grad_input(tensor(std::vector<double>{1, -2, 0.5})), grad_input(e),
                        grad_input(tensor(std::vector<double>{0.2, 0.7, -0.1}))});
  INFO((err ? *err : ""));
  CHECK(!err);
}

TEST_CASE("addcmul and addcdiv", "[composites]") {
  const Tensor x = tensor(std::vector<double>{1, 2}), a = tensor(std::vector<double>{3, 4}),
               b = tensor(std::vector<double>{2, 8});
  CHECK(values(addcmul(x, a, b, 0.5)) == std::vector<double>{4, 18});
  CHECK(values(addcdiv(x, a, b)) == std::vector<double>{2.5, 2.5});
}

TEST_CASE("clamp with tensor bounds: NaN propagates, gradients as PyTorch", "[composites]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x = tensor(std::vector<double>{-2, 0.5, 3, nan, 1, 0.5}).set_requires_grad(true);
  Tensor lo = tensor(std::vector<double>{-1, nan, 0, 0, 1, 2}).set_requires_grad(true);
  Tensor hi = tensor(std::vector<double>{1, 1, 2, 1, 1, 1}).set_requires_grad(true);
  Tensor y = clamp(x, lo, hi);
  const std::vector<double> v = values(y);
  CHECK(v[0] == -1);
  CHECK(std::isnan(v[1]));
  CHECK(v[2] == 2);
  CHECK(std::isnan(v[3]));
  CHECK(v[4] == 1);
  CHECK(v[5] == 1);  // min > max gives max
  auto g = grad({sum(y)}, {x, lo, hi});
  CHECK(values(g[1]) == std::vector<double>{1, 0, 0, 0, 0, 0});
  CHECK(values(g[2]) == std::vector<double>{0, 0, 1, 0, 0, 1});
  CHECK(values(g[0])[4] == 1);  // a tie keeps x
  CHECK(values(clamp(x.detach(), Tensor{}, tensor(std::vector<double>{0})))[2] == 0);
  CHECK_THROWS_AS(clamp(x, Tensor{}, Tensor{}), ValueError);
}

TEST_CASE("masked_fill with a 0-d tensor value: dtype of the input, gradient to the value", "[composites]") {
  Tensor v = scalar(3.0, DType::Float64).set_requires_grad(true);
  Tensor x = zeros({3}, {.dtype = DType::Float64}).set_requires_grad(true);
  const Tensor mask = tensor(std::vector<bool>{true, false, true});
  Tensor y = masked_fill(x, mask, v);
  CHECK(values(y) == std::vector<double>{3, 0, 3});
  auto g = grad({sum(y)}, {x, v});
  CHECK(values(g[0]) == std::vector<double>{0, 1, 0});
  CHECK(g[1].item<double>() == 2.0);
  CHECK(masked_fill(zeros({3}, {.dtype = DType::Int64}), mask, scalar(2.7)).to_vector<int64_t>() ==
        std::vector<int64_t>{2, 0, 2});
  CHECK_THROWS_AS(masked_fill(x, mask, zeros({1})), ShapeError);
}

TEST_CASE("tril and triu: offsets on both sides of the diagonal, batches", "[composites]") {
  const Tensor a = make_input({2, 3, 4}, DType::Float64, 9);
  const std::vector<double> av = values(a);
  for (int64_t k : {-3, -1, 0, 2, 4}) {
    const std::vector<double> lo = values(tril(a, k)), up = values(triu(a, k));
    for (int n = 0; n < 2; ++n)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j) {
          const size_t at = size_t((n * 3 + i) * 4 + j);
          CHECK(lo[at] == (j - i <= k ? av[at] : 0.0));
          CHECK(up[at] == (j - i >= k ? av[at] : 0.0));
        }
  }
  CHECK_THROWS_AS(tril(zeros({3})), ShapeError);
}

TEST_CASE("movedim, unflatten, repeat, unbind, hstack, vstack: shapes and values", "[composites]") {
  const Tensor a = arange(0, 24, 1, TensorOptions{.dtype = DType::Float64}).reshape({2, 3, 4});
  CHECK(movedim(a, {0, 1}, {2, 0}).shape() == Shape{3, 4, 2});
  CHECK(movedim(a, {-1}, {0}).shape() == Shape{4, 2, 3});
  CHECK(values(movedim(a, {2}, {0}).select(0, 1)) == values(a.select(2, 1)));
  CHECK_THROWS_AS(movedim(a, {0, 0}, {1, 2}), ValueError);
  CHECK(unflatten(a, -1, {2, -1}).shape() == Shape{2, 3, 2, 2});
  CHECK_THROWS_AS(unflatten(a, 1, {2, 2}), ShapeError);
  const Tensor m = tensor(std::vector<double>{1, 2, 3, 4}, {2, 2});
  CHECK(values(repeat(m, {1, 2})) == std::vector<double>{1, 2, 1, 2, 3, 4, 3, 4});
  CHECK(values(repeat(m, {2, 1, 1})) == std::vector<double>{1, 2, 3, 4, 1, 2, 3, 4});
  CHECK(repeat(m, {2, 1, 1}).shape() == Shape{2, 2, 2});
  CHECK_THROWS_AS(repeat(m, {2}), ShapeError);
  auto err = gradcheck(
      [](const std::vector<Tensor>& x) {
        return std::vector<Tensor>{repeat(x[0], {3, 1, 2})};
      },
      {grad_input(m)});
  CHECK(!err);
  CHECK(unbind(a, 1).size() == 3);
  CHECK(values(unbind(a, 1)[2]) == values(a.select(1, 2)));
  CHECK(hstack({m, m}).shape() == Shape{2, 4});
  CHECK(hstack({tensor(std::vector<double>{1}), scalar(2.0, DType::Float64)}).shape() == Shape{2});
  CHECK(vstack({tensor(std::vector<double>{1, 2}), m}).shape() == Shape{3, 2});
  CHECK(matrix_transpose(a).shape() == Shape{2, 4, 3});
}

}  // namespace doppel::testing
