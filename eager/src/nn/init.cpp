#include "doppel/nn/init.h"

#include <cmath>

#include "doppel/autograd.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::nn::init {

double calculate_gain(std::string_view nl, std::optional<double> param) {
  if (nl == "linear" || nl == "conv1d" || nl == "conv2d" || nl == "conv3d" || nl == "conv_transpose1d" ||
      nl == "conv_transpose2d" || nl == "conv_transpose3d" || nl == "sigmoid")
    return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") {
    const double slope = param.value_or(0.01);
    return std::sqrt(2.0 / (1.0 + slope * slope));
  }
  if (nl == "selu") return 3.0 / 4.0;
  DOPPEL_CHECK(false,
               "calculate_gain: unsupported nonlinearity '{}'; expected linear, conv1d/2d/3d, "
               "conv_transpose1d/2d/3d, sigmoid, tanh, relu, leaky_relu or selu",
               nl);
  return 0.0;
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  DOPPEL_CHECK_SHAPE(t.dim() >= 2,
                     "calculate_fan_in_and_fan_out: fan in and fan out cannot be computed for a tensor with fewer "
                     "than 2 dims (got shape {})",
                     shape_str(t.shape()));
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

namespace {

void check_floating(const Tensor& t, std::string_view fn) {
  DOPPEL_CHECK_DTYPE(is_floating(t.dtype()), "nn::init::{}: expected a floating tensor, got {}", fn,
                     dtype_name(t.dtype()));
}

// Writes `values` into t without autograd history (t is typically a leaf that requires grad).
const Tensor& fill_from(const Tensor& t, const Tensor& values) {
  NoGradGuard ng;
  copy_(t, values);
  return t;
}

int64_t fan_for_mode(const Tensor& t, std::string_view mode) {
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  if (mode == "fan_in") return fan_in;
  if (mode == "fan_out") return fan_out;
  DOPPEL_CHECK(false, "nn::init: mode '{}' not supported; expected 'fan_in' or 'fan_out'", mode);
  return 0;
}

}  // namespace

const Tensor& uniform_(const Tensor& t, double a, double b, Generator* gen) {
  check_floating(t, "uniform_");
  DOPPEL_CHECK(a <= b, "nn::init::uniform_: expected a <= b, got a={} b={}", a, b);
  return fill_from(t, uniform(t.shape(), a, b, {.dtype = t.dtype(), .device = t.device()}, gen));
}

const Tensor& normal_(const Tensor& t, double mean, double std, Generator* gen) {
  check_floating(t, "normal_");
  DOPPEL_CHECK(std >= 0, "nn::init::normal_: std must be >= 0, got {}", std);
  return fill_from(t, normal(t.shape(), mean, std, {.dtype = t.dtype(), .device = t.device()}, gen));
}

const Tensor& constant_(const Tensor& t, double value) {
  return fill_from(t, full(t.shape(), value, {.dtype = t.dtype(), .device = t.device()}));
}
const Tensor& zeros_(const Tensor& t) { return constant_(t, 0.0); }
const Tensor& ones_(const Tensor& t) { return constant_(t, 1.0); }

const Tensor& kaiming_uniform_(const Tensor& t, double a, std::string_view mode, std::string_view nonlinearity,
                               Generator* gen) {
  check_floating(t, "kaiming_uniform_");
  if (t.numel() == 0) return t;  // PyTorch warns and leaves zero-element tensors alone
  const double gain = calculate_gain(nonlinearity, a);
  const double bound = std::sqrt(3.0) * gain / std::sqrt(double(fan_for_mode(t, mode)));
  return uniform_(t, -bound, bound, gen);
}

const Tensor& kaiming_normal_(const Tensor& t, double a, std::string_view mode, std::string_view nonlinearity,
                              Generator* gen) {
  check_floating(t, "kaiming_normal_");
  if (t.numel() == 0) return t;
  const double gain = calculate_gain(nonlinearity, a);
  return normal_(t, 0.0, gain / std::sqrt(double(fan_for_mode(t, mode))), gen);
}

const Tensor& xavier_uniform_(const Tensor& t, double gain, Generator* gen) {
  check_floating(t, "xavier_uniform_");
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  const double bound = std::sqrt(3.0) * gain * std::sqrt(2.0 / double(fan_in + fan_out));
  return uniform_(t, -bound, bound, gen);
}

const Tensor& xavier_normal_(const Tensor& t, double gain, Generator* gen) {
  check_floating(t, "xavier_normal_");
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return normal_(t, 0.0, gain * std::sqrt(2.0 / double(fan_in + fan_out)), gen);
}

}  // namespace doppel::nn::init
