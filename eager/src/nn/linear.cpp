#include "doppel/nn/linear.h"

#include <fmt/format.h>

#include <cmath>

#include "doppel/nn/init.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/linalg.h"

namespace doppel::nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias, DType dtype)
    : Module("Linear"), in_features(in), out_features(out) {
  DOPPEL_CHECK(in >= 0 && out >= 0, "Linear: in_features and out_features must be >= 0, got {} and {}", in, out);
  weight = register_parameter("weight", empty({out, in}, {.dtype = dtype}));
  if (with_bias) bias = register_parameter("bias", empty({out}, {.dtype = dtype}));
  reset_parameters();
}

void Linear::reset_parameters() {
  // PyTorch's default: equivalent to U(-1/sqrt(in), 1/sqrt(in)) for the weight too.
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = in_features > 0 ? 1.0 / std::sqrt(double(in_features)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features, out_features, bias.defined());
}

}  // namespace doppel::nn
