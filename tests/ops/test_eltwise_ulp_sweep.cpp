// The transcendental unary ops on contiguous float32 run on oneDNN's eltwise plus a fix-up pass
// (kernels/cpu/onednn/elementwise_eltwise.cpp). Over evenly spaced float32 bit patterns of the
// whole finite range (both signs) plus the special values, every result is
// - within kMaxUlp of a long double oracle where the input lies in the op's accurate window,
// - bitwise the reference kernel's elsewhere (NaN, ±Inf, ±0, denormals, the tails where oneDNN
//   flushes denormal results or cancels),
// and the same with 1 and 2 threads. The full sweep behind the windows used 2^24 patterns; the
// suite runs 2^19 of them.
#include <bit>
#include <cmath>
#include <functional>
#include <limits>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/parallel.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

constexpr double kMaxUlp = 6;
constexpr float kInf = std::numeric_limits<float>::infinity();

// Distance of `got` from the exact value `ref` in units of the float spacing at ref.
double ulp_error(float got, long double ref) {
  const float r = float(ref);
  if (std::isinf(r) || std::isinf(got)) return got == r ? 0 : kInf;
  const float a = std::fabs(r);
  const double spacing = double(std::nextafter(a, kInf)) - double(a);
  return double(std::fabs((long double)got - ref)) / spacing;
}

// 2 * half evenly spaced bit patterns over the finite floats of both signs, then the specials.
Tensor sweep_input(int64_t half) {
  std::vector<float> v;
  constexpr uint64_t kMaxBits = 0x7f7fffff;
  for (int64_t i = 0; i < half; ++i) {
    const auto u = uint32_t(kMaxBits * uint64_t(i) / uint64_t(half));
    v.push_back(std::bit_cast<float>(u));
    v.push_back(std::bit_cast<float>(u | 0x80000000u));
  }
  for (float s : {std::numeric_limits<float>::quiet_NaN(), kInf, -kInf, 0.f, -0.f, 1e-40f, -1e-40f, 1e-45f, -1e-45f,
                  std::numeric_limits<float>::max(), -std::numeric_limits<float>::max()})
    v.push_back(s);
  return tensor(v);
}

long double sigmoid_ld(long double x) { return 1.0L / (1.0L + std::exp(-x)); }

struct SweepCase {
  const char* name;
  std::function<Tensor(const Tensor&)> fn;
  std::function<long double(long double)> oracle;
  // The accurate window: normal x with lo <= x <= hi and not hole_lo < x < hole_hi.
  float lo = -kInf, hi = kInf, hole_lo = 0, hole_hi = 0;
};

TEST_CASE("eltwise ULP sweep: oneDNN transcendental ops within kMaxUlp, fix-ups bitwise the reference",
          "[onednn_semantics][ulp_sweep]") {
  const long double k = 0.797884560802865355879892119868763737L;  // sqrt(2 / pi)
  const long double inv_sqrt2 = 0.707106781186547524400844362104849039L;
  const SweepCase cases[] = {
      {"exp", [](const Tensor& x) { return exp(x); }, [](long double x) { return std::exp(x); }, -86.5f},
      {"tanh", [](const Tensor& x) { return tanh(x); }, [](long double x) { return std::tanh(x); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, sigmoid_ld, -86.5f},
      {"silu", [](const Tensor& x) { return silu(x); }, [](long double x) { return x * sigmoid_ld(x); }, -80.f},
      {"elu", [](const Tensor& x) { return elu(x, 1.0); }, [](long double x) { return x > 0 ? x : std::expm1(x); },
       -kInf, kInf, -0.3f, 0.f},
      {"elu_0.7", [](const Tensor& x) { return elu(x, 0.7); },
       [](long double x) { return x > 0 ? x : 0.7L * std::expm1(x); }, -kInf, kInf, -0.3f, 0.f},
      {"gelu", [](const Tensor& x) { return gelu(x); },
       [&](long double x) { return 0.5L * x * std::erfc(-x * inv_sqrt2); }, -1.25f, 1e38f},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, true); },
       [&](long double x) { return x / (1.0L + std::exp(-2.0L * k * (x + 0.044715L * x * x * x))); }, -1.25f, 1e38f},
      {"softplus", [](const Tensor& x) { return softplus(x); }, [](long double x) { return std::log1p(std::exp(x)); },
       -0.5f, 20.f},
  };
  const Tensor x = sweep_input(int64_t(1) << 18);
  const float* xs = x.data_ptr<float>();
  const int threads = get_num_threads();
  for (const SweepCase& c : cases) {
    INFO(c.name);
    Tensor ref;
    {
      ForceBackendGuard g(Backend::Reference);
      ref = c.fn(x);
    }
    set_num_threads(1);
    const Tensor one = c.fn(x);
    CHECK(last_selected_backend() == Backend::OneDNN);
    set_num_threads(2);
    const Tensor two = c.fn(x);
    set_num_threads(threads);
    const float *y = one.data_ptr<float>(), *y2 = two.data_ptr<float>(), *r = ref.data_ptr<float>();
    double max_ulp = 0;
    int64_t bad_window = 0, bad_fixup = 0, bad_threads = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float v = xs[i];
      const bool same_bits = std::bit_cast<uint32_t>(y[i]) == std::bit_cast<uint32_t>(r[i]);
      bad_threads += std::bit_cast<uint32_t>(y[i]) != std::bit_cast<uint32_t>(y2[i]) && !std::isnan(y[i]);
      const bool in_window = std::isnormal(v) && v >= c.lo && v <= c.hi && !(v > c.hole_lo && v < c.hole_hi);
      if (!in_window) {
        bad_fixup += !same_bits && !(std::isnan(y[i]) && std::isnan(r[i]));
        continue;
      }
      const double e = ulp_error(y[i], c.oracle(v));
      max_ulp = std::max(max_ulp, e);
      bad_window += !(e <= kMaxUlp);
    }
    INFO(fmt::format("max ULP in window {:.2f}", max_ulp));
    CHECK(bad_window == 0);
    CHECK(bad_fixup == 0);
    CHECK(bad_threads == 0);
  }
}

}  // namespace
}  // namespace doppel::testing
