// Specs and value tests of the losses: cross_entropy, nll_loss, mse_loss, l1_loss,
// smooth_l1_loss and binary_cross_entropy_with_logits.
#include <catch2/catch_approx.hpp>
#include <cmath>
#include <limits>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/loss.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kFloatDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};
constexpr int64_t kNone = 0, kMean = 1, kSum = 2;

// Class indices in [0, C) with every `ignore_every`-th one set to `ignore` (0: none ignored).
Tensor class_targets(IntList shape, int64_t C, uint64_t seed, int64_t ignore_every = 0, int64_t ignore = -100) {
  std::vector<int64_t> v(size_t(numel_of(shape)));
  uint64_t s = seed;
  for (size_t i = 0; i < v.size(); ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    v[i] = int64_t((s >> 33) % uint64_t(C));
    if (ignore_every && i % size_t(ignore_every) == 1) v[i] = ignore;
  }
  return reshape(tensor(v), shape);
}

// Rows of probabilities (non-negative, summing to 1 along `dim`).
Tensor probabilities(IntList shape, DType dt, uint64_t seed, int64_t dim) {
  return to_dtype(softmax(make_input(shape, DType::Float64, seed), dim), dt);
}

Attrs ce_attrs(int64_t reduction, int64_t ignore = -100, double smoothing = 0) {
  return CrossEntropyAttrs{.reduction = reduction, .ignore_index = ignore, .label_smoothing = smoothing}.pack();
}
Attrs nll_attrs(int64_t reduction, int64_t ignore = -100) {
  return NllLossAttrs{.reduction = reduction, .ignore_index = ignore}.pack();
}

std::vector<Sample> class_samples(DType dt, bool ce) {
  auto attrs = [&](int64_t r, int64_t ignore = -100, double eps = 0) {
    return ce ? ce_attrs(r, ignore, eps) : nll_attrs(r, ignore);
  };
  auto in = [&](IntList shape, uint64_t seed) {
    Tensor x = make_input(shape, dt, seed, -3, 3);
    return ce ? x : log_softmax(x, shape.size() == 1 ? 0 : 1);
  };
  std::vector<Sample> s;
  for (int64_t r : {kNone, kMean, kSum}) {
    const std::string rn = fmt::format(" reduction {}", r);
    s.push_back({"[N, C]" + rn, {in({6, 4}, 1), class_targets({6}, 4, 1)}, attrs(r)});
    s.push_back({"[N, C] with ignored" + rn, {in({7, 5}, 2), class_targets({7}, 5, 2, 3)}, attrs(r)});
    s.push_back({"[C]" + rn, {in({5}, 3), class_targets({}, 5, 3)}, attrs(r)});
    s.push_back({"[N, C, d1, d2]" + rn, {in({2, 3, 4, 5}, 4), class_targets({2, 4, 5}, 3, 4, 4)}, attrs(r)});
    s.push_back({"empty N" + rn, {in({0, 3}, 5), class_targets({0}, 3, 5)}, attrs(r)});
    s.push_back({"all ignored" + rn, {in({2, 3}, 6), tensor(std::vector<int64_t>{7, 7})}, attrs(r, 7)});
    const Tensor w = make_input({5}, dt, 11, 0.2, 2.5);  // class weights
    s.push_back({"class weights, ignored" + rn, {in({7, 5}, 12), class_targets({7}, 5, 12, 3), w}, attrs(r)});
    s.push_back({"class weights, spatial" + rn, {in({2, 5, 3}, 13), class_targets({2, 3}, 5, 13), w}, attrs(r)});
    if (ce) {
      s.push_back(
          {"class weights, smoothing" + rn, {in({6, 5}, 14), class_targets({6}, 5, 14, 4), w}, attrs(r, -100, 0.25)});
      s.push_back({"class weights, probability target" + rn,
                   {in({4, 5}, 15), probabilities({4, 5}, dt, 15, 1), w},
                   attrs(r, -100, 0.1)});
    }
    if (ce) {
      s.push_back(
          {"label smoothing + ignore_index" + rn, {in({8, 5}, 7), class_targets({8}, 5, 7, 3, 2)}, attrs(r, 2, 0.2)});
      s.push_back({"probability target" + rn, {in({6, 4}, 8), probabilities({6, 4}, dt, 8, 1)}, attrs(r)});
      s.push_back({"probability target, smoothing" + rn,
                   {in({2, 3, 4}, 9), probabilities({2, 3, 4}, dt, 9, 1)},
                   attrs(r, -100, 0.3)});
    }
  }
  s.push_back({"large", {in({300, 257}, 10), class_targets({300}, 257, 10, 7)}, attrs(kMean)});
  return s;
}

std::vector<ErrorSample> class_errors(bool ce) {
  const std::string name = ce ? "cross_entropy" : "nll_loss";
  auto attrs = [&](int64_t r, double eps = 0) { return ce ? ce_attrs(r, -100, eps) : nll_attrs(r); };
  const Tensor x = make_input({3, 4}, DType::Float32, 1);
  std::vector<ErrorSample> e = {
      {"int32 target", {x, to_dtype(class_targets({3}, 4, 1), DType::Int32)}, attrs(kMean), ErrorKind::DType, name},
      {"target shape", {x, class_targets({4}, 4, 1)}, attrs(kMean), ErrorKind::Shape, name},
      {"target with class dim", {x, class_targets({3, 4}, 4, 1)}, attrs(kMean), ErrorKind::Shape, name},
      {"class index out of range",
       {x, tensor(std::vector<int64_t>{0, 4, 1})},
       attrs(kMean),
       ErrorKind::Index,
       "target class index 4 is out of range for 4 classes"},
      {"negative class index", {x, tensor(std::vector<int64_t>{0, -1, 1})}, attrs(kNone), ErrorKind::Index, "index -1"},
      {"integer input",
       {make_input({3, 4}, DType::Int64, 1), class_targets({3}, 4, 1)},
       attrs(kMean),
       ErrorKind::DType,
       name},
      {"0-d input", {make_input({}, DType::Float32, 1), class_targets({}, 4, 1)}, attrs(kMean), ErrorKind::Shape, name},
      {"bad reduction", {x, class_targets({3}, 4, 1)}, attrs(3), ErrorKind::Value, "reduction"},
  };
  if (ce) {
    e.push_back(
        {"label_smoothing > 1", {x, class_targets({3}, 4, 1)}, attrs(kMean, 1.5), ErrorKind::Value, "label_smoothing"});
    e.push_back(
        {"probability target dtype", {x, make_input({3, 4}, DType::Float64, 2)}, attrs(kMean), ErrorKind::DType, name});
    e.push_back(
        {"probability target shape", {x, make_input({3, 5}, DType::Float32, 2)}, attrs(kMean), ErrorKind::Shape, name});
  } else {
    e.push_back({"float target", {x, make_input({3}, DType::Float32, 2)}, attrs(kMean), ErrorKind::DType, name});
  }
  const Tensor t = class_targets({3}, 4, 1);
  e.push_back({"class weight shape",
               {x, t, make_input({3}, DType::Float32, 3)},
               attrs(kMean),
               ErrorKind::Shape,
               "class weight must have shape [4]"});
  e.push_back(
      {"class weight dtype", {x, t, make_input({4}, DType::Float64, 3)}, attrs(kMean), ErrorKind::DType, "weight"});
  return e;
}

// Pointwise losses: `extra` is appended to the reduction attribute (smooth_l1's beta).
std::vector<Sample> pointwise_samples(DType dt, const std::vector<Attr>& extra, bool bce, bool large) {
  auto attrs = [&](int64_t r) {
    Attrs a{Attr::of_int(r)};
    for (const Attr& x : extra) a.push_back(x);
    return a;
  };
  auto target = [&](IntList shape, uint64_t seed) {
    return bce ? make_input(shape, dt, seed, 0, 1) : make_input(shape, dt, seed);
  };
  auto in = [&](IntList shape, uint64_t seed) { return make_input(shape, dt, seed, -4, 4); };
  std::vector<Sample> s;
  for (int64_t r : {kNone, kMean, kSum}) {
    const std::string rn = fmt::format(" reduction {}", r);
    s.push_back({"matrix" + rn, {in({3, 5}, 1), target({3, 5}, 2)}, attrs(r)});
    s.push_back({"0-d" + rn, {in({}, 3), target({}, 4)}, attrs(r)});
    s.push_back({"empty" + rn, {in({0, 3}, 5), target({0, 3}, 6)}, attrs(r)});
    if (bce) {
      s.push_back(
          {"pos_weight [C]" + rn, {in({4, 5}, 7), target({4, 5}, 8), make_input({5}, dt, 9, 0.5, 3)}, attrs(r)});
      s.push_back(
          {"pos_weight 0-d" + rn, {in({4, 5}, 10), target({4, 5}, 11), make_input({}, dt, 12, 0.5, 3)}, attrs(r)});
      s.push_back({"large logits" + rn, {make_input({4, 5}, dt, 13, -200, 200), target({4, 5}, 14)}, attrs(r)});
    }
  }
  if (large) {
    s.push_back({"large", {in({300, 257}, 15), target({300, 257}, 16)}, attrs(kMean)});
    s.push_back({"large none", {in({300, 257}, 17), target({300, 257}, 18)}, attrs(kNone)});
  }
  return s;
}

std::vector<ErrorSample> pointwise_errors(OpId op, const std::vector<Attr>& extra) {
  const std::string name(op_name(op));
  Attrs a{Attr::of_int(kMean)};
  for (const Attr& x : extra) a.push_back(x);
  const Tensor x = make_input({3, 4}, DType::Float32, 1);
  std::vector<ErrorSample> e = {
      {"shape mismatch", {x, make_input({4}, DType::Float32, 2)}, a, ErrorKind::Shape, name},
      {"dtype mismatch", {x, make_input({3, 4}, DType::Float64, 2)}, a, ErrorKind::DType, name},
      {"integer input",
       {make_input({3, 4}, DType::Int32, 1), make_input({3, 4}, DType::Int32, 2)},
       a,
       ErrorKind::DType,
       name},
  };
  if (op == OpId::binary_cross_entropy_with_logits)
    e.push_back({"pos_weight shape",
                 {x, make_input({3, 4}, DType::Float32, 2), make_input({3}, DType::Float32, 3)},
                 a,
                 ErrorKind::Shape,
                 name});
  if (op == OpId::smooth_l1_loss)
    e.push_back({"negative beta",
                 {x, make_input({3, 4}, DType::Float32, 2)},
                 SmoothL1Attrs{.reduction = kMean, .beta = -1}.pack(),
                 ErrorKind::Value,
                 "beta"});
  return e;
}

OpSpec pointwise_spec(OpId op, std::vector<std::vector<Attr>> extras = {{}}) {
  const bool bce = op == OpId::binary_cross_entropy_with_logits;
  return OpSpec{.op = op,
                .dtypes = kFloatDTypes,
                .samples =
                    [=](DType dt) {
                      std::vector<Sample> all;
                      for (const auto& extra : extras)
                        for (Sample s : pointwise_samples(dt, extra, bce, &extra == &extras[0])) {
                          if (!extra.empty()) s.name += " " + extra[0].str();
                          all.push_back(std::move(s));
                        }
                      return all;
                    },
                .errors = [=] { return pointwise_errors(op, extras[0]); },
                .gradgradcheck = true};
}

// cross_entropy_backward / nll_loss_backward: the forward's samples with a grad_output of the
// loss's shape in front.
std::vector<Sample> class_backward_samples(DType dt, bool ce) {
  const OpId fwd = ce ? OpId::cross_entropy : OpId::nll_loss;
  std::vector<Sample> out;
  uint64_t seed = 100;
  for (Sample s : class_samples(dt, ce)) {
    const Tensor loss = dispatch1(fwd, s.inputs, s.attrs);
    s.inputs.insert(s.inputs.begin(), make_input(loss.shape(), dt, ++seed));
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<ErrorSample> class_backward_errors(bool ce) {
  const std::string name = ce ? "cross_entropy_backward" : "nll_loss_backward";
  const Attrs mean = ce ? ce_attrs(kMean) : nll_attrs(kMean);
  const Attrs none = ce ? ce_attrs(kNone) : nll_attrs(kNone);
  const Tensor x = make_input({3, 4}, DType::Float32, 1);
  const Tensor t = class_targets({3}, 4, 1);
  const Tensor g0 = make_input({}, DType::Float32, 2);
  return {
      {"grad_output not 0-d for mean", {make_input({3}, DType::Float32, 2), x, t}, mean, ErrorKind::Shape, name},
      {"grad_output shape for none", {g0, x, t}, none, ErrorKind::Shape, name},
      {"grad_output dtype", {make_input({}, DType::Float64, 2), x, t}, mean, ErrorKind::DType, name},
      {"target shape", {g0, x, class_targets({4}, 4, 1)}, mean, ErrorKind::Shape, name},
      {"integer input", {g0, make_input({3, 4}, DType::Int64, 1), t}, mean, ErrorKind::DType, name},
      {"class index out of range",
       {g0, x, tensor(std::vector<int64_t>{0, 4, 1})},
       mean,
       ErrorKind::Index,
       "target class index 4 is out of range for 4 classes"},
  };
}

}  // namespace

DOPPEL_OP_SPEC(cross_entropy_spec) {
  return OpSpec{.op = OpId::cross_entropy,
                .dtypes = kFloatDTypes,
                .samples = [](DType dt) { return class_samples(dt, true); },
                .errors = [] { return class_errors(true); },
                .gradgradcheck = true};
}
DOPPEL_OP_SPEC(nll_loss_spec) {
  return OpSpec{.op = OpId::nll_loss,
                .dtypes = kFloatDTypes,
                .samples = [](DType dt) { return class_samples(dt, false); },
                .errors = [] { return class_errors(false); },
                .gradgradcheck = true};
}
DOPPEL_OP_SPEC(cross_entropy_backward_spec) {
  return OpSpec{.op = OpId::cross_entropy_backward,
                .dtypes = kFloatDTypes,
                .samples = [](DType dt) { return class_backward_samples(dt, true); },
                .errors = [] { return class_backward_errors(true); },
                .gradgradcheck = true};
}
DOPPEL_OP_SPEC(nll_loss_backward_spec) {
  return OpSpec{.op = OpId::nll_loss_backward,
                .dtypes = kFloatDTypes,
                .samples = [](DType dt) { return class_backward_samples(dt, false); },
                .errors = [] { return class_backward_errors(false); },
                .gradgradcheck = true};
}
DOPPEL_OP_SPEC(mse_loss_spec) { return pointwise_spec(OpId::mse_loss); }
DOPPEL_OP_SPEC(l1_loss_spec) { return pointwise_spec(OpId::l1_loss); }
DOPPEL_OP_SPEC(smooth_l1_loss_spec) {
  return pointwise_spec(OpId::smooth_l1_loss,
                        {{Attr::of_float(1.0)}, {Attr::of_float(0.5)}, {Attr::of_float(0.0)}, {Attr::of_float(3.0)}});
}
DOPPEL_OP_SPEC(bce_with_logits_spec) { return pointwise_spec(OpId::binary_cross_entropy_with_logits); }

// ---- Value tests against hand-computed numbers and an independent double loop.

namespace {

// PyTorch's cross_entropy for class-index targets, written from its definition:
//   logp = log_softmax(x); nll_i = -logp[i, t_i]; smooth_i = -Σ_c logp[i, c]; both 0 where
//   t_i == ignore; mean: Σ nll / n_valid and Σ smooth / n_valid;
//   result = (1 - ε)·nll + (ε / C)·smooth.
std::vector<double> torch_cross_entropy(const std::vector<double>& x, const std::vector<int64_t>& t, int64_t C,
                                        int64_t reduction, int64_t ignore, double eps) {
  const size_t N = t.size();
  std::vector<double> nll(N, 0.0), smooth(N, 0.0);
  double n_valid = 0;
  for (size_t i = 0; i < N; ++i) {
    double denom = 0;
    for (int64_t c = 0; c < C; ++c) denom += std::exp(x[i * size_t(C) + size_t(c)]);
    if (t[i] == ignore) continue;
    n_valid += 1;
    nll[i] = -(x[i * size_t(C) + size_t(t[i])] - std::log(denom));
    for (int64_t c = 0; c < C; ++c) smooth[i] -= x[i * size_t(C) + size_t(c)] - std::log(denom);
  }
  if (reduction == kNone) {
    std::vector<double> out(N);
    for (size_t i = 0; i < N; ++i) out[i] = (1 - eps) * nll[i] + eps / double(C) * smooth[i];
    return out;
  }
  double sn = 0, ss = 0;
  for (size_t i = 0; i < N; ++i) {
    sn += nll[i];
    ss += smooth[i];
  }
  if (reduction == kMean) {
    sn /= n_valid;
    ss /= n_valid;
  }
  return {(1 - eps) * sn + eps / double(C) * ss};
}

}  // namespace

TEST_CASE("cross_entropy: hand values, ignore_index with label smoothing vs PyTorch's formula", "[ops][loss]") {
  // log_softmax([1, 2, 3])[2] = -0.40760596444
  const Tensor x1 = tensor(std::vector<float>{1, 2, 3}, {1, 3});
  CHECK(cross_entropy(x1, tensor(std::vector<int64_t>{2})).item<double>() == Catch::Approx(0.40760596444));
  CHECK(cross_entropy(tensor(std::vector<float>{1, 2, 3}), scalar(int64_t(0), DType::Int64)).item<double>() ==
        Catch::Approx(2.40760596444));

  const int64_t N = 6, C = 4;
  const Tensor x = make_input({N, C}, DType::Float64, 3, -3, 3);
  const std::vector<int64_t> t = {0, -1, 3, 2, -1, 1};
  const Tensor tt = tensor(t);
  for (double eps : {0.0, 0.1, 0.35}) {
    for (int64_t r : {kNone, kMean, kSum}) {
      INFO("eps " << eps << " reduction " << r);
      const Reduction red = r == kNone ? Reduction::None : r == kMean ? Reduction::Mean : Reduction::Sum;
      const std::vector<double> want = torch_cross_entropy(x.to_vector<double>(), t, C, r, -1, eps);
      const std::vector<double> got = cross_entropy(x, tt, red, -1, eps).to_vector<double>();
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Catch::Approx(want[i]).epsilon(1e-12));
    }
  }
  // All targets ignored: the mean is 0/0 = nan, the sum 0 (PyTorch).
  const Tensor ign = tensor(std::vector<int64_t>{-100, -100});
  CHECK(std::isnan(cross_entropy(make_input({2, 3}, DType::Float32, 1), ign).item<double>()));
  CHECK(cross_entropy(make_input({2, 3}, DType::Float32, 1), ign, Reduction::Sum).item<double>() == 0.0);
}

TEST_CASE("cross_entropy: probability targets and spatial inputs", "[ops][loss]") {
  // Soft target p = [0.25, 0.75] on logits [0, 0]: -(0.25 + 0.75)·log(0.5) = log 2.
  const Tensor x = tensor(std::vector<double>{0, 0}, {1, 2});
  const Tensor p = tensor(std::vector<double>{0.25, 0.75}, {1, 2});
  CHECK(cross_entropy(x, p).item<double>() == Catch::Approx(std::log(2.0)));
  // Logits [0, ln 3]: logp = [log .25, log .75]; smoothing ε=0.5 mixes p with uniform (C=2).
  const Tensor x2 = tensor(std::vector<double>{0, std::log(3.0)}, {1, 2});
  const Tensor p2 = tensor(std::vector<double>{1, 0}, {1, 2});
  const double want = -(0.75 * std::log(0.25) + 0.25 * std::log(0.75));
  CHECK(cross_entropy(x2, p2, Reduction::Mean, -100, 0.5).item<double>() == Catch::Approx(want));
  // [N, C, d] with index targets equals the [N·d, C] form after moving the class dim last.
  const Tensor xs = make_input({2, 3, 4}, DType::Float64, 8);
  const Tensor ts = tensor(std::vector<int64_t>{0, 1, 2, 0, 2, 2, 1, 0}, {2, 4});
  const Tensor flat = reshape(contiguous(permute(xs, {0, 2, 1})), {8, 3});
  CHECK(cross_entropy(xs, ts).item<double>() ==
        Catch::Approx(cross_entropy(flat, reshape(ts, {8})).item<double>()).epsilon(1e-12));
  CHECK(cross_entropy(xs, ts, Reduction::None).shape() == Shape{2, 4});
}

TEST_CASE("nll_loss: hand values, ignore_index and out-of-range targets", "[ops][loss]") {
  const Tensor lp = tensor(std::vector<float>{-1, -2, -3, -0.5f, -1.5f, -2.5f}, {2, 3});
  CHECK(nll_loss(lp, tensor(std::vector<int64_t>{2, 0})).item<double>() == Catch::Approx((3 + 0.5) / 2));
  CHECK(nll_loss(lp, tensor(std::vector<int64_t>{2, 0}), Reduction::Sum).item<double>() == Catch::Approx(3.5));
  CHECK(nll_loss(lp, tensor(std::vector<int64_t>{1, -100})).item<double>() == Catch::Approx(2.0));
  CHECK(nll_loss(lp, tensor(std::vector<int64_t>{1, -100}), Reduction::None).to_vector<float>() ==
        std::vector<float>{2, 0});
  try {
    nll_loss(lp, tensor(std::vector<int64_t>{1, 3}));
    FAIL("no error");
  } catch (const IndexError& e) {
    CHECK(std::string(e.what()).find("index 3 is out of range for 3 classes") != std::string::npos);
  }
}

TEST_CASE("pointwise losses: hand values", "[ops][loss]") {
  const Tensor x = tensor(std::vector<float>{1, 2, 3});
  const Tensor y = tensor(std::vector<float>{2, 2, 5});
  CHECK(mse_loss(x, y).item<double>() == Catch::Approx(5.0 / 3));
  CHECK(mse_loss(x, y, Reduction::Sum).item<double>() == Catch::Approx(5.0));
  CHECK(mse_loss(x, y, Reduction::None).to_vector<float>() == std::vector<float>{1, 0, 4});
  CHECK(l1_loss(x, y).item<double>() == Catch::Approx(1.0));
  // |d| = [1, 0, 2]; beta 1: [0.5, 0, 1.5]; beta 4: d²/8 = [0.125, 0, 0.5]; beta 0: l1.
  CHECK(smooth_l1_loss(x, y).item<double>() == Catch::Approx(2.0 / 3));
  CHECK(smooth_l1_loss(x, y, Reduction::None, 4.0).to_vector<float>() == std::vector<float>{0.125f, 0, 0.5f});
  CHECK(smooth_l1_loss(x, y, Reduction::Sum, 0.0).item<double>() == Catch::Approx(3.0));
  CHECK(std::isnan(mse_loss(zeros({0}), zeros({0})).item<double>()));  // mean of nothing
  CHECK(mse_loss(zeros({0}), zeros({0}), Reduction::Sum).item<double>() == 0.0);
}

TEST_CASE("binary_cross_entropy_with_logits is stable and honours pos_weight", "[ops][loss]") {
  const Tensor x = tensor(std::vector<float>{0, 100, -100, 2});
  const Tensor y = tensor(std::vector<float>{1, 0, 1, 0.25f});
  // x=2, y=.25: -(.25·log σ(2) + .75·log(1 - σ(2))) = 0.75·2 + log(1 + e^-2)
  const double l3 = 1.5 + std::log1p(std::exp(-2.0));
  const std::vector<float> none = binary_cross_entropy_with_logits(x, y, {}, Reduction::None).to_vector<float>();
  CHECK(none[0] == Catch::Approx(std::log(2.0)));
  CHECK(none[1] == Catch::Approx(100.0));  // no overflow to inf
  CHECK(none[2] == Catch::Approx(100.0));
  CHECK(none[3] == Catch::Approx(l3));
  // pos_weight scales the positive term: w = 1 + (pw - 1)·y.
  const Tensor pw = tensor(std::vector<float>{2, 2, 2, 3});
  const std::vector<float> weighted = binary_cross_entropy_with_logits(x, y, pw, Reduction::None).to_vector<float>();
  CHECK(weighted[0] == Catch::Approx(2 * std::log(2.0)));
  CHECK(weighted[3] == Catch::Approx(0.75 * 2 + 1.5 * std::log1p(std::exp(-2.0))));
  CHECK(binary_cross_entropy_with_logits(x, y).item<double>() == Catch::Approx((std::log(2.0) + 200 + l3) / 4));
}

}  // namespace doppel::testing
