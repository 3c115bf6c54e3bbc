// Optimizers against independent references: each update rule re-derived in plain double
// arithmetic (PyTorch's algorithm as documented), never through doppel ops.
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "doppel/generator.h"
#include "doppel/io/checkpoint.h"
#include "doppel/nn/nn.h"
#include "doppel/ops/reduction.h"
#include "doppel/optim/optim.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

using optim::Adam;
using optim::AdamOptions;
using optim::AdamW;
using optim::AdamWOptions;
using optim::RMSprop;
using optim::RMSpropOptions;
using optim::SGD;
using optim::SGDOptions;
using Vec = std::vector<double>;

Tensor param(const Vec& v) { return tensor(v).set_requires_grad(true); }

// The gradient fed at step t (deterministic, sign-changing, different per element).
Vec grad_at(int t, size_t n) {
  Vec g(n);
  for (size_t i = 0; i < n; ++i) g[i] = std::sin(1.3 * double(t + 1) + 0.7 * double(i)) * (1.0 + 0.5 * double(i));
  return g;
}

void require_close(const Tensor& actual, const Vec& expected, double rtol = 1e-12, double atol = 1e-14) {
  const Vec a = actual.to_vector<double>();
  REQUIRE(a.size() == expected.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("element " << i << ": " << a[i] << " vs expected " << expected[i]);
    CHECK(std::abs(a[i] - expected[i]) <= atol + rtol * std::abs(expected[i]));
  }
}

// ---- Plain-double references (PyTorch's single-tensor algorithms).

struct RefSGD {
  SGDOptions o;
  Vec buf;
  void step(Vec& p, const Vec& grad) {
    Vec d = grad;
    for (size_t i = 0; i < p.size(); ++i) {
      if (o.maximize) d[i] = -d[i];
      d[i] += o.weight_decay * p[i];
    }
    if (o.momentum != 0) {
      if (buf.empty()) {
        buf = d;
      } else {
        for (size_t i = 0; i < p.size(); ++i) buf[i] = o.momentum * buf[i] + (1 - o.dampening) * d[i];
      }
      for (size_t i = 0; i < p.size(); ++i) d[i] = o.nesterov ? d[i] + o.momentum * buf[i] : buf[i];
    }
    for (size_t i = 0; i < p.size(); ++i) p[i] -= o.lr * d[i];
  }
};

struct RefAdam {
  AdamOptions o;
  bool decoupled = false;
  int t = 0;
  Vec m, v, vmax;
  void step(Vec& p, const Vec& grad) {
    const size_t n = p.size();
    if (m.empty()) m = v = vmax = Vec(n, 0.0);
    ++t;
    for (size_t i = 0; i < n; ++i) {
      double g = o.maximize ? -grad[i] : grad[i];
      if (decoupled)
        p[i] *= 1 - o.lr * o.weight_decay;
      else
        g += o.weight_decay * p[i];
      m[i] = o.betas[0] * m[i] + (1 - o.betas[0]) * g;
      v[i] = o.betas[1] * v[i] + (1 - o.betas[1]) * g * g;
      vmax[i] = std::max(vmax[i], v[i]);
      const double bc1 = 1 - std::pow(o.betas[0], t), bc2 = 1 - std::pow(o.betas[1], t);
      const double denom = std::sqrt(o.amsgrad ? vmax[i] : v[i]) / std::sqrt(bc2) + o.eps;
      p[i] -= o.lr / bc1 * m[i] / denom;
    }
  }
};

struct RefRMSprop {
  RMSpropOptions o;
  Vec sq, ga, buf;
  void step(Vec& p, const Vec& grad) {
    const size_t n = p.size();
    if (sq.empty()) sq = ga = buf = Vec(n, 0.0);
    for (size_t i = 0; i < n; ++i) {
      double g = (o.maximize ? -grad[i] : grad[i]) + o.weight_decay * p[i];
      sq[i] = o.alpha * sq[i] + (1 - o.alpha) * g * g;
      double avg;
      if (o.centered) {
        ga[i] = o.alpha * ga[i] + (1 - o.alpha) * g;
        avg = std::sqrt(sq[i] - ga[i] * ga[i]) + o.eps;
      } else {
        avg = std::sqrt(sq[i]) + o.eps;
      }
      if (o.momentum > 0) {
        buf[i] = o.momentum * buf[i] + g / avg;
        p[i] -= o.lr * buf[i];
      } else {
        p[i] -= o.lr * g / avg;
      }
    }
  }
};

// Runs `steps` steps of `opt` on p (float64) and of the reference on a copy, comparing each step.
template <class Ref>
void run_against(optim::Optimizer& opt, const Tensor& p, Ref ref, int steps) {
  Vec expected = p.to_vector<double>();
  for (int t = 0; t < steps; ++t) {
    const Vec g = grad_at(t, expected.size());
    p.set_grad(tensor(g));
    opt.step();
    ref.step(expected, g);
    INFO("step " << t + 1);
    require_close(p, expected);
  }
}

const Vec kInit = {0.5, -1.25, 2.0, 0.0};

}  // namespace

TEST_CASE("optim: one SGD step is p - lr * g", "[optim]") {
  Tensor p = param({1.0, -2.0, 3.0});
  p.set_grad(tensor(Vec{0.5, 0.1, -0.3}));
  SGD opt({p}, {.lr = 0.1});
  opt.step();
  require_close(p, {0.95, -2.01, 3.03});
  // The gradient is left alone; a second step with it moves again.
  require_close(p.grad(), {0.5, 0.1, -0.3}, 0, 0);
}

TEST_CASE("optim: SGD with momentum, dampening, nesterov, weight decay, maximize", "[optim]") {
  const std::vector<SGDOptions> cases = {
      {.lr = 0.1},
      {.lr = 0.05, .momentum = 0.9},
      {.lr = 0.05, .momentum = 0.9, .dampening = 0.3},
      {.lr = 0.05, .momentum = 0.8, .nesterov = true},
      {.lr = 0.05, .momentum = 0.8, .weight_decay = 0.1, .nesterov = true},
      {.lr = 0.02, .weight_decay = 0.5},
      {.lr = 0.02, .momentum = 0.5, .weight_decay = 0.2, .maximize = true},
      {.lr = 0.02, .maximize = true},
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    INFO("case " << c);
    Tensor p = param(kInit);
    SGD opt({p}, cases[c]);
    run_against(opt, p, RefSGD{cases[c], {}}, 6);
  }
}

TEST_CASE("optim: one Adam step moves each element by about lr against its gradient", "[optim]") {
  // Step 1: m = (1-b1) g, v = (1-b2) g^2, so the update is lr * g / (|g| + eps) exactly.
  Tensor p = param({1.0, -2.0, 0.0});
  p.set_grad(tensor(Vec{0.5, -4.0, 1e-3}));
  Adam opt({p}, {.lr = 0.1});
  opt.step();
  require_close(p, {1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 + 0.1 * 4.0 / (4.0 + 1e-8), -0.1 * 1e-3 / (1e-3 + 1e-8)});
  // Step 2 by hand with g = 0.5 for the first element: m = 0.9*0.05 + 0.05 = 0.095,
  // v = 0.999*0.00025 + 0.00025 = 0.00049975, bc1 = 0.19, bc2 = 0.001999.
  p.set_grad(tensor(Vec{0.5, 0.0, 0.0}));
  const double p0 = p.to_vector<double>()[0];
  opt.step();
  const double expected = p0 - 0.1 / 0.19 * 0.095 / (std::sqrt(0.00049975) / std::sqrt(0.001999) + 1e-8);
  CHECK(std::abs(p.to_vector<double>()[0] - expected) < 1e-14);
}

TEST_CASE("optim: Adam with a zero learning rate leaves the parameter alone", "[optim]") {
  // The folded denominator divides by the step size; lr 0 (a schedule's end) must not make NaNs.
  Tensor p = param({1.0, 0.0});
  p.set_grad(tensor(Vec{0.0, 0.5}));
  Adam opt({p}, {.lr = 0.0});
  opt.step();
  require_close(p, {1.0, 0.0}, 0, 0);
  CHECK(state_find(opt.state_dict(), "state.0.step").item<double>() == 1.0);
  opt.set_lr(0.1);
  opt.step();
  CHECK(std::isfinite(p.to_vector<double>()[0]));
}

TEST_CASE("optim: Adam and AdamW over several steps incl. amsgrad, weight decay, maximize", "[optim]") {
  const std::vector<AdamOptions> cases = {
      {},
      {.lr = 0.01, .betas = {0.8, 0.95}, .eps = 1e-6},
      {.lr = 0.01, .amsgrad = true},
      {.lr = 0.01, .weight_decay = 0.1},
      {.lr = 0.01, .weight_decay = 0.1, .amsgrad = true, .maximize = true},
      {.lr = 0.01, .maximize = true},
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    INFO("case " << c);
    Tensor p = param(kInit);
    Adam opt({p}, cases[c]);
    run_against(opt, p, RefAdam{cases[c], false}, 8);
    Tensor q = param(kInit);
    AdamW optw({q}, AdamWOptions(cases[c].lr));
    optw.options().betas = cases[c].betas;
    optw.options().amsgrad = cases[c].amsgrad;
    optw.options().maximize = cases[c].maximize;
    if (cases[c].weight_decay != 0) optw.options().weight_decay = cases[c].weight_decay;
    RefAdam ref{optw.options(), true};
    run_against(optw, q, ref, 8);
  }
}

TEST_CASE("optim: AdamW decays decoupled, unlike Adam with L2", "[optim]") {
  CHECK(AdamWOptions().weight_decay == 0.01);
  CHECK(AdamOptions().weight_decay == 0.0);
  const double lr = 0.1, wd = 0.5, p0 = 2.0, g = 0.25, eps = 1e-8;
  Tensor a = param({p0}), w = param({p0});
  a.set_grad(tensor(Vec{g}));
  w.set_grad(tensor(Vec{g}));
  Adam adam({a}, {.lr = lr, .weight_decay = wd});
  AdamWOptions wo(lr);
  wo.weight_decay = wd;
  AdamW adamw({w}, wo);
  adam.step();
  adamw.step();
  // AdamW: shrink, then the sign-like Adam step on g alone.
  const double expected_w = p0 * (1 - lr * wd) - lr * g / (g + eps);
  // Adam + L2: the decay enters the gradient, and the first step normalizes it away: ~ -lr.
  const double g2 = g + wd * p0;
  const double expected_a = p0 - lr * g2 / (g2 + eps);
  require_close(w, {expected_w});
  require_close(a, {expected_a});
  // Adam's first step normalizes the decay away (it only changes the gradient's size); AdamW's
  // shrink of lr * wd * p0 = 0.1 survives.
  CHECK(std::abs((expected_a - expected_w) - lr * wd * p0) < 1e-6);
}

TEST_CASE("optim: RMSprop plain, centered, momentum, weight decay", "[optim]") {
  const std::vector<RMSpropOptions> cases = {
      {},
      {.lr = 0.01, .alpha = 0.9},
      {.lr = 0.01, .centered = true},
      {.lr = 0.01, .momentum = 0.9},
      {.lr = 0.01, .weight_decay = 0.1, .momentum = 0.5, .centered = true},
      {.lr = 0.01, .eps = 1e-4, .maximize = true},
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    INFO("case " << c);
    Tensor p = param(kInit);
    RMSprop opt({p}, cases[c]);
    run_against(opt, p, RefRMSprop{cases[c], {}, {}, {}}, 7);
  }
  // One step by hand: v = 0.01 * 4 = 0.04, avg = 0.2 + 1e-8, p = 1 - 0.01 * 2 / avg.
  Tensor p = param({1.0});
  p.set_grad(tensor(Vec{2.0}));
  RMSprop opt({p});
  opt.step();
  require_close(p, {1.0 - 0.01 * 2.0 / (0.2 + 1e-8)});
}

TEST_CASE("optim: float32 parameters stay float32 and track the double reference", "[optim]") {
  Tensor p = tensor(std::vector<float>{0.5f, -1.25f, 2.0f, 0.0f}).set_requires_grad(true);
  Adam opt({p}, {.lr = 0.01, .weight_decay = 0.01, .amsgrad = true});
  RefAdam ref{opt.options(), false};
  Vec expected = kInit;
  for (int t = 0; t < 5; ++t) {
    const Vec g = grad_at(t, 4);
    p.set_grad(tensor(g).to(DType::Float32));
    opt.step();
    ref.step(expected, g);
  }
  CHECK(p.dtype() == DType::Float32);
  require_close(p.to(DType::Float64), expected, 1e-5, 1e-6);
}

TEST_CASE("optim: parameters without a gradient are skipped, zero_grad", "[optim]") {
  Tensor a = param({1.0, 2.0}), b = param({3.0});
  SGD opt({a, b}, {.lr = 1.0, .momentum = 0.9});
  a.set_grad(tensor(Vec{1.0, 1.0}));
  opt.step();
  require_close(a, {0.0, 1.0});
  require_close(b, {3.0});
  CHECK(opt.state_dict().size() == 1 + 6 + 1);  // a's buffer, six options, params
  opt.zero_grad(false);
  require_close(a.grad(), {0.0, 0.0}, 0, 0);
  CHECK(!b.grad().defined());
  opt.zero_grad();
  CHECK(!a.grad().defined());
  opt.step();  // nothing to do
  require_close(a, {0.0, 1.0});
}

TEST_CASE("optim: parameter groups have their own hyperparameters", "[optim]") {
  Tensor a = param({1.0}), b = param({1.0});
  SGD opt(std::vector<SGD::Group>{{{a}, {.lr = 0.1}}, {{b}, {.lr = 0.01, .momentum = 0.9}}});
  CHECK(opt.num_param_groups() == 2);
  CHECK(opt.lr(0) == 0.1);
  CHECK(opt.lr(1) == 0.01);
  CHECK(opt.momentum(1) == 0.9);
  opt.set_lr(0.5, 1);
  a.set_grad(tensor(Vec{1.0}));
  b.set_grad(tensor(Vec{1.0}));
  opt.step();
  require_close(a, {0.9});
  require_close(b, {0.5});
  opt.set_lr(0.2);
  CHECK(opt.lr(0) == 0.2);
  CHECK(opt.lr(1) == 0.2);
  CHECK_THROWS_AS(opt.lr(2), IndexError);
  Tensor c = param({5.0});
  opt.add_param_group({{c}, {.lr = 1.0}});
  c.set_grad(tensor(Vec{2.0}));
  opt.step();
  require_close(c, {3.0});
  CHECK(opt.parameters().size() == 3);
}

TEST_CASE("optim: constructor checks", "[optim]") {
  Tensor p = param({1.0});
  CHECK_THROWS_AS(SGD({p}, SGDOptions{}), ValueError);  // lr is required
  CHECK_THROWS_AS(SGD({p}, {.lr = -1}), ValueError);
  CHECK_THROWS_AS(SGD({p}, {.lr = 0.1, .nesterov = true}), ValueError);
  CHECK_THROWS_AS(SGD({p, p}, {.lr = 0.1}), ValueError);
  CHECK_THROWS_AS(SGD({p * 2.0}, {.lr = 0.1}), ValueError);  // not a leaf
  CHECK_THROWS_AS(SGD({tensor(std::vector<int64_t>{1})}, {.lr = 0.1}), DTypeError);
  CHECK_THROWS_AS(Adam({p}, {.betas = {1.0, 0.999}}), ValueError);
  CHECK_THROWS_AS(Adam({p}, {.eps = -1}), ValueError);
  CHECK_THROWS_AS(RMSprop({p}, {.alpha = -0.5}), ValueError);
}

namespace {

// Trains `make`'s optimizer for 3 steps, snapshots, trains 4 more; a fresh optimizer over a copy
// of the snapshot parameters, loaded from the snapshot state dict, must then reproduce the last
// 4 steps bit for bit.
void check_resume(const std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>& make) {
  Tensor a = param(kInit), b = param({0.3, -0.7});
  auto opt = make({a, b});
  auto feed = [](const Tensor& x, const Tensor& y, int t) {
    x.set_grad(tensor(grad_at(t, 4)));
    y.set_grad(tensor(grad_at(t + 7, 2)));
  };
  for (int t = 0; t < 3; ++t) {
    feed(a, b, t);
    opt->step();
  }
  StateDict snap;
  for (const auto& [k, v] : opt->state_dict()) snap.emplace_back(k, v.clone());
  Tensor a2 = a.detach().clone().set_requires_grad(true), b2 = b.detach().clone().set_requires_grad(true);
  for (int t = 3; t < 7; ++t) {
    feed(a, b, t);
    opt->step();
  }
  auto resumed = make({a2, b2});
  resumed->load_state_dict(snap);
  StateDict keep;
  for (const auto& [k, v] : snap) keep.emplace_back(k, v.clone());
  for (int t = 3; t < 7; ++t) {
    feed(a2, b2, t);
    resumed->step();
  }
  CHECK(a2.to_vector<double>() == a.to_vector<double>());
  CHECK(b2.to_vector<double>() == b.to_vector<double>());
  // The loaded state is a copy: training the resumed optimizer left the snapshot alone.
  const StateDict after = resumed->state_dict();
  REQUIRE(after.size() == snap.size());
  bool state_moved = false;
  for (size_t k = 0; k < snap.size(); ++k) {
    CHECK(after[k].first == snap[k].first);
    CHECK(snap[k].second.to_vector<double>() == keep[k].second.to_vector<double>());
    if (snap[k].first.rfind("state.", 0) == 0)
      state_moved |= after[k].second.to_vector<double>() != snap[k].second.to_vector<double>();
  }
  CHECK(state_moved);
}

}  // namespace

TEST_CASE("optim: state_dict round trip resumes bit-identically", "[optim]") {
  SECTION("SGD nesterov") {
    check_resume([](std::vector<Tensor> ps) {
      return std::make_unique<SGD>(ps, SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
    });
  }
  SECTION("Adam amsgrad") {
    check_resume([](std::vector<Tensor> ps) {
      return std::make_unique<Adam>(ps, AdamOptions{.lr = 0.01, .weight_decay = 0.1, .amsgrad = true});
    });
  }
  SECTION("AdamW") {
    check_resume([](std::vector<Tensor> ps) { return std::make_unique<AdamW>(ps, AdamWOptions(0.01)); });
  }
  SECTION("SGD nesterov fused") {
    check_resume([](std::vector<Tensor> ps) {
      return std::make_unique<SGD>(
          ps, SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true, .fused = true});
    });
  }
  SECTION("Adam amsgrad fused") {
    check_resume([](std::vector<Tensor> ps) {
      return std::make_unique<Adam>(ps, AdamOptions{.lr = 0.01, .weight_decay = 0.1, .amsgrad = true, .fused = true});
    });
  }
  SECTION("AdamW fused") {
    check_resume([](std::vector<Tensor> ps) {
      AdamWOptions o(0.01);
      o.fused = true;
      return std::make_unique<AdamW>(ps, o);
    });
  }
  SECTION("RMSprop centered momentum") {
    check_resume([](std::vector<Tensor> ps) {
      return std::make_unique<RMSprop>(ps, RMSpropOptions{.lr = 0.01, .momentum = 0.9, .centered = true});
    });
  }
  SECTION("hyperparameters come back with the state") {
    Tensor p = param({1.0});
    Adam a({p}, {.lr = 0.02, .betas = {0.8, 0.9}, .amsgrad = true});
    Tensor q = param({1.0});
    Adam b({q});
    b.load_state_dict(a.state_dict());
    CHECK(b.lr() == 0.02);
    CHECK(b.options().betas[0] == 0.8);
    CHECK(b.options().amsgrad);
  }
}

TEST_CASE("optim: state_dict keys and load_state_dict errors", "[optim]") {
  Tensor p = param({1.0, 2.0});
  Adam opt({p}, {.lr = 0.01});
  p.set_grad(tensor(Vec{1.0, -1.0}));
  opt.step();
  const StateDict sd = opt.state_dict();
  CHECK(state_find(sd, "state.0.step").dtype() == DType::Float64);
  CHECK(state_find(sd, "state.0.step").dim() == 0);
  CHECK(state_find(sd, "state.0.step").item<double>() == 1.0);
  CHECK(state_find(sd, "state.0.exp_avg").shape() == Shape{2});
  CHECK(state_find(sd, "state.0.exp_avg_sq").defined());
  CHECK(!state_find(sd, "state.0.max_exp_avg_sq").defined());
  CHECK(state_find(sd, "param_groups.0.lr").dtype() == DType::Float64);
  CHECK(state_find(sd, "param_groups.0.lr").item<double>() == 0.01);
  CHECK(state_find(sd, "param_groups.0.params").to_vector<int64_t>() == std::vector<int64_t>{0});

  Tensor q = param({5.0, 6.0});
  Adam other({q}, {.lr = 0.5});
  auto unchanged = [&] {
    CHECK(other.lr() == 0.5);
    CHECK(other.state_dict().size() == 8);  // options + params only: no state
  };
  auto with = [&](const std::string& key, const Tensor& v) {
    StateDict d = sd;
    bool found = false;
    for (auto& [k, t] : d)
      if (k == key) t = v, found = true;
    if (!found) d.emplace_back(key, v);
    return d;
  };
  auto without = [&](const std::string& key) {
    StateDict d;
    for (const auto& kv : sd)
      if (kv.first != key) d.push_back(kv);
    return d;
  };
  CHECK_THROWS_AS(other.load_state_dict(with("state.0.exp_avg", zeros({3}, {DType::Float64}))), ShapeError);
  unchanged();
  CHECK_THROWS_AS(other.load_state_dict(with("state.0.momentum_buffer", zeros({2}, {DType::Float64}))), ValueError);
  unchanged();
  CHECK_THROWS_AS(other.load_state_dict(without("param_groups.0.eps")), ValueError);
  unchanged();
  CHECK_THROWS_AS(other.load_state_dict(without("state.0.exp_avg_sq")), ValueError);  // partial state
  unchanged();
  CHECK_THROWS_AS(other.load_state_dict(with("param_groups.0.beta1", scalar(1.5, DType::Float64))), ValueError);
  unchanged();
  CHECK_THROWS_AS(other.load_state_dict(with("param_groups.1.lr", scalar(0.1, DType::Float64))), ValueError);
  unchanged();
  CHECK_THROWS_AS(other.load_state_dict(with("param_groups.0.amsgrad", scalar(1.0, DType::Float64))), DTypeError);
  unchanged();
  // An SGD state dict is not an Adam one.
  SGD sgd({param({1.0, 2.0})}, {.lr = 0.1});
  CHECK_THROWS_AS(other.load_state_dict(sgd.state_dict()), ValueError);
  unchanged();
  // A model with two parameters where the dict has one.
  Adam two({param({1.0, 2.0}), param({3.0})});
  CHECK_THROWS_AS(two.load_state_dict(sd), ShapeError);
  CHECK_THROWS_AS(other.load_state_dict(with("state.0.step", scalar(-1.0, DType::Float64))), ValueError);
  unchanged();
  CHECK_THROWS_AS(other.load_state_dict(with("state.0.step", scalar(1.5, DType::Float64))), ValueError);
  unchanged();
  other.load_state_dict(sd);
  CHECK(other.lr() == 0.01);
  CHECK(other.lr_tensor().item<double>() == 0.01);
  // The loaded step is a copy, not the saved tensor.
  CHECK(state_find(other.state_dict(), "state.0.step").data_ptr<double>() !=
        state_find(sd, "state.0.step").data_ptr<double>());
  // Older dicts saved the step as an int64 scalar: it loads as the float64 counter.
  Tensor r = param({5.0, 6.0});
  Adam older({r}, {.lr = 0.5});
  older.load_state_dict(with("state.0.step", scalar(int64_t(3), DType::Int64)));
  const Tensor st = state_find(older.state_dict(), "state.0.step");
  CHECK(st.dtype() == DType::Float64);
  CHECK(st.item<double>() == 3.0);
}

TEST_CASE("optim: clip_grad_norm_ against hand values", "[optim]") {
  Tensor a = param({0.0, 0.0}), b = param({0.0}), c = param({0.0});
  auto set = [&] {
    a.set_grad(tensor(Vec{3.0, -4.0}));
    b.set_grad(tensor(Vec{12.0}));
  };
  set();
  // L2: sqrt(9 + 16 + 144) = 13; scaled by 6.5 / (13 + 1e-6).
  Tensor n = optim::clip_grad_norm_({a, b, c}, 6.5);
  CHECK(n.dim() == 0);
  CHECK(n.item<double>() == Catch::Approx(13.0).epsilon(1e-15));
  const double s = 6.5 / (13.0 + 1e-6);
  require_close(a.grad(), {3.0 * s, -4.0 * s});
  require_close(b.grad(), {12.0 * s});
  CHECK(!c.grad().defined());
  // Below the limit: unchanged.
  set();
  CHECK(optim::clip_grad_norm_({a, b}, 100.0).item<double>() == Catch::Approx(13.0));
  require_close(a.grad(), {3.0, -4.0}, 0, 0);
  // Infinity norm: max |g| = 12.
  Tensor ni = optim::clip_grad_norm_({a, b}, 6.0, INFINITY);
  CHECK(ni.item<double>() == 12.0);
  const double si = 6.0 / (12.0 + 1e-6);
  require_close(a.grad(), {3.0 * si, -4.0 * si});
  // 1-norm: 19; 3-norm: (27 + 64 + 1728)^(1/3).
  set();
  CHECK(optim::clip_grad_norm_({a, b}, 100.0, 1.0).item<double>() == Catch::Approx(19.0).epsilon(1e-14));
  CHECK(optim::clip_grad_norm_({a, b}, 100.0, 3.0).item<double>() ==
        Catch::Approx(std::cbrt(27.0 + 64.0 + 1728.0)).epsilon(1e-14));
  // Non-finite norms.
  b.set_grad(tensor(Vec{NAN}));
  CHECK_THROWS_AS(optim::clip_grad_norm_({a, b}, 1.0, 2.0, true), ValueError);
  CHECK_THROWS_AS(optim::clip_grad_norm_({a, b}, 1.0, -1.0), ValueError);
  CHECK(optim::clip_grad_norm_({c}, 1.0).item<double>() == 0.0);
  // clip_grad_value_
  set();
  optim::clip_grad_value_({a, b}, 3.5);
  require_close(a.grad(), {3.0, -3.5}, 0, 0);
  require_close(b.grad(), {3.5}, 0, 0);
}

}  // namespace doppel::testing

// ---- Capturable optimizers: step counters and learning rates are tensors the update ops read,
// so a traced (replayed) step stays correct. These tests change those tensors and check the
// update follows.
namespace doppel::testing {

TEST_CASE("optim: step counters and learning rates are tensors that change per step", "[optim]") {
  Tensor p = param({1.0, -2.0});
  Adam opt({p}, {.lr = 0.01});
  const Tensor& lr = opt.lr_tensor();
  CHECK(lr.dim() == 0);
  CHECK(lr.dtype() == DType::Float64);
  CHECK(lr.item<double>() == 0.01);
  CHECK(opt.state_dict().size() == 8);  // no state before the first step
  p.set_grad(tensor(Vec{0.5, 0.5}));
  opt.step();
  const Tensor step = state_find(opt.state_dict(), "state.0.step");
  CHECK(step.dim() == 0);
  CHECK(step.dtype() == DType::Float64);
  CHECK(step.item<double>() == 1.0);
  opt.step();
  // The same tensor, incremented in place (a traced graph writes the counter it reads).
  CHECK(step.item<double>() == 2.0);
  CHECK(state_find(opt.state_dict(), "state.0.step").data_ptr<double>() == step.data_ptr<double>());

  Tensor q = param({1.0});
  RMSprop rms({q}, {.lr = 0.01});
  for (int t = 1; t <= 3; ++t) {
    q.set_grad(tensor(Vec{1.0}));
    rms.step();
    const Tensor s = state_find(rms.state_dict(), "state.0.step");
    CHECK(s.dtype() == DType::Float64);
    CHECK(s.item<double>() == double(t));
  }

  // Each group has its own lr tensor; set_lr writes it in place.
  Tensor a = param({1.0}), b = param({2.0});
  SGD sgd(std::vector<SGD::Group>{{{a}, {.lr = 0.1}}, {{b}, {.lr = 0.2}}});
  const double* lr0 = sgd.lr_tensor(0).data_ptr<double>();
  CHECK(sgd.lr_tensor(0).item<double>() == 0.1);
  CHECK(sgd.lr_tensor(1).item<double>() == 0.2);
  sgd.set_lr(0.3, 1);
  CHECK(sgd.lr_tensor(0).item<double>() == 0.1);
  CHECK(sgd.lr_tensor(1).item<double>() == 0.3);
  sgd.set_lr(0.05);
  CHECK(sgd.lr_tensor(0).item<double>() == 0.05);
  CHECK(sgd.lr_tensor(0).data_ptr<double>() == lr0);
  // A scheduler goes through set_lr.
  optim::StepLR sched(sgd, 1, 0.5);
  sched.step();
  CHECK(sgd.lr_tensor(0).item<double>() == 0.025);
  CHECK(sgd.lr_tensor(1).item<double>() == 0.025);
  // Assigning the option directly is picked up too.
  sgd.options(1).lr = 0.7;
  CHECK(sgd.lr_tensor(1).item<double>() == 0.7);
}

TEST_CASE("optim: the update reads the lr tensor and the step tensor", "[optim]") {
  SECTION("SGD: set_lr between steps") {
    Tensor p = param({1.0, 2.0});
    SGD opt({p}, {.lr = 0.1});
    p.set_grad(tensor(Vec{1.0, -1.0}));
    opt.step();
    require_close(p, {0.9, 2.1});
    opt.set_lr(0.5);
    opt.step();
    require_close(p, {0.4, 2.6});
    // Written straight into the tensor (what a replayed graph sees): the next update uses it.
    copy_(opt.lr_tensor(), scalar(0.25, DType::Float64));
    opt.step();
    require_close(p, {0.15, 2.85});
  }
  SECTION("SGD momentum and RMSprop follow set_lr like their references") {
    Tensor p = param(kInit), q = param(kInit);
    SGD sgd({p}, {.lr = 0.1, .momentum = 0.9});
    RefSGD rs{sgd.options(), {}};
    RMSprop rms({q}, {.lr = 0.01, .momentum = 0.5});
    RefRMSprop rr{rms.options(), {}, {}, {}};
    Vec ep = kInit, eq = kInit;
    for (int t = 0; t < 6; ++t) {
      const double lr = 0.01 * (t + 1);
      sgd.set_lr(lr);
      rms.set_lr(lr);
      rs.o.lr = rr.o.lr = lr;
      const Vec g = grad_at(t, kInit.size());
      p.set_grad(tensor(g));
      q.set_grad(tensor(g));
      sgd.step();
      rms.step();
      rs.step(ep, g);
      rr.step(eq, g);
      require_close(p, ep);
      require_close(q, eq);
    }
  }
  SECTION("Adam: lr changes, lr 0, and a rewritten step count") {
    Tensor p = param(kInit);
    Adam opt({p}, {.lr = 0.01});
    RefAdam ref{opt.options(), false};
    Vec expected = kInit;
    for (int t = 0; t < 6; ++t) {
      const double lr = t == 3 ? 0.0 : 0.01 / (t + 1);
      opt.set_lr(lr);
      ref.o.lr = lr;
      const Vec g = grad_at(t, kInit.size());
      p.set_grad(tensor(g));
      opt.step();
      ref.step(expected, g);
      require_close(p, expected);
    }
    // The kernel takes the bias corrections from the step tensor: jump the count to 100.
    copy_(state_find(opt.state_dict(), "state.0.step"), scalar(99.0, DType::Float64));
    ref.t = 99;
    const Vec g = grad_at(7, kInit.size());
    p.set_grad(tensor(g));
    opt.step();
    ref.step(expected, g);
    require_close(p, expected);
    CHECK(state_find(opt.state_dict(), "state.0.step").item<double>() == 100.0);
  }
  SECTION("0-d float32 parameters keep their dtype") {
    Tensor a = scalar(1.0f, DType::Float32).set_requires_grad(true);
    Tensor b = scalar(1.0f, DType::Float32).set_requires_grad(true);
    Tensor c = scalar(1.0f, DType::Float32).set_requires_grad(true);
    SGD sgd({a}, {.lr = 0.5});
    RMSprop rms({b}, {.lr = 0.01});
    Adam adam({c}, {.lr = 0.1});
    for (const Tensor& x : {a, b, c}) x.set_grad(scalar(1.0f, DType::Float32));
    sgd.step();
    rms.step();
    adam.step();
    for (const Tensor& x : {a, b, c}) CHECK(x.dtype() == DType::Float32);
    CHECK(a.item<float>() == 0.5f);
    CHECK(b.item<double>() == Catch::Approx(1.0 - 0.01 / (0.1 + 1e-8)).epsilon(1e-6));
    CHECK(c.item<double>() == Catch::Approx(0.9).epsilon(1e-6));
  }
}

TEST_CASE("optim: Adam's op-by-op path (non-contiguous parameters) equals the fused one", "[optim]") {
  const std::vector<std::pair<AdamOptions, bool>> cases = {
      {{.lr = 0.01}, false},
      {{.lr = 0.02, .betas = {0.8, 0.95}, .eps = 1e-6, .amsgrad = true}, false},
      {{.lr = 0.01, .weight_decay = 0.1, .maximize = true}, false},
      {{.lr = 0.01, .weight_decay = 0.1, .amsgrad = true}, true},
  };
  Vec init(12);
  for (size_t i = 0; i < init.size(); ++i) init[i] = std::cos(0.9 * double(i));
  for (size_t c = 0; c < cases.size(); ++c) {
    INFO("case " << c);
    const auto& [o, decoupled] = cases[c];
    // The same values, one laid out transposed: [4, 3] with strides (1, 4).
    Tensor fused = tensor(init, {3, 4}).t().contiguous().set_requires_grad(true);
    Tensor strided = tensor(init, {3, 4}).t().set_requires_grad(true);
    REQUIRE(!strided.is_contiguous());
    REQUIRE(strided.is_leaf());
    std::unique_ptr<Adam> fa, sa;
    if (decoupled) {
      AdamWOptions w(o.lr);
      w.weight_decay = o.weight_decay;
      w.amsgrad = o.amsgrad;
      fa = std::make_unique<AdamW>(std::vector<Tensor>{fused}, w);
      sa = std::make_unique<AdamW>(std::vector<Tensor>{strided}, w);
    } else {
      fa = std::make_unique<Adam>(std::vector<Tensor>{fused}, o);
      sa = std::make_unique<Adam>(std::vector<Tensor>{strided}, o);
    }
    RefAdam ref{o, decoupled};
    Vec expected = fused.to_vector<double>();
    for (int t = 0; t < 6; ++t) {
      if (t == 4) {  // lr 0 mid-run: the moments advance, the parameters stay (no NaN either way)
        fa->set_lr(0.0);
        sa->set_lr(0.0);
        ref.o.lr = 0.0;
      }
      const Tensor g = tensor(grad_at(t, 12), {4, 3});
      fused.set_grad(g);
      strided.set_grad(g.clone());
      fa->step();
      sa->step();
      ref.step(expected, g.to_vector<double>());
      require_close(fused, expected);
      require_close(strided, expected);
      const StateDict fs = fa->state_dict(), ss = sa->state_dict();
      CHECK(state_find(ss, "state.0.step").item<double>() == double(t + 1));
      require_close(state_find(ss, "state.0.exp_avg"), state_find(fs, "state.0.exp_avg").to_vector<double>());
      require_close(state_find(ss, "state.0.exp_avg_sq"), state_find(fs, "state.0.exp_avg_sq").to_vector<double>());
    }
  }
}

TEST_CASE("optim: SGD's op-by-op path (non-contiguous parameters) equals sgd_step's", "[optim]") {
  const std::vector<SGDOptions> cases = {{.lr = 0.05, .momentum = 0.9, .dampening = 0.3},
                                         {.lr = 0.05, .momentum = 0.8, .weight_decay = 0.1, .nesterov = true},
                                         {.lr = 0.02, .weight_decay = 0.5, .maximize = true}};
  for (size_t c = 0; c < cases.size(); ++c) {
    INFO("case " << c);
    Tensor dense = tensor(grad_at(50, 12), {4, 3}).set_requires_grad(true);
    // The same values, in column-major order.
    Tensor strided = tensor(grad_at(50, 12), {4, 3}).t().contiguous().t().set_requires_grad(true);
    REQUIRE(!strided.is_contiguous());
    SGD a({dense}, cases[c]), b({strided}, cases[c]);
    RefSGD ref{cases[c], {}};
    Vec expected = dense.to_vector<double>();
    for (int t = 0; t < 5; ++t) {
      const Tensor g = tensor(grad_at(t, 12), {4, 3});
      dense.set_grad(g);
      strided.set_grad(g.clone());
      a.step();
      b.step();
      ref.step(expected, g.to_vector<double>());
      require_close(dense, expected);
      require_close(strided.contiguous(), expected);
    }
  }
}

namespace {

// Parameters of several shapes (a matrix, a vector, a 0-d one) and the gradient each gets at step t.
std::vector<Tensor> fused_params() {
  return {tensor(grad_at(90, 6), {2, 3}).set_requires_grad(true), param({0.5, -0.25, 1.5, 2.0}),
          scalar(0.75, DType::Float64).set_requires_grad(true)};
}
Tensor fused_grad(const Tensor& p, size_t k, int t) {
  return tensor(grad_at(t + 5 * int(k), size_t(p.numel()))).reshape(p.shape());
}

// Steps the optimizers made by make(params, fused) with fused and per-parameter updates and
// per-parameter float64 references for `steps` steps; has_grad(k, t) says whether parameter k has
// a gradient at step t (none: skipped, as PyTorch skips it). Fused and per-parameter results
// are bit-identical; both track the references.
template <class Ref, class Make>
void check_fused(Make make, Ref ref0, int steps, const std::function<bool(size_t, int)>& has_grad) {
  std::vector<Tensor> pf = fused_params(), pu = fused_params();
  auto fused = make(pf, true);
  auto plain = make(pu, false);
  // The fused optimizer moved its parameters into one storage, as views in their own shapes.
  for (const Tensor& p : pf) CHECK(p.storage().get() == pf[0].storage().get());
  CHECK(pf[0].shape() == Shape{2, 3});
  CHECK(pf[2].dim() == 0);
  std::vector<Ref> refs(pf.size(), ref0);
  std::vector<Vec> expected;
  for (const Tensor& p : pu) expected.push_back(p.to_vector<double>());
  for (int t = 0; t < steps; ++t) {
    for (size_t k = 0; k < pf.size(); ++k) {
      const bool g = has_grad(k, t);
      pf[k].set_grad(g ? fused_grad(pf[k], k, t) : Tensor());
      pu[k].set_grad(g ? fused_grad(pu[k], k, t) : Tensor());
      if (g) refs[k].step(expected[k], fused_grad(pu[k], k, t).to_vector<double>());
    }
    fused->step();
    plain->step();
    for (size_t k = 0; k < pf.size(); ++k) {
      INFO("step " << t + 1 << " parameter " << k);
      require_close(pf[k], pu[k].to_vector<double>(), 0, 0);
      require_close(pf[k], expected[k], 1e-12, 1e-14);
    }
  }
  const StateDict sf = fused->state_dict(), su = plain->state_dict();
  REQUIRE(sf.size() == su.size());
  for (size_t k = 0; k < sf.size(); ++k) {
    INFO(sf[k].first);
    CHECK(sf[k].first == su[k].first);
    require_close(sf[k].second, su[k].second.to_vector<double>(), 0, 0);
  }
}

const std::vector<SGDOptions> kFusedSgdCases = {
    {.lr = 0.1},
    {.lr = 0.05, .momentum = 0.9, .dampening = 0.3},
    {.lr = 0.05, .momentum = 0.8, .weight_decay = 0.1, .nesterov = true},
    {.lr = 0.02, .momentum = 0.5, .weight_decay = 0.2, .maximize = true},
};
const std::vector<AdamOptions> kFusedAdamCases = {
    {.lr = 0.01},
    {.lr = 0.01, .weight_decay = 0.1, .amsgrad = true},
    {.lr = 0.02, .betas = {0.8, 0.9}, .weight_decay = 0.05, .amsgrad = true, .maximize = true},
};

void check_fused_all(int steps, const std::function<bool(size_t, int)>& has_grad) {
  for (size_t c = 0; c < kFusedSgdCases.size(); ++c) {
    INFO("SGD case " << c);
    check_fused(
        [&](std::vector<Tensor> ps, bool fused) {
          SGDOptions o = kFusedSgdCases[c];
          o.fused = fused;
          return std::make_unique<SGD>(ps, o);
        },
        RefSGD{kFusedSgdCases[c], {}}, steps, has_grad);
  }
  for (size_t c = 0; c < kFusedAdamCases.size(); ++c) {
    for (const bool decoupled : {false, true}) {
      INFO("Adam case " << c << " decoupled " << decoupled);
      check_fused(
          [&](std::vector<Tensor> ps, bool fused) -> std::unique_ptr<Adam> {
            AdamOptions o = kFusedAdamCases[c];
            o.fused = fused;
            if (!decoupled) return std::make_unique<Adam>(ps, o);
            AdamWOptions w;
            static_cast<AdamOptions&>(w) = o;
            return std::make_unique<AdamW>(ps, w);
          },
          RefAdam{kFusedAdamCases[c], decoupled}, steps, has_grad);
    }
  }
}

}  // namespace

TEST_CASE("optim: fused SGD, Adam and AdamW equal the per-parameter update and a float64 reference",
          "[optim][fused_optim]") {
  check_fused_all(20, [](size_t, int) { return true; });
}

TEST_CASE("optim: fused groups skip parameters without a gradient, as PyTorch", "[optim][fused_optim]") {
  // Parameter 1 gets a gradient on odd steps only (its momentum buffer and Adam step count start
  // late and lag); parameter 2 never gets one (frozen) and must not move.
  check_fused_all(20, [](size_t k, int t) { return k == 0 || (k == 1 && t % 2 == 1); });
  // The middle parameter alone, then the outer ones alone.
  check_fused_all(6, [](size_t k, int t) { return t < 3 ? k == 1 : k != 1; });
}

TEST_CASE("optim: fused parameter groups, one update each, with their own learning rates", "[optim][fused_optim]") {
  Tensor a = param({1.0, 2.0}), b = param({3.0}), c = param({-1.0, 0.5, 4.0});
  SGD opt(std::vector<SGD::Group>{{{a, b}, {.lr = 0.1, .momentum = 0.9, .fused = true}},
                                  {{c}, {.lr = 0.01, .fused = true}}});
  CHECK(a.storage().get() == b.storage().get());
  CHECK(c.storage().get() != a.storage().get());
  RefSGD ra{{.lr = 0.1, .momentum = 0.9}, {}}, rc{{.lr = 0.01}, {}};
  Vec ab = {1.0, 2.0, 3.0}, ec = {-1.0, 0.5, 4.0};
  for (int t = 0; t < 4; ++t) {
    if (t == 2) {
      opt.set_lr(0.2, 0);
      ra.o.lr = 0.2;
    }
    const Vec g = grad_at(t, 3), h = grad_at(t + 9, 3);
    a.set_grad(tensor(Vec{g[0], g[1]}));
    b.set_grad(tensor(Vec{g[2]}));
    c.set_grad(tensor(h));
    opt.step();
    ra.step(ab, g);
    rc.step(ec, h);
    require_close(a, {ab[0], ab[1]});
    require_close(b, {ab[2]});
    require_close(c, ec);
  }
}

TEST_CASE("optim: fused state loads into a per-parameter optimizer and back, through a checkpoint",
          "[optim][fused_optim]") {
  for (const bool from_fused : {true, false}) {
    INFO("from fused " << from_fused);
    std::vector<Tensor> p0 = fused_params();
    Adam first(p0, {.lr = 0.01, .amsgrad = true, .fused = from_fused});
    for (int t = 0; t < 3; ++t) {
      for (size_t k = 0; k < p0.size(); ++k) p0[k].set_grad(k == 1 && t == 0 ? Tensor() : fused_grad(p0[k], k, t));
      first.step();
    }
    // Through a checkpoint file: the fused state (views of flat buffers, shared step counters)
    // saves as the per-parameter one does.
    const std::string path =
        (std::filesystem::temp_directory_path() / ("doppel_fused_optim_" + std::to_string(from_fused) + ".safetensors"))
            .string();
    io::save_checkpoint(path, {{"optimizer", first.state_dict()}});
    const StateDict snap = io::load_checkpoint(path).part("optimizer");
    std::filesystem::remove(path);
    std::vector<Tensor> pa, pb;
    for (const Tensor& p : p0) {
      pa.push_back(p.detach().clone().set_requires_grad(true));
      pb.push_back(p.detach().clone().set_requires_grad(true));
    }
    Adam fused(pa, {.lr = 0.01, .amsgrad = true, .fused = true}), plain(pb, {.lr = 0.01, .amsgrad = true});
    fused.load_state_dict(snap);
    plain.load_state_dict(snap);
    // Parameters whose loaded step counts are equal share one counter again; parameter 1 lags.
    const StateDict loaded = fused.state_dict();
    auto find = [&](const std::string& key) {
      for (const auto& [k, v] : loaded)
        if (k == key) return v;
      return Tensor();
    };
    CHECK(find("state.0.step").is_same(find("state.2.step")));
    CHECK(find("state.1.step").item<double>() == 2.0);
    for (int t = 3; t < 8; ++t) {
      for (size_t k = 0; k < p0.size(); ++k) {
        pa[k].set_grad(fused_grad(pa[k], k, t));
        pb[k].set_grad(fused_grad(pb[k], k, t));
      }
      fused.step();
      plain.step();
      for (size_t k = 0; k < p0.size(); ++k) require_close(pa[k], pb[k].to_vector<double>(), 0, 0);
    }
    CHECK(find("state.1.step").item<double>() == 7.0);
  }
}

TEST_CASE("optim: a fused group follows parameters that Module::to moved", "[optim][fused_optim]") {
  for (const double momentum : {0.0, 0.9}) {
    INFO("momentum " << momentum);
    manual_seed(3);
    nn::Linear fused_layer(3, 2), plain_layer(3, 2);
    plain_layer.load_state_dict(fused_layer.state_dict());
    SGD fused(fused_layer.parameters(), {.lr = 0.1, .momentum = momentum, .fused = true});
    SGD plain(plain_layer.parameters(), {.lr = 0.1, .momentum = momentum});
    const Tensor x = tensor(grad_at(1, 6), {2, 3}).to(DType::Float32);
    auto train = [&](nn::Linear& layer, SGD& opt, const Tensor& in) {
      opt.zero_grad();
      sum(layer.forward(in)).backward();
      opt.step();
    };
    for (int t = 0; t < 2; ++t) {
      train(fused_layer, fused, x);
      train(plain_layer, plain, x);
    }
    // The module's own parameters are the flat buffer's views: its forward sees the updates.
    CHECK(fused_layer.parameters()[0].storage().get() == fused_layer.parameters()[1].storage().get());
    require_close(fused_layer.forward(x), plain_layer.forward(x).to_vector<double>(), 0, 0);
    fused_layer.to(DType::Float64);
    CHECK(fused_layer.parameters()[0].storage().get() != fused_layer.parameters()[1].storage().get());
    const Tensor x64 = x.to(DType::Float64);
    train(fused_layer, fused, x64);
    // Flat again, in float64, momentum buffers included (a per-parameter optimizer's float32
    // buffers refuse float64 parameters, as PyTorch's in-place update refuses float64 into float32).
    CHECK(fused_layer.parameters()[0].storage().get() == fused_layer.parameters()[1].storage().get());
    CHECK(fused_layer.parameters()[0].dtype() == DType::Float64);
    for (const auto& [k, v] : fused.state_dict())
      if (k.rfind("state.", 0) == 0) CHECK(v.dtype() == DType::Float64);
    if (momentum == 0) {
      plain_layer.to(DType::Float64);
      train(plain_layer, plain, x64);
      require_close(fused_layer.forward(x64), plain_layer.forward(x64).to_vector<double>(), 0, 0);
    }
  }
}

TEST_CASE("optim: fused groups need one floating dtype and one device", "[optim][fused_optim]") {
  Tensor a = param({1.0}), b = tensor(std::vector<float>{1.0f}).set_requires_grad(true);
  CHECK_THROWS_AS(SGD({a, b}, {.lr = 0.1, .fused = true}), DTypeError);
  CHECK_NOTHROW(SGD(std::vector<SGD::Group>{{{a}, {.lr = 0.1, .fused = true}}, {{b}, {.lr = 0.1, .fused = true}}}));
}

}  // namespace doppel::testing
