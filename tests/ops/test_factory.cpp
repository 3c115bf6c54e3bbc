// Specs and value tests of the factory ops: full, arange, linspace, eye and the random ops.
#include <algorithm>
#include <cmath>
#include <set>

#include "doppel/kernels/op_attrs/factory.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kAllDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8,
                                       DType::UInt8,   DType::Int32,   DType::Int64,    DType::Bool};
const std::vector<DType> kNumericDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16,
                                           DType::Int8,    DType::UInt8,   DType::Int32,    DType::Int64};
const std::vector<DType> kFloatDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};
const std::vector<DType> kIntDTypes = {DType::Int8, DType::UInt8, DType::Int32, DType::Int64};

Attrs full_attrs(IntList shape, double v, DType t) {
  return FullAttrs{.shape = shape, .value = v, .dtype = t, .device = kCPU}.pack();
}
Attrs arange_attrs(double a, double b, double s, DType t) {
  return ArangeAttrs{.start = a, .end = b, .step = s, .dtype = t, .device = kCPU}.pack();
}
Attrs linspace_attrs(double a, double b, int64_t n, DType t) {
  return LinspaceAttrs{.start = a, .end = b, .steps = n, .dtype = t, .device = kCPU}.pack();
}
Attrs eye_attrs(int64_t n, int64_t m, DType t) { return EyeAttrs{.n = n, .m = m, .dtype = t, .device = kCPU}.pack(); }
Attrs rand_attrs(IntList shape, double a, double b, DType t, int64_t seed = 7, int64_t offset = 0) {
  return RandomOpAttrs{.shape = shape, .a = a, .b = b, .dtype = t, .device = kCPU, .seed = seed, .offset = offset}
      .pack();
}

// Random samples: small, 0-d, empty, odd sizes (a partial last Philox block) and one large
// enough to be split across threads.
std::vector<Sample> random_samples(DType t, double a, double b) {
  return {{"vector", {}, rand_attrs({7}, a, b, t)},
          {"0-d", {}, rand_attrs({}, a, b, t)},
          {"empty", {}, rand_attrs({0, 3}, a, b, t)},
          {"matrix offset", {}, rand_attrs({5, 3}, a, b, t, 11, 1234)},
          {"large", {}, rand_attrs({70001}, a, b, t, 3, 99)}};
}

}  // namespace

DOPPEL_OP_SPEC(full_spec) {
  return OpSpec{.op = OpId::full,
                .dtypes = kAllDTypes,
                .samples =
                    [](DType t) {
                      return std::vector<Sample>{{"matrix", {}, full_attrs({2, 3}, 3, t)},
                                                 {"0-d", {}, full_attrs({}, 1, t)},
                                                 {"empty", {}, full_attrs({0, 4}, 2, t)},
                                                 {"large", {}, full_attrs({300, 70}, 5, t)}};
                    },
                .errors =
                    [] {
                      return std::vector<ErrorSample>{
                          {"negative dim", {}, full_attrs({2, -1}, 0, DType::Float32), ErrorKind::Shape, "full"},
                          {"wrong attr kind",
                           {},
                           {Attr::of_int(2), Attr::of_float(0), Attr::of_dtype(DType::Float32), Attr::of_device(kCPU)},
                           ErrorKind::Value,
                           "full"}};
                    }};
}

DOPPEL_OP_SPEC(arange_spec) {
  return OpSpec{
      .op = OpId::arange,
      .dtypes = kNumericDTypes,
      .samples =
          [](DType t) {
            return std::vector<Sample>{{"0..10", {}, arange_attrs(0, 10, 1, t)},
                                       {"step 3", {}, arange_attrs(1, 20, 3, t)},
                                       {"descending", {}, arange_attrs(100, 3, -7, t)},
                                       {"empty", {}, arange_attrs(5, 5, 1, t)},
                                       {"large", {}, arange_attrs(0, 100, 0.001, t)}};
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{
                {"step 0", {}, arange_attrs(0, 10, 0, DType::Float32), ErrorKind::Value, "arange"},
                {"wrong direction", {}, arange_attrs(0, 10, -1, DType::Float32), ErrorKind::Value, "arange"},
                {"wrong direction down", {}, arange_attrs(10, 0, 1, DType::Int64), ErrorKind::Value, "arange"},
                {"infinite end", {}, arange_attrs(0, INFINITY, 1, DType::Float32), ErrorKind::Value, "arange"}};
          }};
}

DOPPEL_OP_SPEC(linspace_spec) {
  return OpSpec{
      .op = OpId::linspace,
      .dtypes = kNumericDTypes,
      .samples =
          [](DType t) {
            return std::vector<Sample>{{"0..10 x 11", {}, linspace_attrs(0, 10, 11, t)},
                                       {"descending", {}, linspace_attrs(20, -3, 6, t)},
                                       {"one step", {}, linspace_attrs(4, 9, 1, t)},
                                       {"zero steps", {}, linspace_attrs(4, 9, 0, t)},
                                       {"large", {}, linspace_attrs(-1, 100, 50001, t)}};
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{
                {"negative steps", {}, linspace_attrs(0, 1, -2, DType::Float32), ErrorKind::Value, "linspace"}};
          }};
}

DOPPEL_OP_SPEC(eye_spec) {
  return OpSpec{.op = OpId::eye,
                .dtypes = kAllDTypes,
                .samples =
                    [](DType t) {
                      return std::vector<Sample>{
                          {"square", {}, eye_attrs(4, 4, t)},     {"wide", {}, eye_attrs(2, 5, t)},
                          {"tall", {}, eye_attrs(5, 2, t)},       {"empty", {}, eye_attrs(0, 0, t)},
                          {"no columns", {}, eye_attrs(3, 0, t)}, {"large", {}, eye_attrs(200, 150, t)}};
                    },
                .errors =
                    [] {
                      return std::vector<ErrorSample>{
                          {"negative n", {}, eye_attrs(-1, 3, DType::Float32), ErrorKind::Shape, "eye"},
                          {"negative m", {}, eye_attrs(3, -2, DType::Float32), ErrorKind::Shape, "eye"}};
                    }};
}

DOPPEL_OP_SPEC(uniform_spec) {
  return OpSpec{.op = OpId::uniform,
                .dtypes = kFloatDTypes,
                .samples = [](DType t) { return random_samples(t, -2, 3); },
                .errors =
                    [] {
                      return std::vector<ErrorSample>{
                          {"int dtype", {}, rand_attrs({3}, 0, 1, DType::Int32), ErrorKind::DType, "uniform"},
                          {"low > high", {}, rand_attrs({3}, 2, 1, DType::Float32), ErrorKind::Value, "uniform"},
                          {"negative dim", {}, rand_attrs({-3}, 0, 1, DType::Float32), ErrorKind::Shape, "uniform"}};
                    }};
}

DOPPEL_OP_SPEC(normal_spec) {
  return OpSpec{.op = OpId::normal,
                .dtypes = kFloatDTypes,
                .samples = [](DType t) { return random_samples(t, 1, 2); },
                .errors =
                    [] {
                      return std::vector<ErrorSample>{
                          {"std < 0", {}, rand_attrs({3}, 0, -1, DType::Float32), ErrorKind::Value, "normal"},
                          {"bool dtype", {}, rand_attrs({3}, 0, 1, DType::Bool), ErrorKind::DType, "normal"},
                          {"negative dim", {}, rand_attrs({2, -1}, 0, 1, DType::Float32), ErrorKind::Shape, "normal"}};
                    }};
}

DOPPEL_OP_SPEC(randint_spec) {
  return OpSpec{.op = OpId::randint,
                .dtypes = kIntDTypes,
                .samples = [](DType t) { return random_samples(t, 3, 100); },
                .errors =
                    [] {
                      return std::vector<ErrorSample>{
                          {"float dtype", {}, rand_attrs({3}, 0, 10, DType::Float32), ErrorKind::DType, "randint"},
                          {"bool dtype", {}, rand_attrs({3}, 0, 2, DType::Bool), ErrorKind::DType, "randint"},
                          {"low == high", {}, rand_attrs({3}, 4, 4, DType::Int64), ErrorKind::Value, "randint"},
                          {"high beyond int8", {}, rand_attrs({3}, 0, 1000, DType::Int8), ErrorKind::Value, "randint"},
                          {"low below uint8", {}, rand_attrs({3}, -1, 10, DType::UInt8), ErrorKind::Value, "randint"},
                          {"negative dim", {}, rand_attrs({-1}, 0, 5, DType::Int64), ErrorKind::Shape, "randint"}};
                    }};
}

// ---- Value tests against hand values and independent double-precision formulas.

TEST_CASE("full, zeros, ones and scalar fill every dtype", "[factory]") {
  CHECK(full({2, 3}, 7, {.dtype = DType::Int32}).to_vector<int32_t>() == std::vector<int32_t>(6, 7));
  CHECK(full({2}, 2.5, {.dtype = DType::BFloat16}).to_vector<float>() == std::vector<float>{2.5f, 2.5f});
  CHECK(full({3}, true, {.dtype = DType::Bool}).to_vector<bool>() == std::vector<bool>{true, true, true});
  CHECK(zeros({2, 2}).to_vector<float>() == std::vector<float>(4, 0.f));
  Tensor o = ones({4}, {.dtype = DType::Float16});
  CHECK(o.dtype() == DType::Float16);
  CHECK(o.to_vector<double>() == std::vector<double>(4, 1.0));
  CHECK(full({0, 3}, 1).numel() == 0);
  Tensor s = scalar(3);
  CHECK(s.dim() == 0);
  CHECK(s.dtype() == DType::Int64);
  CHECK(s.item<int64_t>() == 3);
  CHECK(scalar(1.5).dtype() == DType::Float32);
  CHECK(scalar(true).dtype() == DType::Bool);
  CHECK(full_like(ones({2}, {.dtype = DType::Int8}), -3).to_vector<int8_t>() == std::vector<int8_t>{-3, -3});
  CHECK_THROWS_AS(zeros({-1}), ShapeError);
  CHECK_THROWS_AS(empty({3, -2}), ShapeError);
}

TEST_CASE("arange: exact values and PyTorch's default dtypes", "[factory]") {
  Tensor a = arange(5);
  CHECK(a.dtype() == DType::Int64);
  CHECK(a.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(arange(10, 0, -3).to_vector<int64_t>() == std::vector<int64_t>{10, 7, 4, 1});
  Tensor f = arange(0, 1, 0.25);
  CHECK(f.dtype() == DType::Float32);
  CHECK(f.to_vector<float>() == std::vector<float>{0.f, 0.25f, 0.5f, 0.75f});
  CHECK(arange(1, 2.5, 0.5).to_vector<float>() == std::vector<float>{1.f, 1.5f, 2.f});
  CHECK(arange(0.0, 3).dtype() == DType::Float32);  // any floating bound makes it floating
  CHECK(arange(0, 1, 0.1).numel() == 10);           // ceil((1 - 0) / 0.1)
  CHECK(arange(0, 10, 3, TensorOptions{.dtype = DType::Float64}).to_vector<double>() ==
        std::vector<double>{0, 3, 6, 9});
  CHECK(arange(3, 3).numel() == 0);
  // Element k is start + k * step, computed in double (not accumulated).
  Tensor d = arange(-1, 1, 0.1, TensorOptions{.dtype = DType::Float64});
  const auto dv = d.to_vector<double>();
  REQUIRE(dv.size() == 20);
  for (size_t k = 0; k < dv.size(); ++k) CHECK(dv[k] == -1.0 + double(k) * 0.1);
  CHECK_THROWS_AS(arange(0, 5, 0), ValueError);
  CHECK_THROWS_AS(arange(0, 5, -1), ValueError);
}

TEST_CASE("linspace: exact endpoints and PyTorch's symmetric formula", "[factory]") {
  CHECK(linspace(0, 1, 5).to_vector<float>() == std::vector<float>{0.f, 0.25f, 0.5f, 0.75f, 1.f});
  // steps == 1 gives the start, as in PyTorch (not the end).
  CHECK(linspace(2, 10, 1).to_vector<float>() == std::vector<float>{2.f});
  CHECK(linspace(2, 10, 0).numel() == 0);
  CHECK(linspace(0, 10, 4, {.dtype = DType::Int64}).to_vector<int64_t>() == std::vector<int64_t>{0, 3, 6, 10});
  for (int64_t n : {2, 3, 7, 10, 101}) {
    const double a = -0.3, b = 1.7;
    const auto v = linspace(a, b, n, {.dtype = DType::Float64}).to_vector<double>();
    REQUIRE(int64_t(v.size()) == n);
    CHECK(v.front() == a);
    CHECK(v.back() == b);
    const double step = (b - a) / double(n - 1);
    for (int64_t k = 0; k < n; ++k) {
      const double expect = k < n / 2 ? a + step * double(k) : b - step * double(n - 1 - k);
      CHECK(v[size_t(k)] == expect);
    }
    const auto f = linspace(a, b, n).to_vector<float>();
    CHECK(f.front() == float(a));
    CHECK(f.back() == float(b));
    for (int64_t k = 0; k < n; ++k) CHECK(std::fabs(f[size_t(k)] - (a + step * double(k))) <= 2e-7);
  }
}

TEST_CASE("eye: identity of any shape", "[factory]") {
  CHECK(eye(3).to_vector<float>() == std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1});
  Tensor w = eye(2, 4, {.dtype = DType::Int32});
  CHECK(w.shape() == Shape{2, 4});
  CHECK(w.to_vector<int32_t>() == std::vector<int32_t>{1, 0, 0, 0, 0, 1, 0, 0});
  CHECK(eye(3, 2, {.dtype = DType::Bool}).to_vector<bool>() ==
        std::vector<bool>{true, false, false, true, false, false});
  CHECK(eye(0).shape() == Shape{0, 0});
  CHECK(eye(3, 0).shape() == Shape{3, 0});
  CHECK_THROWS_AS(eye(-1), ShapeError);
}

namespace {
struct Moments {
  double mean = 0, var = 0, lo = INFINITY, hi = -INFINITY;
};
Moments moments(const std::vector<double>& v) {
  Moments m;
  for (double x : v) {
    m.mean += x;
    m.lo = std::min(m.lo, x);
    m.hi = std::max(m.hi, x);
  }
  m.mean /= double(v.size());
  for (double x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= double(v.size() - 1);
  return m;
}
}  // namespace

TEST_CASE("rand: uniform on 0 to 1 (1 excluded) with the right moments", "[factory]") {
  manual_seed(123);
  const auto v = rand({1000000}).to_vector<double>();
  const Moments m = moments(v);
  CHECK(m.lo >= 0.0);
  CHECK(m.hi < 1.0);
  // Standard error of the mean is sqrt(1/12 / 1e6) ~ 2.9e-4; allow ~7 of them.
  CHECK(std::fabs(m.mean - 0.5) < 2e-3);
  CHECK(std::fabs(m.var - 1.0 / 12) < 1e-3);
  // Every tenth of the interval gets its share.
  std::vector<int64_t> bins(10, 0);
  for (double x : v) ++bins[size_t(x * 10)];
  for (int64_t b : bins) CHECK(std::abs(b - 100000) < 2000);
  // Scaled uniform, and the 16-bit types never round up to the excluded upper bound.
  const Moments u = moments(uniform({200000}, -3, 5, {.dtype = DType::Float64}).to_vector<double>());
  CHECK(u.lo >= -3.0);
  CHECK(u.hi < 5.0);
  CHECK(std::fabs(u.mean - 1.0) < 0.03);
  for (DType t : {DType::Float16, DType::BFloat16, DType::Float32}) {
    INFO(dtype_name(t));
    const Moments h = moments(rand({200000}, {.dtype = t}).to_vector<double>());
    CHECK(h.lo >= 0.0);
    CHECK(h.hi < 1.0);
    const Moments s = moments(uniform({200000}, 0, 3, {.dtype = t}).to_vector<double>());
    CHECK(s.hi < 3.0);
  }
}

TEST_CASE("randn: mean 0, variance 1, and a normal shape", "[factory]") {
  manual_seed(99);
  const auto v = randn({1000000}).to_vector<double>();
  const Moments m = moments(v);
  CHECK(std::fabs(m.mean) < 5e-3);
  CHECK(std::fabs(m.var - 1.0) < 1e-2);
  int64_t within1 = 0, within2 = 0;
  for (double x : v) {
    within1 += std::fabs(x) < 1.0;
    within2 += std::fabs(x) < 2.0;
  }
  // P(|z| < 1) = 0.6827, P(|z| < 2) = 0.9545; the standard error at 1e6 samples is ~5e-4.
  CHECK(std::fabs(double(within1) / 1e6 - 0.682689) < 3e-3);
  CHECK(std::fabs(double(within2) / 1e6 - 0.954500) < 2e-3);
  const Moments s = moments(normal({200000}, 3, 0.5, {.dtype = DType::Float64}).to_vector<double>());
  CHECK(std::fabs(s.mean - 3.0) < 0.01);
  CHECK(std::fabs(std::sqrt(s.var) - 0.5) < 0.01);
  // std = 0 is allowed and gives the mean.
  CHECK(normal({3}, 2, 0).to_vector<float>() == std::vector<float>{2.f, 2.f, 2.f});
  CHECK_THROWS_AS(normal({3}, 0, -1), ValueError);
}

TEST_CASE("randint: values from low up to high (excluded), each one drawn", "[factory]") {
  manual_seed(5);
  Tensor r = randint(-3, 7, {20000});
  CHECK(r.dtype() == DType::Int64);
  std::set<int64_t> seen;
  for (int64_t x : r.to_vector<int64_t>()) {
    REQUIRE(x >= -3);
    REQUIRE(x < 7);
    seen.insert(x);
  }
  CHECK(seen.size() == 10);
  std::set<int> seen8;
  for (int x : randint(0, 256, {20000}, {.dtype = DType::UInt8}).to_vector<int32_t>()) seen8.insert(x);
  CHECK(seen8.size() == 256);
  const auto i8 = randint(-128, 128, {20000}, {.dtype = DType::Int8}).to_vector<int32_t>();
  CHECK(*std::min_element(i8.begin(), i8.end()) == -128);
  CHECK(*std::max_element(i8.begin(), i8.end()) == 127);
  CHECK(randint(4, 5, {6}, {.dtype = DType::Int32}).to_vector<int32_t>() == std::vector<int32_t>(6, 4));
  CHECK_THROWS_AS(randint(0, 10, {3}, {.dtype = DType::Float32}), DTypeError);
  CHECK_THROWS_AS(randint(5, 5, {3}), ValueError);
  CHECK_THROWS_AS(randint(0, 300, {3}, {.dtype = DType::UInt8}), ValueError);
}

TEST_CASE("random ops are reproducible from a seed", "[factory]") {
  manual_seed(42);
  const auto a = rand({1000}).to_vector<float>();
  const auto b = randn({33}).to_vector<float>();
  manual_seed(42);
  CHECK(rand({1000}).to_vector<float>() == a);
  CHECK(randn({33}).to_vector<float>() == b);
  // Successive draws and different seeds differ.
  CHECK(rand({1000}).to_vector<float>() != a);
  manual_seed(43);
  CHECK(rand({1000}).to_vector<float>() != a);
  // A seed fixes every dtype's stream too.
  manual_seed(1);
  const auto r1 = randint(0, 1000000, {50}).to_vector<int64_t>();
  manual_seed(1);
  CHECK(randint(0, 1000000, {50}).to_vector<int64_t>() == r1);
}

TEST_CASE("random ops do not depend on the thread count", "[factory]") {
  const int saved = get_num_threads();
  auto draw = [](int threads) {
    set_num_threads(threads);
    manual_seed(2024);
    // Large enough for parallel_for to split the Philox blocks across threads.
    std::vector<double> v = rand({200003}).to_vector<double>();
    const auto n = randn({100001}, {.dtype = DType::Float64}).to_vector<double>();
    const auto i = randint(0, 1 << 30, {100001}).to_vector<double>();
    v.insert(v.end(), n.begin(), n.end());
    v.insert(v.end(), i.begin(), i.end());
    return v;
  };
  const auto one = draw(1);
  const auto two = draw(2);
  set_num_threads(saved);
  CHECK(one == two);
}

TEST_CASE("a custom Generator has its own stream", "[factory]") {
  Generator g(77), h(77);
  manual_seed(3);
  const uint64_t default_offset = default_generator().offset();
  const auto a = rand({100}, {}, &g).to_vector<float>();
  const auto a2 = rand({100}, {}, &g).to_vector<float>();
  CHECK(default_generator().offset() == default_offset);  // the default generator is untouched
  CHECK(g.offset() > 0);
  CHECK(a != a2);
  CHECK(rand({100}, {}, &h).to_vector<float>() == a);
  CHECK(rand({100}, {}, &h).to_vector<float>() == a2);
  g.manual_seed(77);
  CHECK(g.offset() == 0);
  CHECK(rand({100}, {}, &g).to_vector<float>() == a);
  Generator other(78);
  CHECK(rand({100}, {}, &other).to_vector<float>() != a);
  // The same seed in the default generator gives the same stream as a Generator.
  manual_seed(77);
  CHECK(rand({100}).to_vector<float>() == a);
}

}  // namespace doppel::testing
