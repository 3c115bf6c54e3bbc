// Reference kernels of the factory ops.
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/factory.h"
#include "doppel/kernels/parallel.h"
#include "doppel/kernels/philox.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace factory_attrs;

template <typename T>
T from_double(double v) {
  if constexpr (std::is_same_v<T, bool>) return v != 0;
  else return static_cast<T>(static_cast<compute_t<T>>(v));
}

// Writes f(k) to element k of a contiguous output, in parallel.
template <typename F>
void fill_indexed(const Tensor& out, F&& f) {
  DOPPEL_DISPATCH_ALL(out.dtype(), "factory", [&]<typename T>() {
    T* p = out.data_ptr<T>();
    parallel_for(0, out.numel(), 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) p[k] = from_double<T>(f(k));
    });
  });
}

void full_kernel(const OpCall& c, std::span<const Tensor> out) {
  const double v = c.attr(kFullValue).f;
  fill_indexed(out[0], [v](int64_t) { return v; });
}

void arange_kernel(const OpCall& c, std::span<const Tensor> out) {
  const double start = c.attr(kArangeStart).f, step = c.attr(kArangeStep).f;
  fill_indexed(out[0], [=](int64_t k) { return start + double(k) * step; });
}

void linspace_kernel(const OpCall& c, std::span<const Tensor> out) {
  const double a = c.attr(kLinspaceStart).f, b = c.attr(kLinspaceEnd).f;
  const int64_t n = c.attr(kLinspaceSteps).i;
  const double step = n > 1 ? (b - a) / double(n - 1) : 0.0;
  // Symmetric evaluation (as PyTorch): the second half counts back from the end, so both
  // endpoints are exact.
  // steps == 1 gives the start, as in PyTorch.
  fill_indexed(out[0], [=](int64_t k) {
    return n == 1 ? a : k < n / 2 ? a + step * double(k) : b - step * double(n - 1 - k);
  });
}

void eye_kernel(const OpCall& c, std::span<const Tensor> out) {
  const int64_t m = c.attr(kEyeM).i;
  fill_indexed(out[0], [m](int64_t k) { return k / m == k % m ? 1.0 : 0.0; });
}

// The largest T strictly below `hi`: rounding lo + (hi - lo) * u to a narrow T can reach hi,
// which uniform's [lo, hi) excludes.
template <typename T>
T below(double hi) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    T x = T(hi);
    while (double(x) >= hi) x = std::nextafter(x, -std::numeric_limits<T>::infinity());
    return x;
  } else {
    T x = T(static_cast<float>(hi));
    while (double(float(x)) >= hi)
      x.bits = uint16_t(x.bits & 0x8000u ? x.bits + 1 : x.bits == 0 ? 0x8001u : x.bits - 1u);
    return x;
  }
}

// Element k of a random op uses Philox block (offset + k / 4), word k % 4: the same element
// gets the same number however the work is split. With `exclusive_hi`, results that round up
// to it are replaced by the value just below (uniform's half-open interval).
template <typename F>
void fill_random(const OpCall& c, const Tensor& out, F&& transform, std::optional<double> exclusive_hi = {}) {
  const uint64_t seed = uint64_t(c.attr(kRandSeed).i), offset = uint64_t(c.attr(kRandOffset).i);
  const int64_t n = out.numel();
  DOPPEL_DISPATCH_ALL(out.dtype(), c.name(), [&]<typename T>() {
    T* p = out.data_ptr<T>();
    T top{};
    if constexpr (!std::is_integral_v<T>)
      if (exclusive_hi) top = below<T>(*exclusive_hi);
    parallel_for(0, (n + 3) / 4, 1 << 12, [&](int64_t b, int64_t e) {
      Philox gen(seed, offset + uint64_t(b));
      for (int64_t blk = b; blk < e; ++blk) {
        const std::array<uint32_t, 4> w = gen.next();
        std::array<double, 4> v = transform(w);
        for (int64_t j = 0; j < 4 && blk * 4 + j < n; ++j) {
          T x = from_double<T>(v[size_t(j)]);
          if constexpr (!std::is_integral_v<T>)
            if (exclusive_hi && double(compute_t<T>(x)) >= *exclusive_hi) x = top;
          p[blk * 4 + j] = x;
        }
      }
    });
  });
}

void uniform_kernel(const OpCall& c, std::span<const Tensor> out) {
  const double lo = c.attr(kRandA).f, hi = c.attr(kRandB).f;
  fill_random(
      c, out[0],
      [=](const std::array<uint32_t, 4>& w) {
        std::array<double, 4> v;
        for (size_t j = 0; j < 4; ++j) v[j] = lo + (hi - lo) * double(Philox::to_unit_float(w[j]));
        return v;
      },
      hi > lo ? std::optional<double>(hi) : std::nullopt);
}

void normal_kernel(const OpCall& c, std::span<const Tensor> out) {
  const double mean = c.attr(kRandA).f, stdev = c.attr(kRandB).f;
  fill_random(c, out[0], [=](const std::array<uint32_t, 4>& w) {
    // Box-Muller on two pairs of uniforms; 1 - u keeps the log argument in (0, 1].
    std::array<double, 4> v;
    for (size_t j = 0; j < 4; j += 2) {
      const double u1 = 1.0 - double(Philox::to_unit_float(w[j]));
      const double u2 = double(Philox::to_unit_float(w[j + 1]));
      const double r = std::sqrt(-2.0 * std::log(u1));
      v[j] = mean + stdev * r * std::cos(2 * std::numbers::pi * u2);
      v[j + 1] = mean + stdev * r * std::sin(2 * std::numbers::pi * u2);
    }
    return v;
  });
}

void randint_kernel(const OpCall& c, std::span<const Tensor> out) {
  const int64_t lo = int64_t(c.attr(kRandA).f);
  const uint64_t range = uint64_t(int64_t(c.attr(kRandB).f) - lo);
  fill_random(c, out[0], [=](const std::array<uint32_t, 4>& w) {
    std::array<double, 4> v;
    for (size_t j = 0; j < 4; ++j) {
      // 64 random bits from two words; modulo bias is below 2^-32 for ranges under 2^32.
      const uint64_t r = (uint64_t(w[j]) << 32) | w[(j + 1) % 4];
      v[j] = double(lo + int64_t(r % range));
    }
    return v;
  });
}

}  // namespace

void reference_factory_kernels() {
  register_kernel(OpId::full, Backend::Reference, {full_kernel});
  register_kernel(OpId::arange, Backend::Reference, {arange_kernel});
  register_kernel(OpId::linspace, Backend::Reference, {linspace_kernel});
  register_kernel(OpId::eye, Backend::Reference, {eye_kernel});
  register_kernel(OpId::uniform, Backend::Reference, {uniform_kernel});
  register_kernel(OpId::normal, Backend::Reference, {normal_kernel});
  register_kernel(OpId::randint, Backend::Reference, {randint_kernel});
}

}  // namespace doppel::registration
