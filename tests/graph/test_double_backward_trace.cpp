// A traced double backward: the Hessian-vector product of f(w) = sum(tanh(x @ w)^2), computed with
// grad(create_graph) then grad of <g, v>, traced once and replayed on new x and v. The replay
// must equal the eager HVP and an independent oracle: a central finite difference, in double
// loops, of the hand-written gradient.
#include <catch2/catch_test_macros.hpp>
#include <cmath>

#include "doppel/autograd.h"
#include "doppel/graph/executor.h"
#include "doppel/graph/trace.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;
using Tensors = std::vector<Tensor>;

constexpr int64_t kN = 5, kIn = 4, kOut = 3;

// dL/dw of L = sum(tanh(x w)^2): x^T (2 t (1 - t^2)) with t = tanh(x w); row-major [kIn, kOut].
std::vector<double> hand_gradient(const std::vector<double>& x, const std::vector<double>& w) {
  std::vector<double> g(size_t(kIn * kOut), 0.0);
  for (int64_t n = 0; n < kN; ++n)
    for (int64_t j = 0; j < kOut; ++j) {
      double z = 0;
      for (int64_t i = 0; i < kIn; ++i) z += x[size_t(n * kIn + i)] * w[size_t(i * kOut + j)];
      const double t = std::tanh(z), dz = 2 * t * (1 - t * t);
      for (int64_t i = 0; i < kIn; ++i) g[size_t(i * kOut + j)] += x[size_t(n * kIn + i)] * dz;
    }
  return g;
}

// H v by central differences of the gradient along v.
std::vector<double> finite_difference_hvp(const std::vector<double>& x, const std::vector<double>& w,
                                          const std::vector<double>& v) {
  const double eps = 1e-6;
  std::vector<double> wp = w, wm = w;
  for (size_t k = 0; k < w.size(); ++k) {
    wp[k] += eps * v[k];
    wm[k] -= eps * v[k];
  }
  const auto gp = hand_gradient(x, wp), gm = hand_gradient(x, wm);
  std::vector<double> h(w.size());
  for (size_t k = 0; k < w.size(); ++k) h[k] = (gp[k] - gm[k]) / (2 * eps);
  return h;
}

TEST_CASE("double backward: a traced Hessian-vector product replays like eager and finite differences",
          "[graph][double_backward_trace]") {
  Tensor w = make_input({kIn, kOut}, DType::Float64, 1, -1.0, 1.0);
  w.set_requires_grad();
  auto hvp_fn = [&w](const Tensors& in) {
    const Tensor& x = in[0];
    const Tensor& v = in[1];
    Tensor t = matmul(x, w).tanh();
    Tensor f = (t * t).sum();
    Tensor g = grad({f}, {w}, {}, std::nullopt, /*create_graph=*/true)[0];
    Tensor gv = (g * v).sum();
    return Tensors{grad({gv}, {w})[0]};
  };
  Tensor x0 = make_input({kN, kIn}, DType::Float64, 2, -1.0, 1.0);
  Tensor v0 = make_input({kIn, kOut}, DType::Float64, 3, -1.0, 1.0);
  graph::TraceResult r = trace(hvp_fn, {x0, v0});
  INFO(graph::to_text(*r.graph));
  // w is the only state; x and v are inputs, so the replay below really recomputes from them.
  REQUIRE(r.graph->state().size() == 1);
  REQUIRE(r.graph->inputs().size() == 2);
  // The trace recorded the backward of the backward (not just the forward): tanh's derivative
  // appears differentiated, so the graph holds well over the forward's three ops.
  REQUIRE(r.graph->nodes().size() > 8);

  graph::Executor ex(r.graph);
  for (uint64_t seed : {10u, 20u, 30u}) {
    INFO("seed " << seed);
    Tensor x = make_input({kN, kIn}, DType::Float64, seed, -1.0, 1.0);
    Tensor v = make_input({kIn, kOut}, DType::Float64, seed + 1, -1.0, 1.0);
    const Tensor replay = ex.run(Tensors{x, v})[0];
    const Tensor eager = hvp_fn({x, v})[0];
    DOPPEL_REQUIRE_CLOSE(replay, eager, (testing::Tolerance{1e-12, 1e-12}));
    const auto h = finite_difference_hvp(x.to_vector<double>(), w.detach().to_vector<double>(), v.to_vector<double>());
    DOPPEL_REQUIRE_CLOSE(replay, tensor(h, {kIn, kOut}), (testing::Tolerance{1e-6, 1e-7}));
  }
}

}  // namespace
}  // namespace doppel
