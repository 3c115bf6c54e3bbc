// Targeted gradient tests of the elementwise rules: PyTorch's conventions at kinks and ties,
// derivatives against hand-written formulas, dtypes of gradients, and routing. The generic
// op-spec test gradchecks every rule against finite differences; these pin down the values
// finite differences cannot see (kinks, ties, infinities, zero gradients).
#include <cmath>
#include <functional>
#include <limits>

#include <catch2/catch_approx.hpp>

#include "doppel/kernels/kernel_table.h"
#include "support/gradcheck.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

using UnaryFn = std::function<Tensor(const Tensor&)>;

// d/dx sum(f(x)) at each point, in float64.
std::vector<double> derivative(const UnaryFn& f, const std::vector<double>& xs) {
  Tensor x = tensor(xs).set_requires_grad(true);
  return grad({sum(f(x))}, {x})[0].to_vector<double>();
}

// d²/dx² sum(f(x)) at each point, through create_graph.
std::vector<double> second_derivative(const UnaryFn& f, const std::vector<double>& xs) {
  Tensor x = tensor(xs).set_requires_grad(true);
  Tensor g = grad({sum(f(x))}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
  // relu's gradient does not depend on x at all (as in PyTorch, it has no grad_fn).
  if (!g.requires_grad()) return std::vector<double>(xs.size(), 0.0);
  return grad({sum(g)}, {x})[0].to_vector<double>();
}

void check_against(const std::string& what, const UnaryFn& f, const std::function<double(double)>& df,
                   const std::vector<double>& xs, double tol = 1e-12) {
  const std::vector<double> got = derivative(f, xs);
  for (size_t i = 0; i < xs.size(); ++i) {
    const double want = df(xs[i]);
    INFO(what << " at x = " << xs[i] << ": got " << got[i] << " want " << want);
    CHECK(std::fabs(got[i] - want) <= tol * (1 + std::fabs(want)));
  }
}

double sigmoid_d(double x) { return 1 / (1 + std::exp(-x)); }

const std::vector<double> kPoints = {-3.5, -1.25, -0.3, 0.2, 0.9, 2.75};

}  // namespace

TEST_CASE("grad elementwise: kinks follow PyTorch (relu'(0) = abs'(0) = 0, sign/floor/... zero)",
          "[grad_elementwise]") {
  CHECK(derivative([](const Tensor& x) { return relu(x); }, {-1, 0, 2}) == std::vector<double>{0, 0, 1});
  CHECK(derivative([](const Tensor& x) { return abs(x); }, {-1, 0, 2}) == std::vector<double>{-1, 0, 1});
  CHECK(derivative([](const Tensor& x) { return leaky_relu(x, 0.2); }, {-1, 0, 2}) == std::vector<double>{0.2, 0.2, 1});
  CHECK(derivative([](const Tensor& x) { return elu(x, 0.5); }, {0, 2}) == std::vector<double>{0.5, 1});
  // Piecewise-constant ops keep the graph (their outputs require grad) with a zero gradient.
  for (auto f : {+[](const Tensor& x) { return floor(x); }, +[](const Tensor& x) { return ceil(x); },
                 +[](const Tensor& x) { return round(x); }, +[](const Tensor& x) { return sign(x); }}) {
    Tensor x = tensor(std::vector<double>{-1.5, 0.0, 0.4, 2.0}).set_requires_grad(true);
    Tensor y = f(x);
    CHECK(y.requires_grad());
    CHECK(grad({sum(y)}, {x})[0].to_vector<double>() == std::vector<double>{0, 0, 0, 0});
    CHECK(derivative([&](const Tensor& t) { return t * 3.0 + f(t); }, {0.25, 1.0}) == std::vector<double>{3, 3});
  }
  // relu_ in place masks by its output, so a non-leaf can be rectified in place and still backward.
  Tensor a = tensor(std::vector<double>{-2, 0.5, 3}).set_requires_grad(true);
  Tensor b = a * 2.0;
  relu_(b);
  sum(b).backward();
  CHECK(a.grad().to_vector<double>() == std::vector<double>{0, 2, 2});
}

namespace {

// n elements of dtype `dt`: a NaN, then 0.5, -0.25, 3, -2, 0.5, ... (never 0); the
// gradient flowing in is 0.3 + i/n at element i, so each element's gradient is recognisable.
struct NanCase {
  Tensor x, g;
};
NanCase nan_case(int64_t n, DType dt) {
  std::vector<double> xv(static_cast<size_t>(n)), gv(static_cast<size_t>(n));
  const double pattern[] = {-2.0, 0.5, -0.25, 3.0};
  for (int64_t i = 0; i < n; ++i) {
    xv[size_t(i)] = i == 0 ? std::numeric_limits<double>::quiet_NaN() : pattern[i % 4];
    gv[size_t(i)] = 0.3 + double(i) / double(n);
  }
  return {to_dtype(tensor(xv), dt).set_requires_grad(true), to_dtype(tensor(gv), dt)};
}

}  // namespace

// PyTorch 1.13: relu passes the gradient at a NaN input (threshold_backward masks with
// y <= 0, false for NaN) and abs's gradient there is g · sign(NaN) = 0; elu's is NaN (PyTorch's
// vectorized loop; see elu_back). Sizes on both sides of oneDNN's 4096-element threshold;
// contiguous float32 relu at 4096+ is issue 12 item 2 (oneDNN's relu(NaN) = 0), so float32
// stops below it and float64 covers the large size.
TEST_CASE("grad elementwise: a NaN input gets PyTorch's gradient (relu passes it, abs 0, elu NaN)",
          "[grad_elementwise]") {
  const std::vector<std::pair<DType, int64_t>> cases = {
      {DType::Float32, 15}, {DType::Float32, 4095}, {DType::Float64, 15}, {DType::Float64, 4096}};
  for (auto [dt, n] : cases) {
    const NanCase c = nan_case(n, dt);
    const std::vector<double> gv = c.g.to_vector<double>(), xv = c.x.to_vector<double>();
    INFO(dtype_name(dt) << " n = " << n);
    const std::vector<double> relu_g = grad({relu(c.x)}, {c.x}, {c.g})[0].to_vector<double>();
    const std::vector<double> elu_g = grad({elu(c.x, 0.7)}, {c.x}, {c.g})[0].to_vector<double>();
    const std::vector<double> abs_g = grad({abs(c.x)}, {c.x}, {c.g})[0].to_vector<double>();
    CHECK(relu_g[0] == gv[0]);
    CHECK(std::isnan(elu_g[0]));
    CHECK(abs_g[0] == 0.0);
    // The other elements keep the ordinary derivative (float32 tolerance for elu's exp).
    for (size_t i = 1; i < 8; ++i) {
      CHECK(relu_g[i] == (xv[i] > 0 ? gv[i] : 0.0));
      CHECK(abs_g[i] == (xv[i] > 0 ? gv[i] : -gv[i]));
      const double want = xv[i] > 0 ? gv[i] : gv[i] * 0.7 * std::exp(xv[i]);
      CHECK(std::fabs(elu_g[i] - want) <= 1e-6 * (1 + std::fabs(want)));
    }
  }
  // A transposed (non-contiguous) float32 input takes the same rules.
  Tensor xt = transpose(reshape(nan_case(64 * 64, DType::Float32).x.detach(), {64, 64}), 0, 1).set_requires_grad(true);
  CHECK(grad({sum(relu(xt))}, {xt})[0].to_vector<double>()[0] == 1.0);
}

TEST_CASE("grad elementwise: clamp passes the gradient where min <= x <= max, bounds included", "[grad_elementwise]") {
  const std::vector<double> xs = {-2, -1, 0, 1.5, 2};
  CHECK(derivative([](const Tensor& x) { return clamp(x, Scalar(-1.0), Scalar(1.5)); }, xs) ==
        std::vector<double>{0, 1, 1, 1, 0});
  CHECK(derivative([](const Tensor& x) { return clamp(x, Scalar(0.0), std::nullopt); }, xs) ==
        std::vector<double>{0, 0, 1, 1, 1});
  CHECK(derivative([](const Tensor& x) { return clamp(x, std::nullopt, Scalar(0.0)); }, xs) ==
        std::vector<double>{1, 1, 1, 0, 0});
  // min > max: the output is max everywhere, so nothing depends on x.
  CHECK(derivative([](const Tensor& x) { return clamp(x, Scalar(2.0), Scalar(1.0)); }, xs) ==
        std::vector<double>{0, 0, 0, 0, 0});
}

TEST_CASE("grad elementwise: maximum/minimum split ties 0.5/0.5 and broadcast", "[grad_elementwise]") {
  for (bool is_max : {true, false}) {
    Tensor a = tensor(std::vector<double>{1, 2, 3}).set_requires_grad(true);
    Tensor b = tensor(std::vector<double>{1, 3, 2}).set_requires_grad(true);
    auto g = grad({sum(is_max ? maximum(a, b) : minimum(a, b))}, {a, b});
    INFO((is_max ? "maximum" : "minimum"));
    CHECK(g[0].to_vector<double>() == (is_max ? std::vector<double>{0.5, 0, 1} : std::vector<double>{0.5, 1, 0}));
    CHECK(g[1].to_vector<double>() == (is_max ? std::vector<double>{0.5, 1, 0} : std::vector<double>{0.5, 0, 1}));
  }
  // A [1] operand against [4]: its gradient sums the elements it wins plus half of its ties.
  Tensor a = tensor(std::vector<double>{0, 1, 2, 3}).set_requires_grad(true);
  Tensor s = tensor(std::vector<double>{1.0}).set_requires_grad(true);
  auto g = grad({sum(maximum(a, s))}, {a, s});
  CHECK(g[0].to_vector<double>() == std::vector<double>{0, 0.5, 1, 1});
  CHECK(g[1].shape() == Shape{1});
  CHECK(g[1].item<double>() == 1.5);
  // A wrapped C++ number has no gradient; the tensor side still gets half of a tie.
  CHECK(derivative([](const Tensor& x) { return maximum(x, 1.0); }, {0.5, 1.0, 2.0}) == std::vector<double>{0, 0.5, 1});
}

TEST_CASE("grad elementwise: pow with tensor and number exponents, base 0", "[grad_elementwise]") {
  Tensor a = tensor(std::vector<double>{0, 0, 2, 0}).set_requires_grad(true);
  Tensor b = tensor(std::vector<double>{2, 0, 3, 0.5}).set_requires_grad(true);
  auto g = grad({sum(pow(a, b))}, {a, b});
  const auto ga = g[0].to_vector<double>(), gb = g[1].to_vector<double>();
  CHECK(ga[0] == 0);                                        // 2 * 0^1
  CHECK(ga[1] == 0);                                        // exponent 0: 0, not 0 * 0^-1 = NaN
  CHECK(ga[2] == 12);                                       // 3 * 2^2
  CHECK(ga[3] == std::numeric_limits<double>::infinity());  // 0.5 * 0^-0.5
  CHECK(gb[0] == 0);                                        // base 0, exponent >= 0: 0, not 0 * log(0)
  CHECK(gb[1] == 0);
  CHECK(gb[2] == Catch::Approx(8 * std::log(2.0)).epsilon(1e-14));
  CHECK(gb[3] == 0);
  CHECK(derivative([](const Tensor& x) { return pow(x, 2.0); }, {-1.5, 0, 3}) == std::vector<double>{-3, 0, 6});
  CHECK(derivative([](const Tensor& x) { return pow(x, int64_t(3)); }, {-1, 2}) == std::vector<double>{3, 12});
  CHECK(derivative([](const Tensor& x) { return pow(x, 0.0); }, {0, 2}) == std::vector<double>{0, 0});
  check_against(
      "2^x", [](const Tensor& x) { return pow(2.0, x); }, [](double x) { return std::pow(2.0, x) * std::log(2.0); },
      kPoints);
  // Second derivative with a tensor exponent: d²/da² a^b = b (b-1) a^(b-2).
  Tensor e = tensor(std::vector<double>{2.5, 3.0});
  const auto d2 = second_derivative([&](const Tensor& x) { return pow(x, e); }, {1.5, 2.0});
  CHECK(d2[0] == Catch::Approx(2.5 * 1.5 * std::pow(1.5, 0.5)).epsilon(1e-12));
  CHECK(d2[1] == Catch::Approx(3.0 * 2.0 * 2.0).epsilon(1e-12));
}

TEST_CASE("grad elementwise: where routes the gradient to the branch taken", "[grad_elementwise]") {
  Tensor cond = tensor(std::vector<bool>{true, false, true, false});
  Tensor a = tensor(std::vector<double>{1, 2, 3, 4}).set_requires_grad(true);
  Tensor b = tensor(std::vector<double>{10}).set_requires_grad(true);
  auto g = grad({sum(where(cond, a * a, b))}, {a, b});
  CHECK(g[0].to_vector<double>() == std::vector<double>{2, 0, 6, 0});
  CHECK(g[1].to_vector<double>() == std::vector<double>{2});  // broadcast [1] summed over the false slots
  CHECK(derivative([&](const Tensor& x) { return where(cond, 0.5, x); }, {1, 2, 3, 4}) ==
        std::vector<double>{0, 1, 0, 1});
}

TEST_CASE("grad elementwise: infinities at the domain edge (sqrt at 0, log at 0, rsqrt at 0)", "[grad_elementwise]") {
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(derivative([](const Tensor& x) { return sqrt(x); }, {0.0, 4.0}) == std::vector<double>{inf, 0.25});
  CHECK(derivative([](const Tensor& x) { return log(x); }, {0.0}) == std::vector<double>{inf});
  CHECK(derivative([](const Tensor& x) { return rsqrt(x); }, {0.0}) == std::vector<double>{-inf});
  CHECK(derivative([](const Tensor& x) { return reciprocal(x); }, {0.0}) == std::vector<double>{-inf});
}

TEST_CASE("grad elementwise: derivatives match hand formulas", "[grad_elementwise]") {
  check_against(
      "exp", [](const Tensor& x) { return exp(x); }, [](double x) { return std::exp(x); }, kPoints);
  check_against(
      "sin", [](const Tensor& x) { return sin(x); }, [](double x) { return std::cos(x); }, kPoints);
  check_against(
      "cos", [](const Tensor& x) { return cos(x); }, [](double x) { return -std::sin(x); }, kPoints);
  check_against(
      "tanh", [](const Tensor& x) { return tanh(x); }, [](double x) { return 1 / (std::cosh(x) * std::cosh(x)); },
      kPoints);
  check_against(
      "sigmoid", [](const Tensor& x) { return sigmoid(x); }, [](double x) { return sigmoid_d(x) * (1 - sigmoid_d(x)); },
      kPoints);
  check_against(
      "silu", [](const Tensor& x) { return silu(x); },
      [](double x) { return sigmoid_d(x) + x * sigmoid_d(x) * (1 - sigmoid_d(x)); }, kPoints);
  check_against(
      "erf", [](const Tensor& x) { return erf(x); }, [](double x) { return 2 / std::sqrt(M_PI) * std::exp(-x * x); },
      kPoints);
  check_against(
      "elu", [](const Tensor& x) { return elu(x, 1.7); }, [](double x) { return x > 0 ? 1 : 1.7 * std::exp(x); },
      kPoints);
  check_against(
      "leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.05); }, [](double x) { return x > 0 ? 1 : 0.05; },
      kPoints);
  const std::vector<double> pos = {0.05, 0.5, 1, 2.5, 9};
  check_against(
      "log", [](const Tensor& x) { return log(x); }, [](double x) { return 1 / x; }, pos);
  check_against(
      "log1p", [](const Tensor& x) { return log1p(x); }, [](double x) { return 1 / (1 + x); }, {-0.5, 0, 1e-8, 3});
  check_against(
      "sqrt", [](const Tensor& x) { return sqrt(x); }, [](double x) { return 0.5 / std::sqrt(x); }, pos);
  check_against(
      "rsqrt", [](const Tensor& x) { return rsqrt(x); }, [](double x) { return -0.5 * std::pow(x, -1.5); }, pos);
  check_against(
      "reciprocal", [](const Tensor& x) { return reciprocal(x); }, [](double x) { return -1 / (x * x); },
      {-2, -0.5, 0.25, 3});
  // tanh' from the saved output stays exact where tanh saturates (1 - y² = 0, not negative).
  CHECK(derivative([](const Tensor& x) { return tanh(x); }, {30.0, -30.0}) == std::vector<double>{0, 0});
}

TEST_CASE("grad elementwise: gelu (erf and tanh forms) against its derivative formula", "[grad_elementwise]") {
  const std::vector<double> xs = {-4, -1.5, -0.5, 0, 0.3, 1, 2.2, 5};
  check_against(
      "gelu erf", [](const Tensor& x) { return gelu(x); },
      [](double x) {
        return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
      },
      xs);
  check_against(
      "gelu tanh", [](const Tensor& x) { return gelu(x, true); },
      [](double x) {
        const double k = std::sqrt(2 / M_PI), c = 0.044715;
        const double t = std::tanh(k * (x + c * x * x * x));
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * c * x * x);
      },
      xs);
  // The two forms agree to ~1e-3, as the forward ones do.
  const auto e = derivative([](const Tensor& x) { return gelu(x); }, xs);
  const auto t = derivative([](const Tensor& x) { return gelu(x, true); }, xs);
  for (size_t i = 0; i < xs.size(); ++i) CHECK(std::fabs(e[i] - t[i]) < 2e-3);
}

TEST_CASE("grad elementwise: softplus is linear above its threshold", "[grad_elementwise]") {
  // beta 2, threshold 1: beta x > 1 is the linear region (gradient 1); at beta x == 1 it is not.
  const auto d = derivative([](const Tensor& x) { return softplus(x, 2.0, 1.0); }, {0.75, 0.5, 0.25, -3});
  CHECK(d[0] == 1);
  CHECK(d[1] == Catch::Approx(sigmoid_d(1.0)).epsilon(1e-14));
  CHECK(d[2] == Catch::Approx(sigmoid_d(0.5)).epsilon(1e-14));
  CHECK(d[3] == Catch::Approx(sigmoid_d(-6.0)).epsilon(1e-14));
  check_against(
      "softplus default", [](const Tensor& x) { return softplus(x); }, sigmoid_d, kPoints);
  CHECK(derivative([](const Tensor& x) { return softplus(x); }, {25.0}) == std::vector<double>{1});
}

TEST_CASE("grad elementwise: second derivatives through the saved output", "[grad_elementwise]") {
  const std::vector<double> xs = {-1.3, 0.1, 2.0};
  auto check2 = [&](const std::string& what, const UnaryFn& f, const std::function<double(double)>& d2f) {
    const auto got = second_derivative(f, xs);
    for (size_t i = 0; i < xs.size(); ++i) {
      INFO(what << " at " << xs[i]);
      CHECK(got[i] == Catch::Approx(d2f(xs[i])).epsilon(1e-12).margin(1e-14));
    }
  };
  check2(
      "tanh", [](const Tensor& x) { return tanh(x); },
      [](double x) {
        const double y = std::tanh(x);
        return -2 * y * (1 - y * y);
      });
  check2(
      "sigmoid", [](const Tensor& x) { return sigmoid(x); },
      [](double x) {
        const double s = sigmoid_d(x);
        return s * (1 - s) * (1 - 2 * s);
      });
  check2(
      "exp", [](const Tensor& x) { return exp(x); }, [](double x) { return std::exp(x); });
  check2(
      "relu", [](const Tensor& x) { return relu(x); }, [](double) { return 0.0; });
  check2(
      "abs", [](const Tensor& x) { return abs(x); }, [](double) { return 0.0; });
}

TEST_CASE("grad elementwise: rules with C++-number operands pass gradcheck and gradgradcheck", "[grad_elementwise]") {
  // The op-spec gradcheck turns wrapped numbers into 0-d tensors; these keep them wrapped, which
  // takes pow's constant-exponent path and mixes a wrapped float64 into every rule.
  const std::vector<UnaryFn> fns = {[](const Tensor& x) { return pow(x, 2.5); },
                                    [](const Tensor& x) { return pow(x, int64_t(3)); },
                                    [](const Tensor& x) { return pow(x, 0.0) * x; },
                                    [](const Tensor& x) { return pow(1.7, x); },
                                    [](const Tensor& x) { return 2.5 / x; },
                                    [](const Tensor& x) { return x / 2.5 - 1.0; },
                                    [](const Tensor& x) { return maximum(x, 0.3); },
                                    [](const Tensor& x) { return minimum(-0.2, x); },
                                    [](const Tensor& x) { return where(x > 1.0, x * x, 0.5); },
                                    [](const Tensor& x) { return clamp(x * x, Scalar(0.5), Scalar(2.0)); }};
  for (size_t k = 0; k < fns.size(); ++k) {
    INFO("fn " << k);
    TensorFn f = [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{fns[k](in[0])}; };
    std::vector<Tensor> in = {grad_input(make_input({3, 4}, DType::Float64, 20 + k, 0.2, 2.5))};
    auto r = gradcheck(f, in);
    INFO(r.value_or(""));
    CHECK(!r);
    auto rr = gradgradcheck(f, in);
    INFO(rr.value_or(""));
    CHECK(!rr);
  }
}

TEST_CASE("grad elementwise: integer and bool operands get no gradient", "[grad_elementwise]") {
  Tensor x = tensor(std::vector<double>{1, 2, 3}).set_requires_grad(true);
  Tensor i = tensor(std::vector<int32_t>{4, 5, 6});
  Tensor m = tensor(std::vector<bool>{true, false, true});
  CHECK(derivative([&](const Tensor& t) { return t * i; }, {1, 2, 3}) == std::vector<double>{4, 5, 6});
  CHECK(derivative([&](const Tensor& t) { return t + m; }, {1, 2, 3}) == std::vector<double>{1, 1, 1});
  CHECK(derivative([&](const Tensor& t) { return pow(t, i); }, {1, 2, 3}) == std::vector<double>{4, 5 * 16, 6 * 243});
  CHECK(derivative([&](const Tensor& t) { return maximum(i, t); }, {5, 2, 7}) == std::vector<double>{1, 0, 1});
  sum(x * i + x * m).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{5, 5, 7});
  CHECK_FALSE(i.requires_grad());
  CHECK_FALSE(i.grad().defined());
  // Ops on integer tensors record nothing.
  CHECK_FALSE(relu(i).requires_grad());
  CHECK_FALSE((x > 1.0).requires_grad());
}

TEST_CASE("grad elementwise: 16-bit and mixed-dtype inputs get gradients of their own dtype", "[grad_elementwise]") {
  const std::vector<UnaryFn> fns = {[](const Tensor& x) { return relu(x); },
                                    [](const Tensor& x) { return tanh(x); },
                                    [](const Tensor& x) { return sigmoid(x); },
                                    [](const Tensor& x) { return gelu(x); },
                                    [](const Tensor& x) { return gelu(x, true); },
                                    [](const Tensor& x) { return silu(x); },
                                    [](const Tensor& x) { return exp(x); },
                                    [](const Tensor& x) { return abs(x); },
                                    [](const Tensor& x) { return elu(x); },
                                    [](const Tensor& x) { return leaky_relu(x); },
                                    [](const Tensor& x) { return softplus(x); },
                                    [](const Tensor& x) { return erf(x); },
                                    [](const Tensor& x) { return sin(x); },
                                    [](const Tensor& x) { return cos(x); },
                                    [](const Tensor& x) { return clamp(x, Scalar(-0.5), Scalar(0.5)); },
                                    [](const Tensor& x) { return pow(x, 2.0); },
                                    [](const Tensor& x) { return x * 2.5; },
                                    [](const Tensor& x) { return maximum(x, 0.0); },
                                    [](const Tensor& x) { return where(x > 0.0, x, 1.0); },
                                    [](const Tensor& x) { return floor(x); },
                                    [](const Tensor& x) { return 1.0 / x; }};
  const std::vector<double> xs = {-1.5, -0.25, 0.75, 2.0};
  for (DType dt : {DType::BFloat16, DType::Float16, DType::Float32}) {
    for (size_t k = 0; k < fns.size(); ++k) {
      INFO("fn " << k << " dtype " << dtype_name(dt));
      Tensor x = to_dtype(tensor(xs), dt).set_requires_grad(true);
      Tensor g = grad({sum(fns[k](x))}, {x})[0];
      CHECK(g.dtype() == dt);
      // Same values as in float64, to the 16-bit types' precision.
      const auto want = derivative(fns[k], xs);
      const auto got = g.to_vector<double>();
      for (size_t i = 0; i < xs.size(); ++i) CHECK(std::fabs(got[i] - want[i]) <= 0.02 * (1 + std::fabs(want[i])));
    }
  }
  // A float16 tensor times a float32 one: the product is float32, each gradient keeps its input's dtype.
  Tensor h = to_dtype(tensor(std::vector<double>{1, 2}), DType::Float16).set_requires_grad(true);
  Tensor f = tensor(std::vector<float>{3, 4}).set_requires_grad(true);
  auto g = grad({sum(h * f)}, {h, f});
  CHECK(g[0].dtype() == DType::Float16);
  CHECK(g[1].dtype() == DType::Float32);
  CHECK(g[0].to_vector<float>() == std::vector<float>{3, 4});
  CHECK(g[1].to_vector<float>() == std::vector<float>{1, 2});
}

TEST_CASE("grad elementwise: large float32 gradients agree between oneDNN and the reference kernels",
          "[grad_elementwise]") {
  const Tensor x0 = make_input({96, 100}, DType::Float32, 7, -3, 3);
  const std::vector<UnaryFn> fns = {
      [](const Tensor& x) { return relu(x); },      [](const Tensor& x) { return tanh(x); },
      [](const Tensor& x) { return sigmoid(x); },   [](const Tensor& x) { return gelu(x); },
      [](const Tensor& x) { return exp(x * 0.5); }, [](const Tensor& x) { return silu(x) * x; }};
  for (size_t k = 0; k < fns.size(); ++k) {
    INFO("fn " << k);
    Tensor x = x0.clone().set_requires_grad(true);
    Tensor fast = grad({sum(fns[k](x))}, {x})[0];
    Tensor ref;
    {
      ForceBackendGuard g(Backend::Reference);
      ref = grad({sum(fns[k](x))}, {x})[0];
    }
    DOPPEL_REQUIRE_CLOSE(fast, ref, (Tolerance{1e-5, 1e-5}));
  }
}

TEST_CASE("grad elementwise: hardtanh, hardswish and hardsigmoid follow PyTorch at their kinks", "[grad_elementwise]") {
  // hardtanh: zero at and beyond either bound, one strictly inside (PyTorch's hardtanh_backward).
  CHECK(derivative([](const Tensor& x) { return hardtanh(x); }, {-2, -1, -0.99, 0.5, 1, 2}) ==
        std::vector<double>{0, 0, 1, 1, 0, 0});
  CHECK(derivative([](const Tensor& x) { return relu6(x); }, {-1, 0, 3, 6, 7}) == std::vector<double>{0, 0, 1, 0, 0});
  CHECK(derivative([](const Tensor& x) { return hardtanh(x, 2.0, 1.0); }, {0, 1.5, 3}) == std::vector<double>{0, 0, 0});
  // hardswish: 0 below -3, x / 3 + 1/2 on [-3, 3] (so -1/2 at -3 and 3/2 at 3), 1 above.
  CHECK(derivative([](const Tensor& x) { return hardswish(x); }, {-4, -3, 0, 3, 4}) ==
        std::vector<double>{0, -0.5, 0.5, 1.5, 1});
  // hardsigmoid: 1/6 strictly inside (-3, 3), else 0.
  CHECK(derivative([](const Tensor& x) { return hardsigmoid(x); }, {-3, -2, 2.5, 3}) ==
        std::vector<double>{0, 1.0 / 6, 1.0 / 6, 0});
  // In place (hardtanh_ and hardsigmoid_ read their output, as PyTorch's in-place forms do).
  Tensor w = tensor(std::vector<double>{-2, 0.5, 3}).set_requires_grad(true);
  Tensor y = mul(w, Scalar(1.0));
  hardtanh_(y);
  CHECK(grad({sum(y)}, {w})[0].to_vector<double>() == std::vector<double>{0, 1, 0});
}

TEST_CASE("grad elementwise: mish, selu, logsigmoid against their derivatives", "[grad_elementwise]") {
  const double alpha = 1.6732632423543772848170429916717, scale = 1.0507009873554804934193349852946;
  check_against(
      "mish", [](const Tensor& x) { return mish(x); },
      [](double x) {
        const double sp = std::log1p(std::exp(x)), t = std::tanh(sp);
        return t + x * sigmoid_d(x) * (1 - t * t);
      },
      kPoints);
  check_against(
      "selu", [](const Tensor& x) { return selu(x); },
      [&](double x) { return x > 0 ? scale : scale * alpha * std::exp(x); }, kPoints);
  check_against(
      "logsigmoid", [](const Tensor& x) { return logsigmoid(x); }, [](double x) { return 1 - sigmoid_d(x); }, kPoints);
  // Saturated: logsigmoid'(-800) = 1, logsigmoid'(800) = 0, without NaN.
  CHECK(derivative([](const Tensor& x) { return logsigmoid(x); }, {-800, 800}) == std::vector<double>{1, 0});
  // selu at 0 takes the negative side (scale alpha), as PyTorch's elu_backward does.
  CHECK(derivative([](const Tensor& x) { return selu(x); }, {0})[0] == Catch::Approx(scale * alpha));
}

TEST_CASE("grad elementwise: atan2, fmod, remainder, floor_divide and trunc", "[grad_elementwise]") {
  Tensor a = tensor(std::vector<double>{5.5, -5.5, 1.0, -2.0}).set_requires_grad(true);
  Tensor b = tensor(std::vector<double>{2.0, 2.0, -3.0, 0.5}).set_requires_grad(true);
  // fmod: d/da = 1, d/db = -trunc(a / b); remainder: d/db = -floor(a / b).
  auto gf = grad({sum(fmod(a, b))}, {a, b});
  CHECK(gf[0].to_vector<double>() == std::vector<double>{1, 1, 1, 1});
  CHECK(gf[1].to_vector<double>() == std::vector<double>{-2, 2, 0, 4});
  auto gr = grad({sum(remainder(a, b))}, {a, b});
  CHECK(gr[0].to_vector<double>() == std::vector<double>{1, 1, 1, 1});
  CHECK(gr[1].to_vector<double>() == std::vector<double>{-2, 3, 1, 4});
  // atan2(a, b): (b, -a) / (a^2 + b^2).
  auto ga = grad({sum(atan2(a, b))}, {a, b});
  for (size_t k = 0; k < 4; ++k) {
    const double x = a.to_vector<double>()[k], y = b.to_vector<double>()[k], r = x * x + y * y;
    CHECK(ga[0].to_vector<double>()[k] == Catch::Approx(y / r));
    CHECK(ga[1].to_vector<double>()[k] == Catch::Approx(-x / r));
  }
  // floor_divide and trunc: zero, with the graph kept.
  auto gd = grad({sum(floor_divide(a, b))}, {a, b});
  CHECK(gd[0].to_vector<double>() == std::vector<double>(4, 0.0));
  CHECK(gd[1].to_vector<double>() == std::vector<double>(4, 0.0));
  CHECK(derivative([](const Tensor& x) { return trunc(x); }, {-1.5, 0.2}) == std::vector<double>{0, 0});
  // Bitwise ops are not differentiable: their outputs never require grad.
  Tensor i = tensor(std::vector<int64_t>{1, 2});
  CHECK(!bitwise_and(i, i).requires_grad());
}

}  // namespace doppel::testing
