#include "doppel/nn/conv.h"

#include <fmt/format.h>

#include <cmath>

#include "doppel/nn/init.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/linalg.h"

namespace doppel::nn {

namespace {

void check_channels(std::string_view layer, int64_t in, int64_t out, int64_t groups) {
  DOPPEL_CHECK(in > 0 && out > 0, "{}: in and out channels must be positive, got in={} out={}", layer, in, out);
  DOPPEL_CHECK(groups > 0 && in % groups == 0 && out % groups == 0,
               "{}: groups={} must be positive and divide in_channels={} and out_channels={}", layer, groups, in, out);
}

// _ConvNd.reset_parameters: the weight's own fan_in drives both bounds.
void reset_conv(const Tensor& weight, const Tensor& bias) {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

std::string s2(Size2 s) { return fmt::format("({}, {})", s.h, s.w); }

}  // namespace

// ---- Conv1d

Conv1d::Conv1d(const Conv1dOptions& o) : Module("Conv1d"), options(o) {
  check_channels("Conv1d", o.in, o.out, o.groups);
  DOPPEL_CHECK(o.kernel > 0 && o.stride > 0 && o.padding >= 0 && o.dilation > 0,
               "Conv1d: kernel, stride and dilation must be positive and padding >= 0");
  weight = register_parameter("weight", empty({o.out, o.in / o.groups, o.kernel}, {.dtype = o.dtype}));
  if (o.bias) bias = register_parameter("bias", empty({o.out}, {.dtype = o.dtype}));
  reset_parameters();
}

void Conv1d::reset_parameters() { reset_conv(weight, bias); }

Tensor Conv1d::forward(const Tensor& x) {
  return conv1d(x, weight, bias, options.stride, options.padding, options.dilation, options.groups);
}

std::string Conv1d::extra_repr() const {
  return fmt::format("{}, {}, kernel_size=({},), stride=({},), padding=({},), dilation=({},), groups={}, bias={}",
                     options.in, options.out, options.kernel, options.stride, options.padding, options.dilation,
                     options.groups, bias.defined());
}

// ---- Conv2d

Conv2d::Conv2d(const Conv2dOptions& o) : Module("Conv2d"), options(o) {
  check_channels("Conv2d", o.in, o.out, o.groups);
  DOPPEL_CHECK(o.kernel.h > 0 && o.kernel.w > 0 && o.stride.h > 0 && o.stride.w > 0 && o.padding.h >= 0 &&
                   o.padding.w >= 0 && o.dilation.h > 0 && o.dilation.w > 0,
               "Conv2d: kernel, stride and dilation must be positive and padding >= 0");
  weight = register_parameter("weight", empty({o.out, o.in / o.groups, o.kernel.h, o.kernel.w}, {.dtype = o.dtype}));
  if (o.bias) bias = register_parameter("bias", empty({o.out}, {.dtype = o.dtype}));
  reset_parameters();
}

void Conv2d::reset_parameters() { reset_conv(weight, bias); }

Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(x, weight, bias, options.stride.vec(), options.padding.vec(), options.dilation.vec(), options.groups);
}

std::string Conv2d::extra_repr() const {
  return fmt::format("{}, {}, kernel_size={}, stride={}, padding={}, dilation={}, groups={}, bias={}", options.in,
                     options.out, s2(options.kernel), s2(options.stride), s2(options.padding), s2(options.dilation),
                     options.groups, bias.defined());
}

// ---- ConvTranspose2d

ConvTranspose2d::ConvTranspose2d(const ConvTranspose2dOptions& o) : Module("ConvTranspose2d"), options(o) {
  check_channels("ConvTranspose2d", o.in, o.out, o.groups);
  DOPPEL_CHECK(o.kernel.h > 0 && o.kernel.w > 0 && o.stride.h > 0 && o.stride.w > 0 && o.padding.h >= 0 &&
                   o.padding.w >= 0 && o.dilation.h > 0 && o.dilation.w > 0,
               "ConvTranspose2d: kernel, stride and dilation must be positive and padding >= 0");
  DOPPEL_CHECK(o.output_padding.h >= 0 && o.output_padding.w >= 0 &&
                   (o.output_padding.h < o.stride.h || o.output_padding.h < o.dilation.h) &&
                   (o.output_padding.w < o.stride.w || o.output_padding.w < o.dilation.w),
               "ConvTranspose2d: output_padding {} must be smaller than either stride {} or dilation {}",
               s2(o.output_padding), s2(o.stride), s2(o.dilation));
  weight = register_parameter("weight", empty({o.in, o.out / o.groups, o.kernel.h, o.kernel.w}, {.dtype = o.dtype}));
  if (o.bias) bias = register_parameter("bias", empty({o.out}, {.dtype = o.dtype}));
  reset_parameters();
}

void ConvTranspose2d::reset_parameters() { reset_conv(weight, bias); }

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return conv_transpose2d(x, weight, bias, options.stride.vec(), options.padding.vec(), options.output_padding.vec(),
                          options.groups, options.dilation.vec());
}

std::string ConvTranspose2d::extra_repr() const {
  return fmt::format("{}, {}, kernel_size={}, stride={}, padding={}, output_padding={}, groups={}, bias={}", options.in,
                     options.out, s2(options.kernel), s2(options.stride), s2(options.padding),
                     s2(options.output_padding), options.groups, bias.defined());
}

}  // namespace doppel::nn
