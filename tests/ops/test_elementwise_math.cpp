// The shared scalar math (kernels/cpu/elementwise_math.h, random_math.h, factory_math.h,
// optimizer_math.h, philox.h) checked directly against independent oracles: long double / std::
// math in double, exact integer arithmetic in a wider type, Random123's published Philox
// known-answer vectors and a double-precision Adam. The CPU reference kernels and the CUDA
// kernels both call these functions, so this is the test of the math of both.
#include <catch2/catch_test_macros.hpp>
#include <cmath>
#include <cstdint>
#include <limits>

#include "cpu/elementwise_math.h"
#include "cpu/factory_math.h"
#include "cpu/optimizer_math.h"
#include "cpu/random_math.h"
#include "doppel/kernels/philox.h"

namespace doppel {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr float kInfF = std::numeric_limits<float>::infinity();
const double kNaN = std::nan("");
const float kNaNF = std::nanf("");

bool same_bits(double a, double b) {
  return std::isnan(a) ? std::isnan(b) : (a == b && std::signbit(a) == std::signbit(b));
}

// |got - want| within `ulps` float ulps of want (or both NaN / equal infinities).
bool close_f(float got, long double want, int ulps = 2) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == float(want);
  const float w = float(want);
  const float tol = ulps * (std::nextafter(std::fabs(w), kInfF) - std::fabs(w));
  return std::fabs(double(got) - double(want)) <= double(tol) + 1e-45;
}

TEST_CASE("ew: integer arithmetic wraps like two's complement", "[ops][ew_math]") {
  CHECK(ew::add<int8_t>(127, 1) == -128);
  CHECK(ew::sub<int8_t>(-128, 1) == 127);
  CHECK(ew::mul<int8_t>(16, 16) == 0);
  CHECK(ew::mul<uint8_t>(200, 2) == 144);
  CHECK(ew::neg<int8_t>(-128) == -128);
  CHECK(ew::abs<int8_t>(-128) == -128);
  CHECK(ew::add<int32_t>(std::numeric_limits<int32_t>::max(), 1) == std::numeric_limits<int32_t>::min());
  CHECK(ew::mul<int64_t>(int64_t(1) << 62, 4) == 0);
  CHECK(ew::neg<int64_t>(std::numeric_limits<int64_t>::min()) == std::numeric_limits<int64_t>::min());
  // Oracle: the product in a wider type reduced mod 2^32.
  for (int64_t a : {-70000LL, -3LL, 0LL, 65537LL, 2147483647LL})
    for (int64_t b : {-65536LL, -1LL, 7LL, 40000LL}) {
      const int64_t wide = a * b;
      CHECK(ew::mul<int32_t>(int32_t(a), int32_t(b)) == int32_t(uint32_t(uint64_t(wide))));
    }
  CHECK(ew::add<bool>(true, true) == true);
  CHECK(ew::mul<bool>(true, false) == false);
}

TEST_CASE("ew: integer pow by squaring with negative exponents", "[ops][ew_math]") {
  CHECK(ew::pow<int32_t>(3, 4) == 81);
  CHECK(ew::pow<int32_t>(2, 31) == std::numeric_limits<int32_t>::min());  // wraps
  CHECK(ew::pow<int8_t>(3, 5) == int8_t(uint8_t(243)));
  CHECK(ew::pow<int32_t>(2, -1) == 0);
  CHECK(ew::pow<int32_t>(1, -5) == 1);
  CHECK(ew::pow<int32_t>(-1, -3) == -1);
  CHECK(ew::pow<int32_t>(-1, -4) == 1);
  CHECK(ew::pow<int32_t>(0, -2) == 0);
  CHECK(ew::pow<int32_t>(0, 0) == 1);
  CHECK(ew::pow<uint8_t>(2, 9) == 0);
  CHECK(ew::pow<double>(2.0, 0.5) == std::sqrt(2.0));
}

TEST_CASE("ew: maximum/minimum propagate NaN; relu keeps NaN and signed zero rules", "[ops][ew_math]") {
  CHECK(std::isnan(ew::maximum(kNaN, 1.0)));
  CHECK(std::isnan(ew::maximum(1.0, kNaN)));
  CHECK(std::isnan(ew::minimum(kNaNF, kInfF)));
  CHECK(ew::maximum(-kInf, 3.0) == 3.0);
  CHECK(ew::minimum<int8_t>(-128, 127) == -128);
  CHECK(std::isnan(ew::relu(kNaN)));
  CHECK(ew::relu(-0.0) == 0.0);
  CHECK(ew::relu(-kInf) == 0.0);
  CHECK(ew::relu(kInf) == kInf);
  CHECK(ew::relu<int32_t>(-5) == 0);
  CHECK(ew::relu_backward(2.5, 1.0) == 2.5);
  CHECK(ew::relu_backward(2.5, 0.0) == 0.0);
  CHECK(ew::relu_backward(2.5, kNaN) == 2.5);  // PyTorch's threshold_backward: NaN <= 0 is false
  CHECK(ew::relu_backward(kInf, 0.0) == 0.0);
  CHECK(ew::relu_backward(kNaNF, -1.f) == 0.f);
  CHECK(ew::where(true, 1.5, 2.5) == 1.5);
  CHECK(ew::where(false, 1.5, 2.5) == 2.5);
}

TEST_CASE("ew: floating functions against long double", "[ops][ew_math]") {
  const float xs[] = {-20.f, -3.5f, -1.f, -0.25f, -0.f, 0.f, 1e-7f, 0.5f, 1.f, 2.75f, 15.f, 30.f};
  for (float x : xs) {
    const long double lx = x;
    INFO("x = " << x);
    CHECK(close_f(ew::exp(x), std::exp(lx)));
    CHECK(close_f(ew::sin(x), std::sin(lx)));
    CHECK(close_f(ew::cos(x), std::cos(lx)));
    CHECK(close_f(ew::tanh(x), std::tanh(lx)));
    CHECK(close_f(ew::erf(x), std::erf(lx)));
    CHECK(close_f(ew::sigmoid(x), 1.0L / (1.0L + std::exp(-lx))));
    CHECK(close_f(ew::silu(x), lx / (1.0L + std::exp(-lx))));
    // gelu cancels in 1 + erf / 1 + tanh for negative x: an absolute bound, tight in double.
    const long double k = std::sqrt(2.0L / 3.14159265358979323846264338327950288L);
    const long double gelu_erf = 0.5L * lx * (1.0L + std::erf(lx / std::sqrt(2.0L)));
    const long double gelu_tanh = 0.5L * lx * (1.0L + std::tanh(k * (lx + 0.044715L * lx * lx * lx)));
    const double scale = std::max(1.0, std::fabs(double(x)));
    CHECK(std::fabs(ew::gelu(double(x), false) - double(gelu_erf)) <= 4e-16 * scale);
    CHECK(std::fabs(ew::gelu(double(x), true) - double(gelu_tanh)) <= 4e-16 * scale);
    CHECK(std::fabs(double(ew::gelu(x, false)) - double(gelu_erf)) <= 2e-7 * scale);
    CHECK(std::fabs(double(ew::gelu(x, true)) - double(gelu_tanh)) <= 2e-7 * scale);
    CHECK(close_f(ew::elu(x, 1.5f), x > 0 ? lx : 1.5L * std::expm1(lx)));
    CHECK(close_f(ew::leaky_relu(x, 0.1f), x > 0 ? lx : lx * 0.1L));
    if (x >= 0) {
      CHECK(close_f(ew::sqrt(x), std::sqrt(lx)));
      CHECK(close_f(ew::log1p(x), std::log1p(lx)));
    }
    if (x > 0) {
      CHECK(close_f(ew::log(x), std::log(lx)));
      CHECK(close_f(ew::rsqrt(x), 1.0L / std::sqrt(lx)));
    }
  }
  // The branch for negative arguments never overflows.
  CHECK(ew::sigmoid(-1000.f) == 0.f);
  CHECK(ew::sigmoid(1000.f) == 1.f);
  CHECK(ew::sigmoid(-kInfF) == 0.f);
  CHECK(std::isnan(ew::sigmoid(kNaNF)));
  CHECK(ew::reciprocal(-0.0) == -kInf);
  CHECK(ew::reciprocal(0.0) == kInf);
  CHECK(std::isnan(ew::log(-1.0)));
  CHECK(ew::log(0.0) == -kInf);
  CHECK(std::isnan(ew::sqrt(-1.0)));
  CHECK(same_bits(ew::sqrt(-0.0), -0.0));
  CHECK(same_bits(ew::neg(0.0), -0.0));
  CHECK(same_bits(ew::abs(-0.0), 0.0));
  CHECK(ew::gelu(kInf, false) == kInf);
  CHECK(std::isnan(ew::gelu(kNaN, true)));
}

TEST_CASE("ew: softplus switches to the identity above the threshold", "[ops][ew_math]") {
  // beta * x > threshold is linear: exactly x, even where log1p(exp) would overflow.
  CHECK(ew::softplus(25.0, 1.0, 20.0) == 25.0);
  CHECK(ew::softplus(1e4, 1.0, 20.0) == 1e4);
  CHECK(ew::softplus(11.0, 2.0, 20.0) == 11.0);
  // At and below the threshold: log1p(exp(beta x)) / beta.
  for (double x : {-30.0, -1.0, 0.0, 0.5, 10.0, 20.0}) {
    const long double want = std::log1p(std::exp(2.0L * x)) / 2.0L;
    CHECK(std::fabs(ew::softplus(x, 2.0, 40.0) - double(want)) <= 1e-15 * std::max(1.0, double(want)));
  }
  CHECK(ew::softplus(20.0, 1.0, 20.0) == std::log1p(std::exp(20.0)));
}

TEST_CASE("ew: rounding, sign and clamp", "[ops][ew_math]") {
  // Round half to even.
  CHECK(ew::round(0.5) == 0.0);
  CHECK(ew::round(1.5) == 2.0);
  CHECK(ew::round(2.5) == 2.0);
  CHECK(ew::round(-2.5) == -2.0);
  CHECK(same_bits(ew::round(-0.5), -0.0));
  CHECK(ew::round(std::nextafter(2.5f, 3.f)) == 3.f);
  CHECK(ew::round<int32_t>(7) == 7);
  CHECK(ew::floor(-1.5) == -2.0);
  CHECK(ew::ceil(-1.5) == -1.0);
  CHECK(same_bits(ew::ceil(-0.5), -0.0));
  CHECK(ew::floor(kInf) == kInf);
  CHECK(std::isnan(ew::floor(kNaN)));
  CHECK(ew::sign(-3.0) == -1.0);
  CHECK(ew::sign(0.0) == 0.0);
  CHECK(same_bits(ew::sign(kNaN), 0.0));  // PyTorch 1.13: sign(NaN) = 0
  CHECK(same_bits(ew::sign(kNaNF), 0.f));
  CHECK(ew::sign(-kInf) == -1.0);
  CHECK(ew::sign<int8_t>(-128) == -1);
  CHECK(ew::sign<uint8_t>(200) == 1);
  CHECK(ew::sign(true) == true);
  CHECK(ew::clamp(5.0, true, 0.0, true, 1.0) == 1.0);
  CHECK(ew::clamp(-5.0, true, 0.0, false, 0.0) == 0.0);
  CHECK(ew::clamp(0.5, true, 2.0, true, 1.0) == 1.0);  // lo > hi gives hi
  CHECK(std::isnan(ew::clamp(kNaN, true, 0.0, true, 1.0)));
  CHECK(ew::int_clamp_bound<int8_t>(1e9) == 127);
  CHECK(ew::int_clamp_bound<int8_t>(-1e9) == -128);
  CHECK(ew::int_clamp_bound<uint8_t>(-1.0) == 0);
  CHECK(ew::int_clamp_bound<int64_t>(1e30) == std::numeric_limits<int64_t>::max());
  CHECK(ew::int_clamp_bound<int32_t>(-7.0) == -7);
}

TEST_CASE("ew: comparisons and logic", "[ops][ew_math]") {
  CHECK_FALSE(ew::eq(kNaN, kNaN));
  CHECK(ew::ne(kNaN, kNaN));
  CHECK_FALSE(ew::lt(kNaN, 1.0));
  CHECK(ew::eq(0.0, -0.0));
  CHECK(ew::le(-kInf, kInf));
  CHECK(ew::truthy(kNaN));
  CHECK_FALSE(ew::truthy(-0.0));
  CHECK(ew::logical_xor(true, false));
  CHECK_FALSE(ew::logical_xor(true, true));
  CHECK(ew::logical_or(false, true));
  CHECK_FALSE(ew::logical_and(true, false));
}

TEST_CASE("philox4x32-10 matches Random123's known-answer vectors", "[ops][ew_math][philox]") {
  const PhiloxWords zero = philox4x32_10(PhiloxWords{{0, 0, 0, 0}}, 0, 0);
  CHECK(zero[0] == 0x6627e8d5u);
  CHECK(zero[1] == 0xe169c58du);
  CHECK(zero[2] == 0xbc57ac4cu);
  CHECK(zero[3] == 0x9b00dbd8u);
  const PhiloxWords ones =
      philox4x32_10(PhiloxWords{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu);
  CHECK(ones[0] == 0x408f276du);
  CHECK(ones[1] == 0x41c83b0eu);
  CHECK(ones[2] == 0xa20bc7c6u);
  CHECK(ones[3] == 0x6d5451fdu);
  // The generator is the bijection of counter {lo, hi, 0, 0} under key {seed lo, seed hi}.
  const uint64_t seed = 0x0123456789abcdefULL, ctr = 0xfedcba9876543210ULL;
  Philox gen(seed, ctr);
  const PhiloxWords a = gen.next(), b = gen.next();
  const PhiloxWords wa = philox4x32_10(PhiloxWords{{0x76543210u, 0xfedcba98u, 0, 0}}, 0x89abcdefu, 0x01234567u);
  const PhiloxWords wb = philox4x32_10(PhiloxWords{{0x76543211u, 0xfedcba98u, 0, 0}}, 0x89abcdefu, 0x01234567u);
  for (size_t j = 0; j < 4; ++j) {
    CHECK(a[j] == wa[j]);
    CHECK(b[j] == wb[j]);
  }
}

TEST_CASE("random math: unit floats, uniform, normal, randint, dropout", "[ops][ew_math][philox]") {
  CHECK(Philox::to_unit_float(0) == 0.f);
  CHECK(Philox::to_unit_float(0xffffffffu) == float(16777215.0 / 16777216.0));  // below 1
  CHECK(Philox::to_unit_double(0xffffffffu, 0xffffffffu) < 1.0);
  const PhiloxWords w{{0x80000000u, 0x40000000u, 0u, 0xffffffffu}};
  CHECK(rnd::uniform_value(w, 0, -1.0, 3.0) == 1.0);  // -1 + 4 * 0.5
  CHECK(rnd::uniform_value(w, 2, -1.0, 3.0) == -1.0);
  // Box-Muller: u1 = 1 - 0.5, u2 = 0.25 -> r cos(pi / 2), r sin(pi / 2) with r = sqrt(2 ln 2).
  const long double r = std::sqrt(2.0L * std::log(2.0L));
  CHECK(std::fabs(rnd::normal_value(w, 0, 0.0, 1.0) - double(r * std::cos(0.5L * 3.14159265358979323846L))) < 1e-15);
  CHECK(std::fabs(rnd::normal_value(w, 1, 1.0, 2.0) - double(1.0L + 2.0L * r)) < 1e-14);
  // u1 = 1 - 0 keeps the logarithm finite: the third word is 0.
  CHECK(std::isfinite(rnd::normal_value(w, 2, 0.0, 1.0)));
  CHECK(rnd::normal_value(w, 2, 0.0, 1.0) == 0.0);
  // randint: 64 bits from words j and j + 1 (wrapping to word 0 after word 3).
  const uint64_t bits0 = (uint64_t(0x80000000u) << 32) | 0x40000000u;
  CHECK(rnd::randint_value(w, 0, -5, 7) == -5 + int64_t(bits0 % 7));
  const uint64_t bits3 = (uint64_t(0xffffffffu) << 32) | 0x80000000u;
  CHECK(rnd::randint_value(w, 3, 10, 1000) == 10 + int64_t(bits3 % 1000));
  CHECK(rnd::dropout_keep(w, 0, 0.5));        // 0.5 >= 0.5
  CHECK_FALSE(rnd::dropout_keep(w, 1, 0.5));  // 0.25 < 0.5
  CHECK_FALSE(rnd::dropout_keep(w, 3, 1.0));  // p == 1 keeps nothing
  CHECK(rnd::dropout_scale(0.2) == 1.0 / 0.8);
  CHECK(rnd::dropout_scale(1.0) == 0.0);
  CHECK(rnd::dropout_value(3.0, true, 2.0) == 6.0);
  CHECK(rnd::dropout_value(kInf, false, 2.0) == 0.0);
}

TEST_CASE("factory math: arange, symmetric linspace, eye, rounding helpers", "[ops][ew_math]") {
  CHECK(factory_math::arange_value(1.0, 0.5, 3) == 2.5);
  // Both endpoints exact; the middle counts from the nearer end.
  const double a = 0.1, b = 0.7, step = (b - a) / 6.0;
  CHECK(factory_math::linspace_value(a, b, step, 7, 0) == a);
  CHECK(factory_math::linspace_value(a, b, step, 7, 6) == b);
  CHECK(factory_math::linspace_value(a, b, step, 7, 2) == a + step * 2);
  CHECK(factory_math::linspace_value(a, b, step, 7, 4) == b - step * 2);
  CHECK(factory_math::linspace_value(3.0, 9.0, 0.0, 1, 0) == 3.0);
  CHECK(factory_math::eye_value(3, 4) == 1.0);  // (1, 1)
  CHECK(factory_math::eye_value(3, 5) == 0.0);
  CHECK(factory_math::eye_value(2, 3) == 1.0);  // (1, 1) of a 2-column matrix
  CHECK(factory_math::below<float>(1.0) == std::nextafter(1.0f, 0.0f));
  CHECK(factory_math::below<double>(2.0) == std::nextafter(2.0, 0.0));
  CHECK(float(factory_math::below<bfloat16>(1.0)) < 1.0f);
  CHECK(float(factory_math::below<bfloat16>(1.0)) == 1.0f - 1.0f / 256.0f);
  CHECK(float(factory_math::below<float16>(0.0)) < 0.0f);
  CHECK(factory_math::from_double<bool>(0.25) == true);
  CHECK(factory_math::from_double<int32_t>(-2.75) == -2);
}

// Adam in double, written from the algorithm (PyTorch's documentation), not from the shared code.
struct AdamOracle {
  double p, m = 0, v = 0, vmax = 0;
  void step(double g, int t, double lr, double b1, double b2, double eps, double wd, bool adamw, bool ams,
            bool maximize) {
    if (maximize) g = -g;
    if (wd != 0) {
      if (adamw)
        p = p * (1 - lr * wd);
      else
        g = g + wd * p;
    }
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double mhat_scale = lr / (1 - std::pow(b1, t));
    double vh = v;
    if (ams) vh = vmax = std::max(vmax, v);
    p = p - mhat_scale * m / (std::sqrt(vh) / std::sqrt(1 - std::pow(b2, t)) + eps);
  }
};

TEST_CASE("adam math: updates match a double-precision Adam/AdamW", "[ops][ew_math][optim]") {
  struct Case {
    double wd;
    bool adamw, ams, maximize;
  };
  for (const Case cs : {Case{0, false, false, false}, Case{0.1, false, false, false}, Case{0.1, true, false, false},
                        Case{0.05, true, true, false}, Case{0.01, false, true, true}}) {
    AdamOracle ref{0.8};
    double p = 0.8, m = 0, v = 0, vmax = 0;
    float pf = 0.8f, mf = 0, vf = 0, vmaxf = 0;
    for (int t = 1; t <= 20; ++t) {
      const double g = std::sin(0.7 * t) * (t % 3 == 0 ? 5.0 : 0.3);
      ref.step(g, t, 1e-2, 0.9, 0.999, 1e-8, cs.wd, cs.adamw, cs.ams, cs.maximize);
      const auto kd = adam_math::coefficients<double>(0.9, 0.999, 1e-8, cs.wd, t, 1e-2, cs.adamw, cs.ams, cs.maximize);
      adam_math::update(kd, p, g, m, v, vmax);
      const auto kf = adam_math::coefficients<float>(0.9, 0.999, 1e-8, cs.wd, t, 1e-2, cs.adamw, cs.ams, cs.maximize);
      adam_math::update(kf, pf, float(g), mf, vf, vmaxf);
    }
    INFO("wd " << cs.wd << " adamw " << cs.adamw << " amsgrad " << cs.ams << " maximize " << cs.maximize);
    CHECK(std::fabs(p - ref.p) <= 1e-12);
    CHECK(std::fabs(m - ref.m) <= 1e-12);
    CHECK(std::fabs(v - ref.v) <= 1e-12);
    if (cs.ams) CHECK(std::fabs(vmax - ref.vmax) <= 1e-12);
    CHECK(std::fabs(double(pf) - ref.p) <= 1e-5);
  }
  // lr == 0 leaves the parameter exactly unchanged (no 0 * m / ... rounding).
  const auto k0 = adam_math::coefficients<float>(0.9, 0.999, 1e-8, 0, 1, 0.0, false, false, false);
  float p = 1.25f, m = 0, v = 0, vmax = 0;
  adam_math::update(k0, p, 3.0f, m, v, vmax);
  CHECK(p == 1.25f);
  CHECK(m == 0.1f * 3.0f);
}

TEST_CASE("ew: integer fmod, remainder, floor_divide and bitwise ops, every int8 and uint8 pair", "[ops][ew_math]") {
  // Oracle: exact floor division in int64 (q = floor(a / b) by comparing q * b with a), wrapped
  // to 8 bits like PyTorch's two's complement.
  for (int a = -128; a <= 127; ++a)
    for (int b = -128; b <= 127; ++b) {
      if (b == 0) continue;
      int64_t q = int64_t(a) / b;  // truncated
      if (q * b != a && ((a < 0) != (b < 0))) --q;
      const int64_t r = a - q * b;
      const int64_t f = a - (int64_t(a) / b) * b;
      INFO("a " << a << " b " << b);
      CHECK(ew::floor_divide(int8_t(a), int8_t(b)) == int8_t(uint8_t(q & 0xff)));
      CHECK(ew::remainder(int8_t(a), int8_t(b)) == int8_t(r));
      CHECK(ew::fmod(int8_t(a), int8_t(b)) == int8_t(f));
      CHECK(ew::bitwise_and(int8_t(a), int8_t(b)) == int8_t(a & b));
      CHECK(ew::bitwise_xor(int8_t(a), int8_t(b)) == int8_t(a ^ b));
    }
  for (int a = 0; a <= 255; ++a)
    for (int b = 1; b <= 255; ++b) {
      CHECK(ew::floor_divide(uint8_t(a), uint8_t(b)) == uint8_t(a / b));
      CHECK(ew::remainder(uint8_t(a), uint8_t(b)) == uint8_t(a % b));
      CHECK(ew::fmod(uint8_t(a), uint8_t(b)) == uint8_t(a % b));
    }
  CHECK(ew::bitwise_not(int8_t(5)) == int8_t(-6));
  CHECK(ew::bitwise_not(true) == false);
}

TEST_CASE("ew: float remainder and floor_divide against long double, signs and infinities", "[ops][ew_math]") {
  const double xs[] = {-7.5, -3.0, -1e-3, -0.0, 0.0, 1e-3, 2.25, 7.5, 1e10};
  const double ys[] = {-2.0, -0.7, 0.3, 2.0, 1e-3};
  for (double a : xs)
    for (double b : ys) {
      const long double q = std::floor((long double)a / (long double)b);
      const long double r = (long double)a - q * (long double)b;
      INFO("a " << a << " b " << b);
      CHECK(std::fabs(ew::floor_divide(a, b) - double(q)) <= 1e-9 * std::fabs(double(q)));
      CHECK(std::fabs(ew::remainder(a, b) - double(r)) <= 1e-9 * std::fabs(a) + 1e-12);
      if (ew::remainder(a, b) != 0) CHECK(std::signbit(ew::remainder(a, b)) == std::signbit(b));
      if (ew::fmod(a, b) != 0) CHECK(std::signbit(ew::fmod(a, b)) == std::signbit(a));
    }
  CHECK(same_bits(ew::floor_divide(-0.0, 2.0), -0.0));
  CHECK(same_bits(ew::floor_divide(0.0, -2.0), -0.0));
  CHECK(same_bits(ew::floor_divide(-1.0, kInf), -1.0));
  CHECK(same_bits(ew::remainder(-1.0, kInf), kInf));
  CHECK(same_bits(ew::floor_divide(3.0, 0.0), kInf));
  CHECK(std::isnan(ew::floor_divide(kInf, 2.0)));
}

}  // namespace
}  // namespace doppel
