#include "doppel/models/activation.h"

#include "doppel/core/error.h"
#include "doppel/ops/elementwise.h"

namespace doppel::models {

Activation activation_from_name(std::string_view name, std::string_view key) {
  if (name == "gelu") return [](const Tensor& x) { return gelu(x); };
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return [](const Tensor& x) { return gelu(x, true); };
  if (name == "relu") return [](const Tensor& x) { return relu(x); };
  if (name == "silu" || name == "swish") return [](const Tensor& x) { return silu(x); };
  if (name == "tanh") return [](const Tensor& x) { return tanh(x); };
  DOPPEL_CHECK(false,
               "config '{}' = '{}' is not a supported activation (gelu, gelu_new, gelu_pytorch_tanh, relu, silu, "
               "swish, tanh)",
               key, name);
  return {};
}

}  // namespace doppel::models
