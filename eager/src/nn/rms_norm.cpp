#include "doppel/nn/rms_norm.h"

#include <fmt/format.h>

#include "doppel/nn/init.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/transformer.h"

namespace doppel::nn {

RMSNorm::RMSNorm(std::vector<int64_t> shape, std::optional<double> eps_, bool affine, DType dtype)
    : Module("RMSNorm"), normalized_shape(std::move(shape)), eps(eps_) {
  DOPPEL_CHECK(!normalized_shape.empty(), "RMSNorm: normalized_shape must have at least one dim");
  if (affine) weight = register_parameter("weight", empty(normalized_shape, {.dtype = dtype}));
  reset_parameters();
}

void RMSNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
}

Tensor RMSNorm::forward(const Tensor& x) { return rms_norm(x, normalized_shape, weight, eps); }

std::string RMSNorm::extra_repr() const {
  return fmt::format("({},), eps={}, elementwise_affine={}", fmt::join(normalized_shape, ", "),
                     eps ? fmt::format("{}", *eps) : std::string("None"), weight.defined());
}

}  // namespace doppel::nn
