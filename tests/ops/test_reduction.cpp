// Specs and value tests of the reductions (sum, mean, prod, amax, amin, argmax, argmin, var,
// std, logsumexp) and softmax / log_softmax.
#include <algorithm>
#include <catch2/catch_approx.hpp>
#include <cmath>
#include <functional>
#include <limits>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/reduction.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kAllDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8,
                                       DType::UInt8,   DType::Int32,   DType::Int64,    DType::Bool};
const std::vector<DType> kFloatDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};
constexpr double kInf = std::numeric_limits<double>::infinity();

Attrs red(IntList dims, bool keepdim) { return ReduceAttrs{.dims = dims, .keepdim = keepdim}.pack(); }
Attrs var_attrs(IntList dims, bool keepdim, int64_t correction) {
  return VarAttrs{.dims = dims, .keepdim = keepdim, .correction = correction}.pack();
}

// The dims/keepdim samples every reduction shares. `attrs` turns (dims, keepdim) into the op's
// attributes; `empty_ok`: whether reducing a size-0 dim is defined (not for amax/amin).
std::vector<Sample> reduce_samples(DType dt, const std::function<Attrs(IntList, bool)>& attrs, bool empty_ok,
                                   double low = -2, double high = 2) {
  auto in = [&](IntList shape, uint64_t seed) { return make_input(shape, dt, seed, low, high); };
  std::vector<Sample> s = {
      {"all", {in({3, 5}, 1)}, attrs({}, false)},
      {"all keepdim", {in({3, 5}, 2)}, attrs({}, true)},
      {"dim 1", {in({3, 5}, 3)}, attrs({1}, false)},
      {"dim 0 keepdim", {in({3, 5}, 4)}, attrs({0}, true)},
      {"dims 0,2", {in({2, 3, 4}, 5)}, attrs({0, 2}, false)},
      {"dims 2,0 keepdim (unsorted)", {in({2, 3, 4}, 6)}, attrs({2, 0}, true)},
      {"negative dim", {in({2, 3, 4}, 7)}, attrs({-1}, false)},
      {"negative dims keepdim", {in({2, 3, 4}, 8)}, attrs({-3, -2}, true)},
      {"middle dim of 4-d", {in({2, 3, 4, 5}, 9)}, attrs({1}, false)},
      {"size-1 dim only", {in({3, 1, 4}, 10)}, attrs({1}, false)},
      {"0-d", {in({}, 11)}, attrs({}, false)},
      {"0-d dim 0", {in({}, 12)}, attrs({0}, true)},
      {"0-d dim -1", {in({}, 13)}, attrs({-1}, false)},
      {"empty, kept dim", {in({0, 4}, 14)}, attrs({1}, false)},
      {"large dim 0", {in({300, 257}, 15)}, attrs({0}, false)},
      {"large dim 1", {in({300, 257}, 16)}, attrs({1}, true)},
      {"large all", {in({300, 257}, 17)}, attrs({}, false)},
  };
  if (empty_ok) {
    s.push_back({"empty, reduced dim", {in({0, 4}, 18)}, attrs({0}, false)});
    s.push_back({"empty, all", {in({2, 0, 3}, 19)}, attrs({}, true)});
  }
  return s;
}

// oneDNN sums in float32 in another order than the double-accumulating reference; cancellation
// in a sum of 300 values needs a small absolute tolerance.
Tolerance sum_tolerance(DType dt) {
  Tolerance t = default_tolerance(dt);
  if (dt == DType::Float32) t.atol = 1e-4;
  return t;
}

std::vector<ErrorSample> reduce_errors(OpId op, const std::function<Attrs(IntList, bool)>& attrs, bool floating_only,
                                       bool empty_ok) {
  const std::string name(op_name(op));
  const Tensor x = make_input({2, 3}, DType::Float32, 1);
  std::vector<ErrorSample> e = {
      {"dim out of range", {x}, attrs({2}, false), ErrorKind::Index, name},
      {"negative dim out of range", {x}, attrs({-3}, false), ErrorKind::Index, name},
      {"duplicate dims", {x}, attrs({0, -2}, false), ErrorKind::Index, "more than once"},
      {"0-d dim 1", {make_input({}, DType::Float32, 2)}, attrs({1}, false), ErrorKind::Index, name},
      {"dims attribute of wrong kind", {x}, {Attr::of_int(0), Attr::of_bool(false)}, ErrorKind::Value, name},
  };
  if (floating_only)
    e.push_back({"integer input", {make_input({2, 3}, DType::Int32, 3)}, attrs({}, false), ErrorKind::DType, "cast"});
  if (!empty_ok)
    e.push_back({"empty reduced dim",
                 {make_input({0, 3}, DType::Float32, 4)},
                 attrs({0}, false),
                 ErrorKind::Index,
                 "cannot reduce over an empty dimension"});
  return e;
}

OpSpec reduce_spec(OpId op, std::vector<DType> dtypes, bool floating_only, bool empty_ok, double low = -2,
                   double high = 2) {
  return OpSpec{.op = op,
                .dtypes = std::move(dtypes),
                .samples = [=](DType dt) { return reduce_samples(dt, red, empty_ok, low, high); },
                .errors = [=] { return reduce_errors(op, red, floating_only, empty_ok); },
                .tolerance = sum_tolerance,
                .gradgradcheck = true};
}

std::vector<Sample> var_samples(DType dt) {
  std::vector<Sample> s;
  for (int64_t correction : {1, 0, 2}) {
    for (Sample x : reduce_samples(
             dt, [&](IntList d, bool k) { return var_attrs(d, k, correction); }, true)) {
      if (correction != 1 && x.name.starts_with("large")) continue;  // the large shapes once is enough
      x.name += fmt::format(" correction {}", correction);
      s.push_back(std::move(x));
    }
  }
  return s;
}

OpSpec var_spec(OpId op) {
  return OpSpec{.op = op,
                .dtypes = kFloatDTypes,
                .samples = var_samples,
                .errors =
                    [=] {
                      return reduce_errors(
                          op, [](IntList d, bool k) { return var_attrs(d, k, 1); }, true, true);
                    },
                .gradgradcheck = true};
}

Attrs arg_attrs(std::optional<int64_t> dim, bool keepdim) {
  return ArgReduceAttrs{.dim = dim, .keepdim = keepdim}.pack();
}

OpSpec arg_spec(OpId op) {
  const std::string name(op_name(op));
  return OpSpec{.op = op,
                .dtypes = kAllDTypes,
                .samples =
                    [](DType dt) {
                      auto in = [&](IntList shape, uint64_t seed) { return make_input(shape, dt, seed); };
                      return std::vector<Sample>{{"flatten", {in({3, 5}, 1)}, arg_attrs(std::nullopt, false)},
                                                 {"flatten keepdim", {in({3, 5}, 2)}, arg_attrs(std::nullopt, true)},
                                                 {"dim 1", {in({3, 5}, 3)}, arg_attrs(1, false)},
                                                 {"dim 0 keepdim", {in({3, 5}, 4)}, arg_attrs(0, true)},
                                                 {"negative dim", {in({2, 3, 4}, 5)}, arg_attrs(-2, false)},
                                                 {"0-d", {in({}, 6)}, arg_attrs(std::nullopt, false)},
                                                 {"0-d dim 0", {in({}, 7)}, arg_attrs(0, true)},
                                                 {"empty, kept dim", {in({0, 4}, 8)}, arg_attrs(1, false)},
                                                 {"large dim 0", {in({300, 257}, 9)}, arg_attrs(0, false)},
                                                 {"large dim 1", {in({300, 257}, 10)}, arg_attrs(1, false)}};
                    },
                .errors =
                    [=] {
                      const Tensor x = make_input({2, 3}, DType::Float32, 1);
                      return std::vector<ErrorSample>{
                          {"dim out of range", {x}, arg_attrs(2, false), ErrorKind::Index, name},
                          {"empty reduced dim",
                           {make_input({0, 3}, DType::Float32, 2)},
                           arg_attrs(0, false),
                           ErrorKind::Index,
                           "cannot reduce over an empty dimension"},
                          {"empty flatten",
                           {make_input({0, 3}, DType::Float32, 3)},
                           arg_attrs(std::nullopt, false),
                           ErrorKind::Index,
                           "empty"}};
                    }};
}

OpSpec softmax_spec(OpId op) {
  const std::string name(op_name(op));
  return OpSpec{.op = op,
                .dtypes = kFloatDTypes,
                .samples =
                    [](DType dt) {
                      auto in = [&](IntList shape, uint64_t seed, double scale = 2) {
                        return make_input(shape, dt, seed, -scale, scale);
                      };
                      auto d = [](int64_t k) { return SoftmaxAttrs{.dim = k}.pack(); };
                      return std::vector<Sample>{{"last dim", {in({3, 5}, 1)}, d(1)},
                                                 {"dim 0", {in({3, 5}, 2)}, d(0)},
                                                 {"middle dim", {in({2, 3, 4}, 3)}, d(1)},
                                                 {"negative dim", {in({2, 3, 4}, 4)}, d(-3)},
                                                 {"vector", {in({7}, 5)}, d(0)},
                                                 {"large values", {in({4, 6}, 6, 1000)}, d(1)},
                                                 {"0-d", {in({}, 7)}, d(0)},
                                                 {"0-d dim -1", {in({}, 8)}, d(-1)},
                                                 {"empty", {in({0, 4}, 9)}, d(1)},
                                                 {"empty softmax dim", {in({3, 0}, 10)}, d(1)},
                                                 {"large last dim", {in({300, 257}, 11)}, d(1)},
                                                 {"large dim 0", {in({300, 257}, 12)}, d(0)}};
                    },
                .errors =
                    [=] {
                      return std::vector<ErrorSample>{{"dim out of range",
                                                       {make_input({2, 3}, DType::Float32, 1)},
                                                       SoftmaxAttrs{.dim = 2}.pack(),
                                                       ErrorKind::Index,
                                                       name},
                                                      {"0-d dim 1",
                                                       {make_input({}, DType::Float32, 1)},
                                                       SoftmaxAttrs{.dim = 1}.pack(),
                                                       ErrorKind::Index,
                                                       name},
                                                      {"integer input",
                                                       {make_input({2, 3}, DType::Int64, 1)},
                                                       SoftmaxAttrs{.dim = 1}.pack(),
                                                       ErrorKind::DType,
                                                       name}};
                    },
                .gradgradcheck = true};
}

// softmax_backward / log_softmax_backward (grad_output, output; dim): the output is a real
// softmax / log_softmax of random scores, so the samples look like what the rules pass.
OpSpec softmax_backward_spec(OpId op) {
  const std::string name(op_name(op));
  const bool log = op == OpId::log_softmax_backward;
  return OpSpec{.op = op,
                .dtypes = kFloatDTypes,
                .samples =
                    [log](DType dt) {
                      auto sample = [&](const std::string& n, IntList shape, int64_t dim, uint64_t seed) {
                        const Tensor x = make_input(shape, DType::Float64, seed, -2, 2);
                        const int64_t d = shape.empty() ? 0 : dim;
                        const Tensor y = to_dtype(log ? log_softmax(x, d) : softmax(x, d), dt);
                        return Sample{n, {make_input(shape, dt, seed + 100), y}, SoftmaxAttrs{.dim = dim}.pack()};
                      };
                      return std::vector<Sample>{sample("last dim", {3, 5}, 1, 1),
                                                 sample("dim 0", {3, 5}, 0, 2),
                                                 sample("middle dim", {2, 3, 4}, 1, 3),
                                                 sample("negative dim", {2, 3, 4}, -3, 4),
                                                 sample("vector", {7}, 0, 5),
                                                 sample("0-d", {}, 0, 6),
                                                 sample("empty", {0, 4}, 1, 7),
                                                 sample("large last dim", {300, 257}, 1, 8),
                                                 sample("large dim 0", {300, 257}, 0, 9)};
                    },
                .errors =
                    [=] {
                      const Tensor g = make_input({2, 3}, DType::Float32, 1);
                      return std::vector<ErrorSample>{
                          {"shape mismatch",
                           {g, make_input({3, 2}, DType::Float32, 2)},
                           SoftmaxAttrs{.dim = 1}.pack(),
                           ErrorKind::Shape,
                           name},
                          {"dtype mismatch",
                           {g, make_input({2, 3}, DType::Float64, 2)},
                           SoftmaxAttrs{.dim = 1}.pack(),
                           ErrorKind::DType,
                           name},
                          {"dim out of range",
                           {g, make_input({2, 3}, DType::Float32, 2)},
                           SoftmaxAttrs{.dim = 2}.pack(),
                           ErrorKind::Index,
                           name},
                          {"integer input",
                           {make_input({2, 3}, DType::Int64, 1), make_input({2, 3}, DType::Int64, 2)},
                           SoftmaxAttrs{.dim = 1}.pack(),
                           ErrorKind::DType,
                           name}};
                    },
                .gradgradcheck = true};
}

}  // namespace

DOPPEL_OP_SPEC(sum_spec) { return reduce_spec(OpId::sum, kAllDTypes, false, true); }
DOPPEL_OP_SPEC(mean_spec) { return reduce_spec(OpId::mean, kFloatDTypes, true, true); }
// Values near 1 keep products of 300 factors in range.
DOPPEL_OP_SPEC(prod_spec) { return reduce_spec(OpId::prod, kAllDTypes, false, true, 0.5, 1.5); }
DOPPEL_OP_SPEC(amax_spec) { return reduce_spec(OpId::amax, kAllDTypes, false, false); }
DOPPEL_OP_SPEC(amin_spec) { return reduce_spec(OpId::amin, kAllDTypes, false, false); }
DOPPEL_OP_SPEC(logsumexp_spec) { return reduce_spec(OpId::logsumexp, kFloatDTypes, true, true); }
DOPPEL_OP_SPEC(var_spec_) { return var_spec(OpId::var); }
DOPPEL_OP_SPEC(std_spec) { return var_spec(OpId::std); }
DOPPEL_OP_SPEC(argmax_spec) { return arg_spec(OpId::argmax); }
DOPPEL_OP_SPEC(argmin_spec) { return arg_spec(OpId::argmin); }
DOPPEL_OP_SPEC(softmax_spec_) { return softmax_spec(OpId::softmax); }
DOPPEL_OP_SPEC(log_softmax_spec) { return softmax_spec(OpId::log_softmax); }
DOPPEL_OP_SPEC(softmax_backward_spec_) { return softmax_backward_spec(OpId::softmax_backward); }
DOPPEL_OP_SPEC(log_softmax_backward_spec) { return softmax_backward_spec(OpId::log_softmax_backward); }

// ---- Value tests: the reference kernels against independent double loops and hand values.

namespace {

// x[a][b][c] of a [A, B, C] float64 tensor reduced over dims 0 and 2 by `f` (values of one b).
std::vector<double> loop_over_0_2(const std::vector<double>& x, int64_t A, int64_t B, int64_t C,
                                  const std::function<double(const std::vector<double>&)>& f) {
  std::vector<double> out;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> v;
    for (int64_t a = 0; a < A; ++a)
      for (int64_t c = 0; c < C; ++c) v.push_back(x[size_t((a * B + b) * C + c)]);
    out.push_back(f(v));
  }
  return out;
}

void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << " want " << want[i]);
    if (std::isnan(want[i])) {
      CHECK(std::isnan(got[i]));
    } else if (std::isinf(want[i])) {
      CHECK(got[i] == want[i]);
    } else {
      CHECK(std::abs(got[i] - want[i]) <= tol * (1 + std::abs(want[i])));
    }
  }
}

}  // namespace

TEST_CASE("reductions match double loops over dims {0, 2}", "[ops][reduction]") {
  const int64_t A = 3, B = 4, C = 5;
  const Tensor x = make_input({A, B, C}, DType::Float64, 42, -1.5, 1.5);
  const std::vector<double> xv = x.to_vector<double>();
  auto sum_f = [](const std::vector<double>& v) {
    double s = 0;
    for (double e : v) s += e;
    return s;
  };
  auto var_f = [&](const std::vector<double>& v, int64_t corr) {
    const double m = sum_f(v) / double(v.size());
    double ss = 0;
    for (double e : v) ss += (e - m) * (e - m);
    return ss / double(int64_t(v.size()) - corr);
  };
  ForceBackendGuard g(Backend::Reference);  // the oracle itself; the spec test compares oneDNN to it
  check_close(sum(x, {0, 2}).to_vector<double>(), loop_over_0_2(xv, A, B, C, sum_f), 1e-12);
  check_close(mean(x, {2, 0}).to_vector<double>(),
              loop_over_0_2(xv, A, B, C, [&](const auto& v) { return sum_f(v) / double(v.size()); }), 1e-12);
  check_close(prod(x, {0, 2}).to_vector<double>(),
              loop_over_0_2(xv, A, B, C,
                            [](const auto& v) {
                              double p = 1;
                              for (double e : v) p *= e;
                              return p;
                            }),
              1e-12);
  check_close(amax(x, {0, -1}).to_vector<double>(),
              loop_over_0_2(xv, A, B, C, [](const auto& v) { return *std::max_element(v.begin(), v.end()); }), 0);
  check_close(amin(x, {0, 2}).to_vector<double>(),
              loop_over_0_2(xv, A, B, C, [](const auto& v) { return *std::min_element(v.begin(), v.end()); }), 0);
  check_close(var(x, {0, 2}).to_vector<double>(),
              loop_over_0_2(xv, A, B, C, [&](const auto& v) { return var_f(v, 1); }), 1e-12);
  check_close(var(x, {0, 2}, 0).to_vector<double>(),
              loop_over_0_2(xv, A, B, C, [&](const auto& v) { return var_f(v, 0); }), 1e-12);
  check_close(doppel::std(x, {0, 2}, 1, true).to_vector<double>(),
              loop_over_0_2(xv, A, B, C, [&](const auto& v) { return std::sqrt(var_f(v, 1)); }), 1e-12);
  check_close(logsumexp(x, {0, 2}).to_vector<double>(),
              loop_over_0_2(xv, A, B, C,
                            [](const auto& v) {
                              double s = 0;
                              for (double e : v) s += std::exp(e);
                              return std::log(s);
                            }),
              1e-12);
  CHECK(sum(x, {0, 2}, true).shape() == Shape{1, 4, 1});
  CHECK(sum(x, {0, 2}).shape() == Shape{4});
  CHECK(sum(x).shape() == Shape{});
  CHECK(sum(x, {}, true).shape() == Shape{1, 1, 1});
}

TEST_CASE("reductions: hand-computed values, dtypes and empty inputs", "[ops][reduction]") {
  const Tensor x = tensor(std::vector<float>{1, 2, 3, 4});
  CHECK(var(x).item<double>() == Catch::Approx(5.0 / 3.0));
  CHECK(var(x, {}, 0).item<double>() == Catch::Approx(1.25));
  CHECK(doppel::std(x, {}, 0).item<double>() == Catch::Approx(std::sqrt(1.25)));
  // Divisor clamped at 0 like PyTorch: one element with correction 1 is 0/0.
  CHECK(std::isnan(var(tensor(std::vector<float>{3.f})).item<double>()));
  // Two-pass variance survives a large offset that E[x²] - E[x]² would not.
  const Tensor big = tensor(std::vector<double>{1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4});
  CHECK(var(big, {}, 0).item<double>() == Catch::Approx(1.25));

  const Tensor i = tensor(std::vector<int32_t>{100, 200, -7}, {3});
  CHECK(sum(i).dtype() == DType::Int64);
  CHECK(sum(i).item<int64_t>() == 293);
  CHECK(prod(i).item<int64_t>() == -140000);
  CHECK(amax(i).dtype() == DType::Int32);
  CHECK(amax(i).item<int64_t>() == 200);
  CHECK(amin(i).item<int64_t>() == -7);
  const Tensor u = to_dtype(tensor(std::vector<int32_t>{200, 200}), DType::UInt8);
  CHECK(sum(u).item<int64_t>() == 400);  // accumulated in int64, no uint8 wrap
  const Tensor b = tensor(std::vector<bool>{true, false, true});
  CHECK(sum(b).dtype() == DType::Int64);
  CHECK(sum(b).item<int64_t>() == 2);
  CHECK_THROWS_AS(mean(i), DTypeError);

  const Tensor e = zeros({0, 3});
  CHECK(sum(e, {0}).to_vector<float>() == std::vector<float>{0, 0, 0});
  CHECK(prod(e, {0}).to_vector<float>() == std::vector<float>{1, 1, 1});
  CHECK(std::isnan(mean(e).item<double>()));
  CHECK(std::isinf(logsumexp(e).item<double>()));
  CHECK_THROWS_AS(amax(e, {0}), IndexError);
  CHECK(amax(e, {1}).shape() == Shape{0});
  CHECK_THROWS_AS(argmax(e), IndexError);

  const Tensor s = scalar(2.5);
  CHECK(sum(s).item<double>() == 2.5);
  CHECK(amax(s, {0}).item<double>() == 2.5);
  CHECK(sum(s, {-1}, true).shape() == Shape{});
}

TEST_CASE("NaN propagates through amax, amin and softmax on every backend", "[ops][reduction]") {
  // oneDNN alone would skip the NaN (max = 1) and give the row's finite elements finite
  // probabilities; PyTorch gives NaN.
  std::vector<float> v(64, 1.0f);
  v[3] = NAN;
  v[40] = INFINITY;
  const Tensor x = tensor(v, {4, 16});
  // amax/amin have reference kernels only (oneDNN's skip NaN).
  CHECK(!kernel_for(OpId::amax, Backend::OneDNN));
  CHECK(!kernel_for(OpId::amin, Backend::OneDNN));
  const std::vector<float> mx = amax(x, {1}).to_vector<float>();
  CHECK(std::isnan(mx[0]));
  CHECK(mx[1] == 1.0f);
  CHECK(mx[2] == INFINITY);
  CHECK(std::isnan(amin(x).item<double>()));
  CHECK(std::isnan(amin(x, {1}).to_vector<float>()[0]));
  for (Backend be : {Backend::Reference, Backend::OneDNN}) {
    INFO("backend " << backend_name(be));
    ForceBackendGuard g(be);
    const std::vector<float> sm = softmax(x, 1).to_vector<float>();
    for (int k = 0; k < 16; ++k) CHECK(std::isnan(sm[size_t(k)]));   // row 0 holds the NaN
    CHECK(sm[16] == Catch::Approx(1.0 / 16));                        // row 1 is finite
    for (int k = 32; k < 48; ++k) CHECK(std::isnan(sm[size_t(k)]));  // row 2: +inf - +inf
  }
  CHECK(std::isnan(log_softmax(x, 1).to_vector<float>()[0]));  // the reference kernel's (only) path
}

TEST_CASE("argmax/argmin: first occurrence, NaN is the extremum, flatten and keepdim", "[ops][reduction]") {
  const Tensor x = tensor(std::vector<float>{1, 5, 5, 0, 0, 2}, {2, 3});
  CHECK(argmax(x).item<int64_t>() == 1);  // flattened, first of the tied 5s
  CHECK(argmin(x).item<int64_t>() == 3);
  CHECK(argmax(x, 1).to_vector<int64_t>() == std::vector<int64_t>{1, 2});
  CHECK(argmin(x, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 1, 1});
  CHECK(argmax(x, -1, true).shape() == Shape{2, 1});
  CHECK(argmax(x, std::nullopt, true).shape() == Shape{1, 1});
  CHECK(argmax(x).dtype() == DType::Int64);
  const Tensor n = tensor(std::vector<double>{1, NAN, 7, NAN});
  CHECK(argmax(n).item<int64_t>() == 1);
  CHECK(argmin(n).item<int64_t>() == 1);
  const Tensor t = transpose(x, 0, 1);  // strided input: [[1, 0], [5, 0], [5, 2]]
  CHECK(argmax(t, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 2});
  CHECK(argmax(scalar(3.0)).item<int64_t>() == 0);
}

TEST_CASE("logsumexp and softmax do not overflow on large values", "[ops][reduction]") {
  const Tensor big = tensor(std::vector<float>{1000, 1000});
  CHECK(logsumexp(big).item<double>() == Catch::Approx(1000 + std::log(2.0)));
  const Tensor minf = tensor(std::vector<double>{-kInf, -kInf});
  CHECK(logsumexp(minf).item<double>() == -kInf);
  CHECK(logsumexp(tensor(std::vector<double>{kInf, 1})).item<double>() == kInf);

  const Tensor x = tensor(std::vector<float>{1000, 1001, 1002, -5, 0, 5}, {2, 3});
  auto expect_rows = [&](bool log) {
    std::vector<double> want;
    const double rows[2][3] = {{1000, 1001, 1002}, {-5, 0, 5}};
    for (const auto& r : rows) {
      double s = 0;
      for (double v : r) s += std::exp(v - r[2]);
      for (double v : r) want.push_back(log ? v - r[2] - std::log(s) : std::exp(v - r[2]) / s);
    }
    return want;
  };
  for (Backend be : {Backend::Reference, Backend::OneDNN}) {
    INFO("backend " << backend_name(be));
    ForceBackendGuard g(be);
    // oneDNN's vectorized exp/log are accurate to a few float32 ulps, not to the last one.
    const double tol = be == Backend::OneDNN ? 1e-5 : 1e-6;
    check_close(softmax(x, 1).to_vector<double>(), expect_rows(false), tol);
  }
  check_close(log_softmax(x, -1).to_vector<double>(), expect_rows(true), 1e-6);
  CHECK(softmax(scalar(3.0), 0).item<double>() == 1.0);
  CHECK(log_softmax(scalar(3.0), -1).item<double>() == 0.0);
}

TEST_CASE("softmax along dim 0 matches a double loop", "[ops][reduction]") {
  const Tensor x = make_input({3, 4}, DType::Float64, 9);
  const std::vector<double> v = x.to_vector<double>();
  std::vector<double> want(12);
  for (int c = 0; c < 4; ++c) {
    double s = 0;
    for (int r = 0; r < 3; ++r) s += std::exp(v[size_t(r * 4 + c)]);
    for (int r = 0; r < 3; ++r) want[size_t(r * 4 + c)] = std::exp(v[size_t(r * 4 + c)]) / s;
  }
  check_close(softmax(x, 0).to_vector<double>(), want, 1e-12);
  check_close(softmax(to_dtype(x, DType::Float32), 0).to_vector<double>(), want, 1e-6);
}

TEST_CASE("oneDNN runs sum, mean and softmax on float32; log_softmax stays on the reference", "[ops][reduction]") {
  const Tensor x = make_input({8, 16}, DType::Float32, 5);
  auto ran_onednn = [](const std::function<Tensor()>& f) {
    f();
    return last_selected_backend() == Backend::OneDNN;
  };
  CHECK(ran_onednn([&] { return sum(x, {1}); }));
  CHECK(ran_onednn([&] { return mean(x, {1}, true); }));
  CHECK(ran_onednn([&] { return softmax(x, 1); }));
  // oneDNN's softmax_log loses float32 accuracy for outputs near 0 (test_onednn_semantics.cpp).
  CHECK_FALSE(ran_onednn([&] { return log_softmax(x, 0); }));
  // What oneDNN lacks goes to the reference kernels.
  CHECK_FALSE(ran_onednn([&] { return sum(to_dtype(x, DType::Int32)); }));
  CHECK_FALSE(ran_onednn([&] { return var(x); }));
  // amax/amin: oneDNN's skip NaN and pick either sign of a zero maximum.
  CHECK_FALSE(ran_onednn([&] { return amax(x); }));
  // A leading-dim float32 sum: oneDNN has only its slow generic "ref" reduction; the oneDNN
  // backend's column loop computes it (test_column_sum.cpp).
  CHECK(ran_onednn([&] { return sum(x, {0}); }));
  // And the results agree.
  Tensor ref;
  {
    ForceBackendGuard g(Backend::Reference);
    ref = sum(x, {1});
  }
  DOPPEL_REQUIRE_CLOSE(sum(x, {1}), ref, (Tolerance{1e-5, 1e-5}));
}

TEST_CASE("Tensor reduction methods forward to the free functions", "[ops][reduction]") {
  const Tensor x = tensor(std::vector<float>{1, 2, 3, 4}, {2, 2});
  CHECK(x.sum().item<double>() == 10);
  CHECK(x.mean({0}).to_vector<float>() == std::vector<float>{2, 3});
  CHECK(x.max({1}, true).to_vector<float>() == std::vector<float>{2, 4});
  CHECK(min(x).item<double>() == 1);
  CHECK(x.argmax(0).to_vector<int64_t>() == std::vector<int64_t>{1, 1});
  CHECK(x.softmax(1).sum({1}).to_vector<float>()[0] == Catch::Approx(1.0));
  CHECK(x.log_softmax(1).to_vector<float>()[1] == Catch::Approx(-std::log(1 + std::exp(-1.0))));
}

}  // namespace doppel::testing
