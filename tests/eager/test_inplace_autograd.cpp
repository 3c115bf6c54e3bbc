// In-place writes under autograd (issue 12, item 11), as PyTorch: a write into a view of a
// non-leaf rebases the base's history (CopySlices), an in-place op whose gradient needs the value
// it overwrites keeps a copy of it, and what autograd cannot follow is refused at the call with a
// message naming it. Gradients are checked against central finite differences in float64.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "support/gradcheck.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

using Catch::Matchers::ContainsSubstring;

Tensor input(IntList shape, uint64_t seed) { return grad_input(make_input(shape, DType::Float64, seed, 0.5, 2.0)); }

void check_grads(const TensorFn& f, const std::vector<Tensor>& inputs) {
  const auto mismatch = gradcheck(f, inputs, {.eps = 1e-6, .atol = 1e-7, .rtol = 1e-6});
  INFO((mismatch ? *mismatch : std::string()));
  CHECK_FALSE(mismatch.has_value());
}

}  // namespace

TEST_CASE("in-place autograd: an op that needs the overwritten value keeps a copy of it", "[inplace_autograd]") {
  // y.mul_(t): dy/dt = old y. Before, the rule found y modified and backward always raised.
  check_grads(
      [](const std::vector<Tensor>& in) {
        Tensor y = in[0] * 2.0;
        mul_(y, in[1]);
        return std::vector<Tensor>{y};
      },
      {input({5}, 1), input({5}, 2)});
  check_grads(
      [](const std::vector<Tensor>& in) {
        Tensor y = sin(in[0]) + 2.0;  // sin keeps its input, not its output, which div_ overwrites
        div_(y, in[1]);
        mul_(y, y);  // both operands are the tensor being written
        clamp_(y, 0.1, 3.0);
        return std::vector<Tensor>{y};
      },
      {input({2, 3}, 3), input({3}, 4)});
  // By hand: y = 2x, y *= t: dL/dx = 2t, dL/dt = 2x.
  Tensor x = tensor(std::vector<double>{1, 2}).set_requires_grad(true);
  Tensor t = tensor(std::vector<double>{3, 5}).set_requires_grad(true);
  Tensor y = x * 2.0;
  mul_(y, t);
  sum(y).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{6, 10});
  CHECK(t.grad().to_vector<double>() == std::vector<double>{2, 4});
}

TEST_CASE("in-place autograd: writes into views of a non-leaf rebase the base's history", "[inplace_autograd]") {
  SECTION("add_ and mul_ through slices and views") {
    check_grads(
        [](const std::vector<Tensor>& in) {
          Tensor y = in[0] * 3.0;
          Tensor v = y.slice(0, 1, 4);
          add_(v, in[1]);
          mul_(reshape(y, {2, 3}).select(0, 1), in[1].slice(0, 0, 3));  // a view of the base, not of v
          return std::vector<Tensor>{sin(y), v * v};
        },
        {input({6}, 5), input({3}, 6)});
  }
  SECTION("a transposed column of a matrix, multiplied by the base's own values") {
    check_grads(
        [](const std::vector<Tensor>& in) {
          Tensor y = in[0] * in[0];
          Tensor col = y.t().select(0, 2);  // y[:, 2], strided
          mul_(col, in[1]);
          sub_(y.select(1, 0), col);  // column 0 -= column 2, both views of y: sub keeps no copy
          return std::vector<Tensor>{y};
        },
        {input({3, 4}, 7), input({3}, 8)});
  }
  SECTION("copy_ into a view, then a chain of in-place ops") {
    check_grads(
        [](const std::vector<Tensor>& in) {
          Tensor y = in[0] * in[0];
          copy_(y.slice(0, 0, 2), in[1] * 3.0);
          add_(y, 1.0);
          neg_(y.slice(0, 2, 4));
          clamp_(y.slice(0, 1, 4), -3.5, 6.0);
          relu_(y.slice(0, 1, 3));  // last: relu keeps its output, which a later write would change
          return std::vector<Tensor>{y};
        },
        {input({4, 2}, 9), input({2, 2}, 10)});
  }
  SECTION("a view made before the write sees it (its grad_fn follows the base)") {
    check_grads(
        [](const std::vector<Tensor>& in) {
          Tensor y = in[0] * 1.0;
          Tensor a = y.slice(0, 0, 3), b = y.slice(0, 2, 5);
          mul_(a, in[1]);  // changes b[0] too
          return std::vector<Tensor>{b * b, a};
        },
        {input({5}, 11), input({3}, 12)});
  }
  SECTION("by hand, and the base's grad_fn") {
    Tensor x = tensor(std::vector<double>{1, 2, 3}).set_requires_grad(true);
    Tensor t = tensor(std::vector<double>{10}).set_requires_grad(true);
    Tensor y = x * 1.0;
    Tensor v = y.slice(0, 1, 2);
    mul_(v, t);  // y = [x0, x1 * t, x2]
    CHECK(grad_fn_name(y) == "CopySlices(mul_backward)");
    sum(mul(y, y)).backward();
    CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 2 * 2 * 100, 6});  // d(x1 t)^2/dx1 = 2 x1 t^2
    CHECK(t.grad().to_vector<double>() == std::vector<double>{2 * 2 * 2 * 10});     // 2 x1^2 t
  }
}

TEST_CASE("in-place autograd: writing a tensor that requires grad into a view gives the base a history",
          "[inplace_autograd]") {
  // PyTorch: buf = zeros(4); buf[1:3].add_(t) makes buf require grad (CopySlices), and every view
  // of buf, made before or after, follows it.
  check_grads(
      [](const std::vector<Tensor>& in) {
        Tensor buf = zeros({4}, {.dtype = DType::Float64});
        Tensor a = buf.slice(0, 0, 2), b = buf.slice(0, 1, 3);
        copy_(a, in[0]);
        mul_(b, in[1]);
        return std::vector<Tensor>{buf * buf, a, b};
      },
      {input({2}, 13), input({2}, 14)});
  Tensor t = tensor(std::vector<double>{3, 4}).set_requires_grad(true);
  Tensor buf = zeros({3}, {.dtype = DType::Float64});
  Tensor row = buf.slice(0, 1, 3);
  CHECK_FALSE(row.requires_grad());
  copy_(row, t);
  CHECK(buf.requires_grad());
  CHECK(grad_fn_name(buf) == "CopySlices(cast_backward)");
  Tensor first = buf.slice(0, 0, 2);  // made after the write
  (sum(first * first) + sum(buf)).backward();
  CHECK(t.grad().to_vector<double>() == std::vector<double>{2 * 3 + 1, 1});
}

TEST_CASE("in-place autograd: second derivatives through a write into a view", "[inplace_autograd]") {
  const TensorFn f = [](const std::vector<Tensor>& in) {
    Tensor y = in[0] * in[0];
    mul_(y.slice(0, 1, 3), in[1]);
    add_(y.slice(0, 0, 2), sin(in[1]));
    return std::vector<Tensor>{y};
  };
  const auto mismatch = gradgradcheck(f, {input({4}, 15), input({2}, 16)});
  INFO((mismatch ? *mismatch : std::string()));
  CHECK_FALSE(mismatch.has_value());
}

TEST_CASE("in-place autograd: refused writes name the call", "[inplace_autograd]") {
  Tensor w = ones({3}, {.dtype = DType::Float64}).set_requires_grad(true);
  CHECK_THAT(error_message<ValueError>([&] { add_(w, 1.0); }),
             ContainsSubstring("add_: a leaf tensor that requires grad") && ContainsSubstring("clone"));
  CHECK_THAT(error_message<ValueError>([&] { copy_(w, zeros({3})); }), ContainsSubstring("copy_: a leaf tensor"));
  CHECK_THAT(error_message<ValueError>([&] { mul_(w.slice(0, 0, 2), 2.0); }),
             ContainsSubstring("mul_: a view of a leaf tensor that requires grad") && ContainsSubstring("clone"));
  CHECK_THAT(error_message<ValueError>([&] { copy_(w.select(0, 1), scalar(2.0, DType::Float64)); }),
             ContainsSubstring("copy_: a view of a leaf tensor") && !ContainsSubstring("cast"));
  CHECK(w.to_vector<double>() == std::vector<double>{1, 1, 1});
  {
    NoGradGuard no_grad;
    mul_(w.slice(0, 0, 2), 2.0);
  }
  CHECK(w.to_vector<double>() == std::vector<double>{2, 2, 1});
}

}  // namespace doppel::testing
