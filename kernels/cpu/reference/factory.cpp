// Reference kernels of the factory ops.
#include <optional>

#include "cpu/factory_math.h"
#include "cpu/random_math.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/factory.h"
#include "doppel/kernels/parallel.h"
#include "doppel/kernels/philox.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using factory_math::below;
using factory_math::from_double;

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
  const double v = FullAttrs::of(c.attrs).value;
  fill_indexed(out[0], [v](int64_t) { return v; });
}

void arange_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = ArangeAttrs::of(c.attrs);
  const double start = a.start, step = a.step;
  fill_indexed(out[0], [=](int64_t k) { return factory_math::arange_value(start, step, k); });
}

void linspace_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto attr = LinspaceAttrs::of(c.attrs);
  const double a = attr.start, b = attr.end;
  const int64_t n = attr.steps;
  const double step = n > 1 ? (b - a) / double(n - 1) : 0.0;
  fill_indexed(out[0], [=](int64_t k) { return factory_math::linspace_value(a, b, step, n, k); });
}

void eye_kernel(const OpCall& c, std::span<const Tensor> out) {
  const int64_t m = EyeAttrs::of(c.attrs).m;
  fill_indexed(out[0], [m](int64_t k) { return factory_math::eye_value(m, k); });
}

// Element k of a random op uses Philox block (offset + k / 4), word k % 4 (cpu/random_math.h):
// the same element gets the same number however the work is split. `value(w, j)` is element j
// of a block with words w, in double. With `exclusive_hi`, results that round up to it are
// replaced by the value just below (uniform's half-open interval).
template <typename F>
void fill_random(const OpCall& c, const Tensor& out, F&& value, std::optional<double> exclusive_hi = {}) {
  const auto attr = RandomOpAttrs::of(c.attrs);
  const uint64_t seed = uint64_t(attr.seed), offset = uint64_t(attr.offset);
  const int64_t n = out.numel();
  DOPPEL_DISPATCH_ALL(out.dtype(), c.name(), [&]<typename T>() {
    T* p = out.data_ptr<T>();
    T top{};
    if constexpr (!std::is_integral_v<T>)
      if (exclusive_hi) top = below<T>(*exclusive_hi);
    parallel_for(0, (n + 3) / 4, 1 << 12, [&](int64_t b, int64_t e) {
      Philox gen(seed, offset + uint64_t(b));
      for (int64_t blk = b; blk < e; ++blk) {
        const PhiloxWords w = gen.next();
        for (int j = 0; j < 4 && blk * 4 + j < n; ++j) {
          T x = from_double<T>(value(w, j));
          if constexpr (!std::is_integral_v<T>)
            if (exclusive_hi && double(compute_t<T>(x)) >= *exclusive_hi) x = top;
          p[blk * 4 + j] = x;
        }
      }
    });
  });
}

void uniform_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto attr = RandomOpAttrs::of(c.attrs);
  const double lo = attr.a, hi = attr.b;
  fill_random(
      c, out[0], [=](const PhiloxWords& w, int j) { return rnd::uniform_value(w, j, lo, hi); },
      hi > lo ? std::optional<double>(hi) : std::nullopt);
}

void normal_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto attr = RandomOpAttrs::of(c.attrs);
  const double mean = attr.a, stdev = attr.b;
  fill_random(c, out[0], [=](const PhiloxWords& w, int j) { return rnd::normal_value(w, j, mean, stdev); });
}

void randint_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto attr = RandomOpAttrs::of(c.attrs);
  const int64_t lo = int64_t(attr.a);
  const uint64_t range = uint64_t(int64_t(attr.b) - lo);
  fill_random(c, out[0], [=](const PhiloxWords& w, int j) { return double(rnd::randint_value(w, j, lo, range)); });
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
