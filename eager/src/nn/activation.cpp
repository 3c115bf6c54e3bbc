#include "doppel/nn/activation.h"

#include <fmt/format.h>

#include "doppel/ops/elementwise.h"
#include "doppel/ops/reduction.h"

namespace doppel::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

GELU::GELU(std::string approx) : Module("GELU"), approximate(std::move(approx)) {
  DOPPEL_CHECK(approximate == "none" || approximate == "tanh", "GELU: approximate must be 'none' or 'tanh', got '{}'",
               approximate);
}
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate == "tanh"); }
std::string GELU::extra_repr() const { return fmt::format("approximate='{}'", approximate); }

Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor SiLU::forward(const Tensor& x) { return silu(x); }

Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, negative_slope); }
std::string LeakyReLU::extra_repr() const { return fmt::format("negative_slope={}", negative_slope); }

Tensor ELU::forward(const Tensor& x) { return elu(x, alpha); }
std::string ELU::extra_repr() const { return fmt::format("alpha={}", alpha); }

Tensor Softplus::forward(const Tensor& x) { return softplus(x, beta, threshold); }
std::string Softplus::extra_repr() const { return fmt::format("beta={}, threshold={}", beta, threshold); }

Tensor Softmax::forward(const Tensor& x) { return softmax(x, dim); }
std::string Softmax::extra_repr() const { return fmt::format("dim={}", dim); }

Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(x, dim); }
std::string LogSoftmax::extra_repr() const { return fmt::format("dim={}", dim); }

Tensor Hardtanh::forward(const Tensor& x) {
  return inplace ? hardtanh_(x, min_val, max_val) : hardtanh(x, min_val, max_val);
}
std::string Hardtanh::extra_repr() const {
  return fmt::format("min_val={}, max_val={}{}", min_val, max_val, inplace ? ", inplace=True" : "");
}
std::string ReLU6::extra_repr() const { return inplace ? "inplace=True" : ""; }

Tensor InplaceActivation::forward(const Tensor& x) {
  return inplace ? inplace_fn_(x, SourceLoc::current()) : fn_(x, SourceLoc::current());
}
std::string InplaceActivation::extra_repr() const { return inplace ? "inplace=True" : ""; }
Hardswish::Hardswish(bool inplace) : InplaceActivation("Hardswish", inplace, hardswish, hardswish_) {}
Hardsigmoid::Hardsigmoid(bool inplace) : InplaceActivation("Hardsigmoid", inplace, hardsigmoid, hardsigmoid_) {}
Mish::Mish(bool inplace) : InplaceActivation("Mish", inplace, mish, mish_) {}
SELU::SELU(bool inplace) : InplaceActivation("SELU", inplace, selu, selu_) {}

Tensor LogSigmoid::forward(const Tensor& x) { return logsigmoid(x); }

}  // namespace doppel::nn
