// Adadelta against PyTorch's algorithm re-derived in plain double arithmetic, and the metrics
// against hand-counted values.
#include <catch2/catch_test_macros.hpp>
#include <cmath>
#include <vector>

#include "doppel/doppel.h"
#include "doppel/optim/adadelta.h"
#include "doppel/trainer/metric.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

using Vec = std::vector<double>;

TEST_CASE("Adadelta: three steps equal PyTorch's formulas in double, with weight decay and maximize", "[trainer]") {
  for (const bool maximize : {false, true}) {
    const optim::AdadeltaOptions o{.lr = 0.7, .rho = 0.8, .eps = 1e-3, .weight_decay = 0.1, .maximize = maximize};
    Vec p{0.5, -1.25, 2.0, 0.0}, sq(4, 0.0), acc(4, 0.0);
    Tensor t = tensor(p).set_requires_grad(true);
    optim::Adadelta opt({t}, o);
    for (int step = 0; step < 3; ++step) {
      Vec g(4);
      for (size_t i = 0; i < 4; ++i) g[i] = std::sin(1.1 * double(step + 1) + double(i)) * double(i + 1);
      t.set_grad(tensor(g));
      opt.step();
      for (size_t i = 0; i < 4; ++i) {
        const double d = (maximize ? -g[i] : g[i]) + o.weight_decay * p[i];
        sq[i] = o.rho * sq[i] + (1 - o.rho) * d * d;
        const double delta = std::sqrt(acc[i] + o.eps) / std::sqrt(sq[i] + o.eps) * d;
        acc[i] = o.rho * acc[i] + (1 - o.rho) * delta * delta;
        p[i] -= o.lr * delta;
      }
      const Vec got = t.to_vector<double>();
      for (size_t i = 0; i < 4; ++i) CHECK(std::abs(got[i] - p[i]) <= 1e-13 * (1 + std::abs(p[i])));
    }
    const StateDict sd = opt.state_dict();
    CHECK(state_find(sd, "state.0.step").item<double>() == 3.0);
    CHECK(state_find(sd, "state.0.acc_delta").defined());
    CHECK(state_find(sd, "state.0.square_avg").defined());
  }
  CHECK(error_message<ValueError>([] {
          optim::Adadelta({tensor(Vec{1.0}).set_requires_grad(true)}, {.rho = 1.5});
        }).find("rho") != std::string::npos);
}

TEST_CASE("metrics: accuracy and top-k count hand-checked rows, ties and NaN scores", "[trainer]") {
  // Row 0: target 2 is the max. Row 1: target 0 is 2nd. Row 2: target 1 ties the max (counts).
  // Row 3: target 3 is last. Row 4: a NaN score never counts as higher than the target.
  const Tensor scores = tensor(std::vector<float>{0.1f, 0.2f, 0.9f, 0.0f,  //
                                                  0.5f, 0.1f, 0.7f, 0.2f,  //
                                                  0.3f, 0.8f, 0.8f, 0.1f,  //
                                                  0.9f, 0.8f, 0.7f, 0.1f,  //
                                                  NAN,  0.1f, 0.2f, 0.3f},
                               {5, 4});
  const Tensor target = tensor(std::vector<int64_t>{2, 0, 1, 3, 3});
  metrics::Accuracy acc;
  metrics::TopKAccuracy top2(2);
  acc.update(scores, target);
  top2.update(scores, target);
  CHECK(acc.name() == "accuracy");
  CHECK(top2.name() == "top2_accuracy");
  CHECK(acc.compute() == 3.0 / 5.0);   // rows 0, 2, 4
  CHECK(top2.compute() == 4.0 / 5.0);  // rows 0, 1, 2, 4
  // Running state: a second batch accumulates; reset clears; clone starts fresh.
  acc.update(tensor(std::vector<float>{1, 0}, {1, 2}), tensor(std::vector<int64_t>{1}));
  CHECK(acc.compute() == 3.0 / 6.0);
  const auto fresh = acc.clone();
  CHECK(error_message<ValueError>([&] { fresh->compute(); }).find("no batch") != std::string::npos);
  acc.reset();
  CHECK(error_message<ValueError>([&] { acc.compute(); }).find("no batch") != std::string::npos);
  CHECK(error_message<ShapeError>([&] {
          acc.update(scores, tensor(std::vector<int64_t>{1, 2}));
        }).find("[5, 4]") != std::string::npos);
  metrics::Mean mean;
  mean.update(2.0, 1);
  mean.update(5.0, 3);
  CHECK(mean.compute() == (2.0 + 15.0) / 4.0);
}

}  // namespace
}  // namespace doppel::testing
