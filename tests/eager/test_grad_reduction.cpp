// Gradients of the reductions, softmax and the losses against hand values and independent
// double-precision formulas (the generic op-spec gradcheck covers random samples; these pin
// the cases finite differences cannot judge: ties, zeros, ignored samples, corrections).
#include <catch2/catch_approx.hpp>
#include <cmath>
#include <limits>

#include "doppel/kernels/channel_block.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/reduction.h"
#include "support/gradcheck.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

std::vector<double> grad_of(const Tensor& y, const Tensor& x) { return grad({y}, {x})[0].to_vector<double>(); }

void check_values(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-12) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << " want " << want[i]);
    CHECK(std::abs(got[i] - want[i]) <= tol * (1 + std::abs(want[i])));
  }
}

Tensor leaf(const std::vector<double>& v, IntList shape) {
  return reshape(tensor(v), shape).detach().set_requires_grad(true);
}

}  // namespace

TEST_CASE("grad: cross_entropy with ignore_index, label smoothing and mean matches PyTorch's formula", "[grad_loss]") {
  const int64_t N = 6, C = 4, ignore = 2;
  const double eps = 0.15;
  const Tensor x64 = make_input({N, C}, DType::Float64, 3, -3, 3);
  const std::vector<int64_t> t = {1, 2, 0, 3, 2, 3};  // samples 1 and 4 are ignored
  const Tensor target = tensor(t);
  // PyTorch: dl/dx[i] = (softmax(x[i]) - ((1 - ε)·onehot(t_i) + ε/C)) / n_valid for valid i, else 0.
  const std::vector<double> xv = x64.to_vector<double>();
  std::vector<double> want(size_t(N * C), 0.0), weights = {0.3, -1.2, 2.0, 0.7, 5.0, -0.4};
  int64_t n_valid = 0;
  for (int64_t v : t) n_valid += v != ignore;
  for (int64_t i = 0; i < N; ++i) {
    if (t[size_t(i)] == ignore) continue;
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < C; ++c) m = std::max(m, xv[size_t(i * C + c)]);
    for (int64_t c = 0; c < C; ++c) s += std::exp(xv[size_t(i * C + c)] - m);
    for (int64_t c = 0; c < C; ++c) {
      const double p = std::exp(xv[size_t(i * C + c)] - m) / s;
      const double q = (c == t[size_t(i)] ? 1.0 - eps : 0.0) + eps / double(C);
      want[size_t(i * C + c)] = (p - q) / double(n_valid);
    }
  }
  SECTION("float64") {
    Tensor x = x64.detach().set_requires_grad(true);
    check_values(grad_of(cross_entropy(x, target, Reduction::Mean, ignore, eps), x), want);
  }
  SECTION("float32, the fused kernel on a strided input") {
    Tensor x = transpose(to_dtype(transpose(x64, 0, 1), DType::Float32), 0, 1).detach().set_requires_grad(true);
    REQUIRE(!x.is_contiguous());
    check_values(grad_of(cross_entropy(x, target, Reduction::Mean, ignore, eps), x), want, 1e-6);
  }
  SECTION("reduction none weighs each sample by its grad_output") {
    Tensor x = x64.detach().set_requires_grad(true);
    const Tensor loss = cross_entropy(x, target, Reduction::None, ignore, eps);
    const std::vector<double> g = grad({loss}, {x}, {tensor(weights)})[0].to_vector<double>();
    for (int64_t i = 0; i < N; ++i)
      for (int64_t c = 0; c < C; ++c) {
        const double w = weights[size_t(i)] * double(n_valid);
        CHECK(g[size_t(i * C + c)] == Catch::Approx(want[size_t(i * C + c)] * w).margin(1e-12));
      }
  }
  SECTION("double backward through the fused op matches finite differences") {
    auto f = [&](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{cross_entropy(in[0], target, Reduction::Mean, ignore, eps)};
    };
    auto r = gradgradcheck(f, {grad_input(x64)});
    INFO(r.value_or(""));
    CHECK(!r);
  }
}

TEST_CASE("grad: cross_entropy with every sample ignored gives zero gradients, not NaN", "[grad_loss]") {
  Tensor x = make_input({2, 3}, DType::Float64, 1).detach().set_requires_grad(true);
  const Tensor loss = cross_entropy(x, tensor(std::vector<int64_t>{-100, -100}));
  CHECK(std::isnan(loss.item<double>()));  // PyTorch: 0/0
  check_values(grad_of(loss, x), std::vector<double>(6, 0.0));
}

TEST_CASE("grad: cross_entropy with probability targets, and nll_loss, by hand", "[grad_loss]") {
  SECTION("probability target: d/dx = (softmax(x)·Σq - q)/N, d/dp = -(1-ε)·log_softmax(x)/N") {
    Tensor x = leaf({0.0, std::log(3.0)}, {1, 2});  // softmax = [1/4, 3/4]
    Tensor p = leaf({0.5, 0.5}, {1, 2});
    const Tensor loss = cross_entropy(x, p, Reduction::Mean, -100, 0.0);
    const std::vector<Tensor> g = grad({loss}, {x, p});
    check_values(g[0].to_vector<double>(), {0.25 - 0.5, 0.75 - 0.5});
    check_values(g[1].to_vector<double>(), {-std::log(0.25), -std::log(0.75)});
  }
  SECTION("nll_loss sum: -1 at each valid target") {
    Tensor x = leaf({-1, -2, -3, -4, -5, -6}, {3, 2});
    check_values(grad_of(nll_loss(x, tensor(std::vector<int64_t>{1, -100, 0}), Reduction::Sum), x),
                 {0, -1, 0, 0, -1, 0});
  }
}

TEST_CASE("grad: amax and amin split the gradient evenly among ties", "[grad_reduction]") {
  Tensor x = leaf({1, 3, 3, 2, 2, 2}, {2, 3});
  check_values(grad_of(sum(amax(x, {1})), x), {0, 0.5, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3});
  check_values(grad_of(amin(x), x), {1, 0, 0, 0, 0, 0});
  check_values(grad_of(amax(x), x), {0, 0.5, 0.5, 0, 0, 0});
  // keepdim, and a weighted incoming gradient.
  const Tensor y = amin(x, {0}, /*keepdim=*/true);
  check_values(grad({y}, {x}, {reshape(tensor(std::vector<double>{10, 20, 30}), {1, 3})})[0].to_vector<double>(),
               {10, 0, 0, 0, 20, 30});
}

TEST_CASE("grad: max/min along a dim send the gradient to the returned index only", "[grad_reduction]") {
  // PyTorch 1.13: x = [[1, 3, 3], [2, 2, 0]]; (x.max(1).values * [1, 10]).sum() gives
  // [[0, 1, 0], [10, 0, 0]] with indices [1, 0]; x.min(1, keepdim=True) gives indices [[0], [2]]
  // and gradient [[1, 0, 0], [0, 0, 1]]; max() over all elements splits among its ties.
  Tensor x = leaf({1, 3, 3, 2, 2, 0}, {2, 3});
  auto [values, indices] = max(x, 1);
  CHECK(values.shape() == Shape{2});
  CHECK(values.to_vector<double>() == std::vector<double>{3, 2});
  CHECK(indices.dtype() == DType::Int64);
  CHECK(indices.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  check_values(grad_of(sum(mul(values, tensor(std::vector<double>{1, 10}))), x), {0, 1, 0, 10, 0, 0});
  const auto [mins, min_at] = min(x, -1, /*keepdim=*/true);
  CHECK(mins.shape() == Shape{2, 1});
  CHECK(mins.to_vector<double>() == std::vector<double>{1, 0});
  CHECK(min_at.to_vector<int64_t>() == std::vector<int64_t>{0, 2});
  check_values(grad_of(sum(mins), x), {1, 0, 0, 0, 0, 1});
  check_values(grad_of(max(x), x), {0, 0.5, 0.5, 0, 0, 0});
  // Along dim 0, and a NaN, which counts as the maximum (its first occurrence).
  const auto [col_max, col_at] = max(x, 0);
  CHECK(col_at.to_vector<int64_t>() == std::vector<int64_t>{1, 0, 0});
  check_values(grad_of(sum(col_max), x), {0, 1, 1, 1, 0, 0});
  Tensor y = leaf({1, std::nan(""), std::nan("")}, {3});
  const auto [nan_max, nan_at] = max(y, 0);
  CHECK(std::isnan(nan_max.item<double>()));
  CHECK(nan_at.item<int64_t>() == 1);
  check_values(grad_of(nan_max, y), {0, 1, 0});
}

TEST_CASE("grad: prod handles zeros like PyTorch", "[grad_reduction]") {
  Tensor x = leaf({2, 0, 3, 0, 0, 4, 1, 2, 3}, {3, 3});
  // One zero: the product of the others there, 0 elsewhere; two zeros: all 0; none: prod / x.
  check_values(grad_of(sum(prod(x, {1})), x), {0, 6, 0, 0, 0, 0, 6, 3, 2});
  Tensor v = leaf({2, 0, 3, 5}, {4});
  check_values(grad_of(prod(v), v), {0, 30, 0, 0});
  // Double backward stays finite with zeros (no 0/0 in a discarded branch) and is right.
  auto f = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{prod(in[0], {1})}; };
  auto r =
      gradgradcheck(f, {grad_input(reshape(tensor(std::vector<double>{2, 0, 3, 0, 0, 4, 1, 2, 3, 0, 0, 0}), {4, 3}))});
  INFO(r.value_or(""));
  CHECK(!r);
  const Tensor xx = leaf({2, 0, 3}, {3});
  const Tensor g1 = grad({prod(xx)}, {xx}, {}, std::nullopt, /*create_graph=*/true)[0];
  check_values(grad({sum(g1)}, {xx})[0].to_vector<double>(), {3, 5, 2});
}

// Hand values of the product of the other elements (PyTorch 1.13's exclusive cumulative
// products, which it uses when the tensor holds a zero), checked against torch itself.
TEST_CASE("grad: prod with inf and NaN gives the product of the other elements", "[grad_reduction]") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x =
      leaf({2, inf, 3, -2, -inf, 3, 2, nan, 3, 0, inf, 3, inf, inf, 2, 0, 0, inf, 1, 2, 4, -inf, 0, nan}, {8, 3});
  const std::vector<double> want = {inf, 6,   inf, -inf, -6,  inf, nan, 6, nan, inf, 0,   nan,
                                    inf, inf, inf, nan,  nan, 0,   8,   4, 2,   nan, nan, nan};
  for (DType dt : {DType::Float64, DType::Float32}) {
    INFO(dtype_name(dt));
    Tensor xd = to_dtype(x.detach(), dt).set_requires_grad(true);
    const std::vector<double> got = grad_of(sum(prod(xd, {1})), xd);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      INFO("element " << i << ": got " << got[i] << " want " << want[i]);
      if (std::isnan(want[i]))
        CHECK(std::isnan(got[i]));
      else
        CHECK(got[i] == want[i]);
    }
  }
  // Over the whole tensor too (one zero: only it gets a gradient, the product of the rest).
  Tensor v = leaf({2, 0, -0.5, 4}, {4});
  check_values(grad_of(prod(v), v), {0, -4, 0, 0});
  // Without any zero in the tensor PyTorch divides the result by each element: inf / inf = NaN
  // at an inf element, ±inf beside it.
  Tensor w = leaf({2, inf, 0.5, 1, 2, 3}, {2, 3});
  const std::vector<double> gw = grad_of(sum(prod(w, {1})), w);
  CHECK(gw[0] == inf);
  CHECK(std::isnan(gw[1]));
  CHECK(gw[2] == inf);
  check_values({gw[3], gw[4], gw[5]}, {6, 3, 2});
}

TEST_CASE("grad: var and std honour the correction", "[grad_reduction]") {
  Tensor x = leaf({1, 2, 3, 4}, {4});
  const std::vector<double> dev = {-1.5, -0.5, 0.5, 1.5};
  for (int64_t correction : {0, 1, 2}) {
    INFO("correction " << correction);
    const double div = double(4 - correction);
    std::vector<double> want_var, want_std;
    double ss = 0;
    for (double d : dev) ss += d * d;
    const double sd = std::sqrt(ss / div);
    for (double d : dev) {
      want_var.push_back(2 * d / div);
      want_std.push_back(d / (div * sd));
    }
    check_values(grad_of(var(x, {}, correction), x), want_var);
    check_values(grad_of(std(x, {0}, correction, /*keepdim=*/true), x), want_std);
  }
  // std of a constant slice: PyTorch's gradient is 0 there, not NaN.
  Tensor c = leaf({2, 2, 2, 1, 3, 5}, {2, 3});
  check_values(grad_of(sum(std(c, {1})), c), {0, 0, 0, -0.5, 0, 0.5});  // dev ±2, std 2, N - 1 = 2
}

TEST_CASE("grad: mean over an empty dim does not crash", "[grad_reduction]") {
  Tensor x = zeros({0, 4}, {DType::Float64}).set_requires_grad(true);
  const Tensor m0 = mean(x, {0});  // [4] of NaN
  const std::vector<Tensor> g0 = grad({sum(m0)}, {x});
  CHECK(g0[0].shape() == Shape{0, 4});
  const Tensor all = mean(x);
  CHECK(std::isnan(all.item<double>()));
  CHECK(grad({all}, {x})[0].shape() == Shape{0, 4});
  const Tensor kept = mean(x, {1}, /*keepdim=*/true);  // [0, 1]
  CHECK(grad({sum(kept)}, {x})[0].shape() == Shape{0, 4});
}

TEST_CASE("grad: logsumexp, softmax and log_softmax by hand", "[grad_reduction]") {
  Tensor x = leaf({0.0, std::log(3.0)}, {2});
  check_values(grad_of(logsumexp(x), x), {0.25, 0.75});
  // d softmax(x)[1] / dx = p1·(e1 - p) = [-p0·p1, p1·(1 - p1)]
  check_values(grad_of(select(softmax(x, 0), 0, 1), x), {-0.1875, 0.1875});
  // d log_softmax(x)[0] / dx = e0 - p
  check_values(grad_of(select(log_softmax(x, 0), 0, 0), x), {0.75, -0.75});
}

TEST_CASE("softmax_backward / log_softmax_backward reference kernels match double loops", "[grad_reduction]") {
  for (OpId op : {OpId::softmax_backward, OpId::log_softmax_backward}) {
    const bool log = op == OpId::log_softmax_backward;
    const Tensor x = make_input({3, 4, 5}, DType::Float64, 7);
    const Tensor y = log ? log_softmax(x, 1) : softmax(x, 1);
    const Tensor g = make_input({3, 4, 5}, DType::Float64, 8);
    const Attrs attrs = SoftmaxAttrs{.dim = 1}.pack();
    const Tensor inputs[] = {g, y};
    const OpCall call{op, inputs, attrs};
    Tensor out = zeros({3, 4, 5}, {DType::Float64});
    kernel_for(op, Backend::Reference).run(call, {&out, 1});
    const std::vector<double> gv = g.to_vector<double>(), yv = y.to_vector<double>(), ov = out.to_vector<double>();
    for (int64_t a = 0; a < 3; ++a)
      for (int64_t c = 0; c < 5; ++c) {
        double s = 0;
        for (int64_t b = 0; b < 4; ++b) {
          const size_t k = size_t((a * 4 + b) * 5 + c);
          s += log ? gv[k] : gv[k] * yv[k];
        }
        for (int64_t b = 0; b < 4; ++b) {
          const size_t k = size_t((a * 4 + b) * 5 + c);
          const double want = log ? gv[k] - std::exp(yv[k]) * s : yv[k] * (gv[k] - s);
          CHECK(ov[k] == Catch::Approx(want).margin(1e-12));
        }
      }
  }
}

// oneDNN 3.2's optimized softmax backward is an AVX-512 kernel: with AVX2 its only implementation is
// ref:any, which the kernel declines (the reference kernel runs; its answers are checked above).
TEST_CASE("oneDNN runs softmax_backward and log_softmax_backward on float32", "[grad_reduction]") {
  if (onednn_channel_block() < 16) SKIP("this CPU has no AVX-512: oneDNN's softmax backward is its reference kernel");
  for (OpId op : {OpId::softmax_backward, OpId::log_softmax_backward}) {
    const Tensor y = softmax(make_input({8, 33}, DType::Float32, 1), 1);
    const Tensor g = make_input({8, 33}, DType::Float32, 2);
    const Attrs attrs = SoftmaxAttrs{.dim = 1}.pack();
    const Tensor inputs[] = {g, y};
    CHECK(kernel_for(op, Backend::OneDNN).supports(OpCall{op, inputs, attrs}));
  }
}

TEST_CASE("grad: pointwise losses by hand", "[grad_loss]") {
  Tensor x = leaf({0.0, 2.0, -1.0}, {3});
  Tensor y = leaf({1.0, 0.5, -1.5}, {3});
  SECTION("mse mean") {
    const std::vector<Tensor> g = grad({mse_loss(x, y)}, {x, y});
    check_values(g[0].to_vector<double>(), {-2.0 / 3, 1.0, 1.0 / 3});
    check_values(g[1].to_vector<double>(), {2.0 / 3, -1.0, -1.0 / 3});
  }
  SECTION("smooth_l1 beta 1 and beta 0 (l1)") {
    check_values(grad_of(smooth_l1_loss(x, y, Reduction::Sum, 1.0), x), {-1, 1, 0.5});
    check_values(grad_of(smooth_l1_loss(x, y, Reduction::Sum, 0.0), x), {-1, 1, 1});
    check_values(grad_of(l1_loss(x, y, Reduction::Mean), x), {-1.0 / 3, 1.0 / 3, 1.0 / 3});
  }
  SECTION("binary_cross_entropy_with_logits with pos_weight") {
    Tensor pw = leaf({2.0}, {1});
    const std::vector<Tensor> g = grad({binary_cross_entropy_with_logits(x, y, pw, Reduction::Sum)}, {x, y, pw});
    const std::vector<double> xv = {0.0, 2.0, -1.0}, yv = {1.0, 0.5, -1.5};
    std::vector<double> gx, gy;
    double gpw = 0;
    for (size_t i = 0; i < 3; ++i) {
      const double sp = std::log1p(std::exp(-xv[i]));  // softplus(-x)
      const double w = 1 + (2.0 - 1) * yv[i];
      gx.push_back((1 - yv[i]) - w / (1 + std::exp(xv[i])));
      gy.push_back(-xv[i] + (2.0 - 1) * sp);
      gpw += yv[i] * sp;
    }
    check_values(g[0].to_vector<double>(), gx);
    check_values(g[1].to_vector<double>(), gy);
    check_values(g[2].to_vector<double>(), {gpw});
  }
}

// PyTorch promotes a pos_weight of another dtype: the loss keeps the input's dtype and
// pos_weight's gradient its own.
TEST_CASE("grad: binary_cross_entropy_with_logits takes a pos_weight of another dtype", "[grad_loss]") {
  const std::vector<double> xv = {0.0, 2.0, -1.0, 0.5}, yv = {1.0, 0.25, 0.0, 0.75}, pv = {2.0, 0.5};
  double want = 0, want_gpw[2] = {0, 0};
  for (size_t i = 0; i < 4; ++i) {
    const double sp = std::log1p(std::exp(-xv[i]));  // softplus(-x)
    want += (1 - yv[i]) * xv[i] + (1 + (pv[i % 2] - 1) * yv[i]) * sp;
    want_gpw[i % 2] += yv[i] * sp;
  }
  for (auto [input_dt, pw_dt] :
       {std::pair{DType::Float64, DType::Float32}, std::pair{DType::Float32, DType::Float64}}) {
    INFO("input " << dtype_name(input_dt) << ", pos_weight " << dtype_name(pw_dt));
    Tensor x = to_dtype(reshape(tensor(xv), {2, 2}), input_dt).set_requires_grad(true);
    Tensor y = to_dtype(reshape(tensor(yv), {2, 2}), input_dt);
    Tensor pw = to_dtype(tensor(pv), pw_dt).set_requires_grad(true);
    const Tensor loss = binary_cross_entropy_with_logits(x, y, pw, Reduction::Sum);
    CHECK(loss.dtype() == input_dt);
    const double tol = 1e-6;  // one side is float32
    check_values({loss.item<double>()}, {want}, tol);
    const Tensor gpw = grad({loss}, {pw})[0];
    CHECK(gpw.dtype() == pw_dt);
    check_values(gpw.to_vector<double>(), {want_gpw[0], want_gpw[1]}, tol);
  }
}

}  // namespace doppel::testing
