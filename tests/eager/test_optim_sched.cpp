// Learning-rate schedulers against hand-computed PyTorch values, their state dicts, and an
// end-to-end check that every optimizer minimizes a quadratic through autograd.
#include <catch2/catch_test_macros.hpp>
#include <cmath>
#include <functional>
#include <memory>
#include <numbers>
#include <vector>

#include "doppel/nn/linear.h"
#include "doppel/optim/optim.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

using namespace doppel::optim;  // NOLINT: test brevity
using Vec = std::vector<double>;

Tensor param(const Vec& v) { return tensor(v).set_requires_grad(true); }

// The rates a scheduler produces at epochs 0..n-1 (the constructor applies epoch 0).
Vec lrs(LRScheduler& s, Optimizer& opt, int n, size_t group = 0) {
  Vec out;
  for (int e = 0; e < n; ++e) {
    if (e > 0) s.step();
    CHECK(s.get_last_lr()[group] == opt.lr(group));
    out.push_back(opt.lr(group));
  }
  return out;
}

void check_seq(const Vec& actual, const Vec& expected, double tol = 1e-15) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    INFO("epoch " << i << ": " << actual[i] << " vs " << expected[i]);
    CHECK(std::abs(actual[i] - expected[i]) <= tol * std::max(1.0, std::abs(expected[i])));
  }
}

constexpr double kPi = std::numbers::pi;

}  // namespace

TEST_CASE("optim: StepLR", "[optim]") {
  SGD opt({param({1.0})}, {.lr = 0.1});
  StepLR s(opt, 3, 0.5);
  check_seq(lrs(s, opt, 8), {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025});
  CHECK(s.last_epoch() == 7);
  CHECK_THROWS_AS(StepLR(opt, 0), ValueError);
}

TEST_CASE("optim: CosineAnnealingLR", "[optim]") {
  SGD opt({param({1.0})}, {.lr = 0.1});
  CosineAnnealingLR s(opt, 10, 0.001);
  const Vec v = lrs(s, opt, 21);
  CHECK(v[0] == 0.1);
  CHECK(std::abs(v[5] - 0.0505) < 1e-15);  // T_max / 2: halfway between base and eta_min
  CHECK(std::abs(v[10] - 0.001) < 1e-15);  // T_max: eta_min
  CHECK(std::abs(v[3] - (0.001 + 0.099 * (1 + std::cos(kPi * 0.3)) / 2)) < 1e-15);
  CHECK(std::abs(v[15] - 0.0505) < 1e-15);  // PyTorch's schedule continues periodically past T_max
  CHECK(std::abs(v[20] - 0.1) < 1e-15);
}

TEST_CASE("optim: LinearLR warm-up and SequentialLR / linear_warmup", "[optim]") {
  SGD opt({param({1.0})}, {.lr = 0.1});
  LinearLR s(opt, 0.25, 1.0, 4);
  check_seq(lrs(s, opt, 6), {0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1});
  CHECK_THROWS_AS(LinearLR(opt, 0.0), ValueError);

  SGD opt2({param({1.0})}, {.lr = 0.1});
  auto cosine = std::make_shared<CosineAnnealingLR>(opt2, 4);
  auto warm = linear_warmup(opt2, 3, cosine, 0.1);
  const double c1 = 0.05 * (1 + std::cos(kPi / 4)), c3 = 0.05 * (1 + std::cos(3 * kPi / 4));
  check_seq(lrs(*warm, opt2, 8), {0.01, 0.04, 0.07, 0.1, c1, 0.05, c3, 0.0});
  CHECK(warm->base_lrs() == Vec{0.1});
  CHECK(cosine->last_epoch() == 4);  // the scheduler in charge follows, on its own clock
  CHECK(cosine->get_last_lr() == Vec{0.0});

  // SequentialLR directly: StepLR then a constant tail from LinearLR with factor 1.
  SGD opt3({param({1.0})}, {.lr = 1.0});
  auto step = std::make_shared<StepLR>(opt3, 1, 0.5);
  auto flat = std::make_shared<LinearLR>(opt3, 1.0, 1.0, 1);
  SequentialLR seq(opt3, {step, flat}, {3});
  check_seq(lrs(seq, opt3, 6), {1.0, 0.5, 0.25, 1.0, 1.0, 1.0});
  CHECK_THROWS_AS(SequentialLR(opt3, {step, flat}, {}), ValueError);
  SGD other({param({1.0})}, {.lr = 1.0});
  auto foreign = std::make_shared<StepLR>(other, 1);
  CHECK_THROWS_AS(SequentialLR(opt3, {step, foreign}, {2}), ValueError);
}

TEST_CASE("optim: OneCycleLR lrs and momentum", "[optim]") {
  // max_lr 0.1, 100 steps: initial 0.1 / 25 = 0.004, peak at step 0.3 * 100 - 1 = 29, then down to
  // 0.004 / 1e4 = 4e-7 at step 99. Momentum runs 0.95 -> 0.85 -> 0.95.
  SGD opt({param({1.0})}, {.lr = 0.5, .momentum = 0.0});
  OneCycleLR s(opt, 0.1, 100);
  CHECK(opt.momentum() == 0.95);
  Vec v, m;
  for (int e = 0; e < 100; ++e) {
    if (e > 0) s.step();
    v.push_back(opt.lr());
    m.push_back(opt.momentum());
  }
  CHECK(std::abs(v[0] - 0.004) < 1e-16);
  CHECK(std::abs(v[29] - 0.1) < 1e-16);
  CHECK(std::abs(v[99] - 4e-7) < 1e-18);
  CHECK(std::abs(v[10] - (0.1 + (0.004 - 0.1) / 2 * (1 + std::cos(kPi * 10 / 29)))) < 1e-16);
  CHECK(std::abs(v[64] - (0.1 + 4e-7) / 2) < 1e-16);  // halfway through the 70-step descent
  CHECK(std::abs(m[0] - 0.95) < 1e-16);
  CHECK(std::abs(m[29] - 0.85) < 1e-16);
  CHECK(std::abs(m[64] - 0.9) < 1e-15);
  CHECK(std::abs(m[99] - 0.95) < 1e-16);
  s.step();  // step 100 extrapolates, as PyTorch allows
  CHECK_THROWS_AS(s.step(), ValueError);

  // Three phases, linear annealing, Adam's beta1 cycled, per-group max_lr.
  Adam adam(std::vector<Adam::Group>{{{param({1.0})}, {}}, {{param({2.0})}, {}}});
  OneCycleLR t(adam, Vec{0.1, 1.0}, 100, {.anneal_strategy = AnnealStrategy::Linear, .three_phase = true});
  Vec a, b;
  for (int e = 0; e < 100; ++e) {
    if (e > 0) t.step();
    a.push_back(adam.lr(0));
    b.push_back(adam.lr(1));
    if (e == 29) CHECK(std::abs(adam.options(0).betas[0] - 0.85) < 1e-15);
  }
  CHECK(std::abs(a[10] - (0.004 + 0.096 * 10 / 29)) < 1e-16);
  CHECK(std::abs(a[29] - 0.1) < 1e-16);
  CHECK(std::abs(a[58] - 0.004) < 1e-16);  // back to the initial rate at 2 * 30 - 2
  CHECK(std::abs(a[99] - 4e-7) < 1e-18);
  CHECK(std::abs(b[29] - 1.0) < 1e-15);
  CHECK(adam.options(1).betas[0] == 0.95);

  // A one-step warm-up phase divides by zero (as in PyTorch): a clear error, not a NaN rate.
  CHECK_THROWS_AS(OneCycleLR(adam, 0.1, 10, {.pct_start = 0.1, .cycle_momentum = false}), ValueError);

  RMSprop rms({param({1.0})});
  CHECK_NOTHROW(OneCycleLR(rms, 0.1, 10));
  CHECK_THROWS_AS(OneCycleLR(opt, 0.1, 0), ValueError);
  CHECK_THROWS_AS(OneCycleLR(opt, Vec{0.1, 0.2}, 10), ValueError);
}

TEST_CASE("optim: OneCycleLR over the standard loop matches PyTorch, linear and cos", "[optim]") {
  // The standard loop steps the scheduler total_steps times, so the last step() extrapolates one
  // step past the schedule; with linear annealing the rate goes below zero and PyTorch keeps it.
  // Values from PyTorch 1.13 (Debian's torch): SGD([p], lr=0.1, momentum=0.9), OneCycleLR(opt,
  // max_lr=0.1, total_steps=10, anneal_strategy=..., three_phase=...); get_last_lr()[0] and
  // param_groups[0]['momentum'] after construction and after each of 10 opt.step(); s.step().
  struct Case {
    AnnealStrategy strategy;
    bool three_phase;
    Vec lr, momentum;
  };
  const std::vector<Case> cases = {
      {AnnealStrategy::Linear,
       false,
       {0.004, 0.052000000000000005, 0.1, 0.08571434285714286, 0.07142868571428572, 0.05714302857142858,
        0.042857371428571434, 0.028571714285714284, 0.014286057142857148, 3.999999999976245e-07, -0.014285257142857138},
       {0.95, 0.8999999999999999, 0.85, 0.8642857142857142, 0.8785714285714286, 0.8928571428571428, 0.9071428571428571,
        0.9214285714285714, 0.9357142857142857, 0.95, 0.9642857142857142}},
      {AnnealStrategy::Linear,
       true,
       {0.004, 0.052000000000000005, 0.1, 0.052000000000000005, 0.0040000000000000036, 0.00320008, 0.00240016,
        0.0016002400000000002, 0.0008003200000000002, 4.0000000000022656e-07, -0.0007995199999999997},
       {0.95, 0.8999999999999999, 0.85, 0.8999999999999999, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95}},
      {AnnealStrategy::Cos,
       false,
       {0.0040000000000000036, 0.052000000000000005, 0.1, 0.09504846320134738, 0.0811745653949763, 0.06112620219362893,
        0.03887419780637107, 0.0188258346050237, 0.004951936798652629, 4e-07, 0.004951936798652624},
       {0.95, 0.8999999999999999, 0.85, 0.854951556604879, 0.8688255099070633, 0.8888739533021842, 0.9111260466978157,
        0.9311744900929366, 0.945048443395121, 0.95, 0.945048443395121}},
      {AnnealStrategy::Cos,
       true,
       {0.0040000000000000036, 0.052000000000000005, 0.1, 0.052000000000000005, 0.004, 0.0036180721853510196,
        0.0026181721853510195, 0.0013822278146489802, 0.0003823278146489803, 4e-07, 0.00038232781464897985},
       {0.95, 0.8999999999999999, 0.85, 0.8999999999999999, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.strategy == AnnealStrategy::Cos, c.three_phase);
    SGD opt({param({1.0})}, {.lr = 0.1, .momentum = 0.9});
    OneCycleLR s(opt, 0.1, 10, {.anneal_strategy = c.strategy, .three_phase = c.three_phase});
    Vec lr = {s.get_last_lr()[0]}, momentum = {opt.momentum()};
    for (int k = 0; k < 10; ++k) {
      opt.step();
      s.step();
      lr.push_back(s.get_last_lr()[0]);
      momentum.push_back(opt.momentum());
    }
    check_seq(lr, c.lr, 1e-15);
    check_seq(momentum, c.momentum, 1e-15);
    CHECK(opt.lr() == lr.back());
    CHECK_THROWS_AS(s.step(), ValueError);  // past the extrapolated step, as PyTorch
  }
}

TEST_CASE("optim: scheduler state_dict resumes the schedule", "[optim]") {
  using Make = std::function<std::shared_ptr<LRScheduler>(Optimizer&)>;
  const std::vector<std::pair<const char*, Make>> cases = {
      {"StepLR", [](Optimizer& o) { return std::make_shared<StepLR>(o, 2, 0.3); }},
      {"Cosine", [](Optimizer& o) { return std::make_shared<CosineAnnealingLR>(o, 7, 0.01); }},
      {"warmup+cosine",
       [](Optimizer& o) { return linear_warmup(o, 3, std::make_shared<CosineAnnealingLR>(o, 9), 0.2); }},
      {"OneCycle", [](Optimizer& o) { return std::make_shared<OneCycleLR>(o, 0.5, 12); }},
  };
  for (const auto& [name, make] : cases) {
    INFO(name);
    SGD opt({param({1.0, 2.0})}, {.lr = 0.1, .momentum = 0.9});
    auto s = make(opt);
    for (int e = 0; e < 4; ++e) s->step();
    const StateDict sd = s->state_dict(), osd = opt.state_dict();
    SGD opt2({param({1.0, 2.0})}, {.lr = 0.1, .momentum = 0.9});
    auto s2 = make(opt2);  // applies epoch 0 to opt2; the loads below restore epoch 4
    opt2.load_state_dict(osd);
    s2->load_state_dict(sd);
    CHECK(s2->last_epoch() == 4);
    CHECK(s2->get_last_lr() == s->get_last_lr());
    for (int e = 0; e < 6; ++e) {
      s->step();
      s2->step();
      CHECK(opt2.lr() == opt.lr());
      CHECK(opt2.momentum() == opt.momentum());
    }
  }
  // Errors: a dict from another kind of scheduler, or with a wrongly typed entry.
  SGD opt({param({1.0})}, {.lr = 0.1});
  StepLR step(opt, 2);
  CosineAnnealingLR cos(opt, 5);
  CHECK_THROWS_AS(cos.load_state_dict(step.state_dict()), ValueError);
  StateDict bad = step.state_dict();
  for (auto& [k, v] : bad)
    if (k == "step_size") v = scalar(2.5, DType::Float64);
  CHECK_THROWS_AS(step.load_state_dict(bad), DTypeError);
  for (auto& [k, v] : bad)
    if (k == "step_size") v = scalar(0, DType::Int64);
  CHECK_THROWS_AS(step.load_state_dict(bad), ValueError);  // invalid value, and nothing changed
  step.step();
  step.step();
  CHECK(std::abs(opt.lr() - 0.01) < 1e-17);
}

TEST_CASE("optim: every optimizer minimizes a quadratic", "[optim]") {
  // f(x) = sum(w * (x - c)^2), minimum at c; gradients through autograd, an annealed schedule.
  const Vec w = {1.0, 2.0, 0.5, 3.0}, c = {1.0, -2.0, 0.5, 3.0};
  using Make = std::function<std::unique_ptr<Optimizer>(Tensor)>;
  const std::vector<std::pair<const char*, Make>> cases = {
      {"SGD", [](Tensor x) { return std::make_unique<SGD>(std::vector<Tensor>{x}, SGDOptions{.lr = 0.1}); }},
      {"SGD nesterov",
       [](Tensor x) {
         return std::make_unique<SGD>(std::vector<Tensor>{x},
                                      SGDOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true});
       }},
      {"Adam", [](Tensor x) { return std::make_unique<Adam>(std::vector<Tensor>{x}, AdamOptions{.lr = 0.1}); }},
      {"Adam amsgrad",
       [](Tensor x) {
         return std::make_unique<Adam>(std::vector<Tensor>{x}, AdamOptions{.lr = 0.1, .amsgrad = true});
       }},
      {"AdamW",
       [](Tensor x) {
         AdamWOptions o(0.1);
         o.weight_decay = 0;
         return std::make_unique<AdamW>(std::vector<Tensor>{x}, o);
       }},
      {"RMSprop",
       [](Tensor x) { return std::make_unique<RMSprop>(std::vector<Tensor>{x}, RMSpropOptions{.lr = 0.05}); }},
      {"RMSprop centered momentum",
       [](Tensor x) {
         return std::make_unique<RMSprop>(std::vector<Tensor>{x},
                                          RMSpropOptions{.lr = 0.01, .momentum = 0.9, .centered = true});
       }},
  };
  const Tensor wt = tensor(w), ct = tensor(c);
  for (const auto& [name, make] : cases) {
    INFO(name);
    Tensor x = param({0.0, 0.0, 0.0, 0.0});
    auto opt = make(x);
    CosineAnnealingLR sched(*opt, 400);
    double loss = 0;
    for (int it = 0; it < 400; ++it) {
      opt->zero_grad();
      Tensor d = x - ct;
      Tensor l = sum(wt * d * d);
      l.backward();
      loss = l.item<double>();
      opt->step();
      sched.step();
    }
    CHECK(loss < 1e-6);
    const Vec xv = x.to_vector<double>();
    for (size_t i = 0; i < c.size(); ++i) CHECK(std::abs(xv[i] - c[i]) < 1e-3);
  }
}

TEST_CASE("optim: a Linear model trains with Adam, clipping and a warm-up schedule", "[optim]") {
  // y = x . (2, -1, 0.5) + 0.3 in float32: Module::parameters() straight into the optimizer.
  const Tensor x = make_input({64, 3}, DType::Float32, 7);
  const Tensor y = matmul(x, tensor(std::vector<float>{2.0f, -1.0f, 0.5f}, {3, 1})) + 0.3;
  nn::Linear model(3, 1);
  AdamW opt(model.parameters(), AdamWOptions(0.05));
  auto sched = linear_warmup(opt, 10, std::make_shared<CosineAnnealingLR>(opt, 290), 0.1);
  double loss = 0;
  for (int it = 0; it < 300; ++it) {
    opt.zero_grad();
    Tensor l = mse_loss(model(x), y);
    l.backward();
    clip_grad_norm_(model.parameters(), 1.0);
    opt.step();
    sched->step();
    loss = l.item<double>();
  }
  CHECK(loss < 1e-3);
  const Vec w = model.weight.to(DType::Float64).to_vector<double>();
  CHECK(std::abs(w[0] - 2.0) < 0.05);
  CHECK(std::abs(w[1] + 1.0) < 0.05);
  CHECK(std::abs(w[2] - 0.5) < 0.05);
  CHECK(std::abs(model.bias.item<double>() - 0.3) < 0.05);
}

}  // namespace doppel::testing
