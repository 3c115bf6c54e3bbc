#include "support/test_util.h"

#include <cmath>
#include <random>

namespace doppel::testing {

Tolerance default_tolerance(DType dtype) {
  switch (dtype) {
    case DType::Float64: return {1e-10, 1e-12};
    case DType::Float32: return {1e-4, 1e-5};
    case DType::Float16: return {2e-3, 1e-3};
    case DType::BFloat16: return {1.6e-2, 1e-2};
    default: return {0, 0};
  }
}

Tensor make_input(IntList shape, DType dtype, uint64_t seed, double low, double high) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(low, high);
  std::vector<double> v(size_t(numel_of(shape)));
  for (double& x : v) {
    x = dist(rng);
    if (!is_floating(dtype)) x = dtype == DType::Bool ? double(x > (low + high) / 2) : std::floor(x);
  }
  return to_dtype(view(tensor(v), shape), dtype);
}

Tensor make_noncontiguous(const Tensor& t) {
  if (t.dim() == 0 || t.numel() == 0) return t;
  Shape big(t.shape());
  for (auto& s : big) s *= 2;
  Tensor base = zeros(big, {.dtype = t.dtype()});
  Tensor v = base;
  for (int64_t d = 0; d < t.dim(); ++d) v = slice(v, d, 0, std::nullopt, 2);
  copy_(v, t);
  return v;
}

std::optional<std::string> compare(const Tensor& actual, const Tensor& expected, Tolerance tol) {
  if (actual.shape() != expected.shape())
    return fmt::format("shape {} != expected {}", shape_str(actual.shape()), shape_str(expected.shape()));
  if (actual.dtype() != expected.dtype())
    return fmt::format("dtype {} != expected {}", dtype_name(actual.dtype()), dtype_name(expected.dtype()));
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(e[i])) continue;
    if (a[i] == e[i]) continue;
    const double diff = std::fabs(a[i] - e[i]);
    if (diff <= tol.atol + tol.rtol * std::fabs(e[i])) continue;
    return fmt::format("element {} (flat): got {} expected {} (|diff| {:.3g} > atol {} + rtol {} * |expected|)", i,
                       a[i], e[i], diff, tol.atol, tol.rtol);
  }
  return std::nullopt;
}

}  // namespace doppel::testing
