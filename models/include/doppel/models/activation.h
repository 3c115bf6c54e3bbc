#pragma once
// HF's activation names (ACT2FN) as doppel functions.
#include <functional>
#include <string_view>

#include "doppel/core/tensor.h"

namespace doppel::models {

using Activation = std::function<Tensor(const Tensor&)>;

// "gelu" (erf), "gelu_new" / "gelu_pytorch_tanh" (tanh approximation), "relu", "silu" / "swish",
// "tanh". Another name is a ValueError naming `key` (the config key) and the name.
Activation activation_from_name(std::string_view name, std::string_view key);

}  // namespace doppel::models
