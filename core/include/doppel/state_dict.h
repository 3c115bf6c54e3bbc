#pragma once
// A state dict: named tensors in a stable order (registration order for modules). Modules,
// optimizers and schedulers all express their state this way — scalar state (a learning
// rate, a step count) as 0-d tensors — so one checkpoint format stores everything.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "doppel/core/tensor.h"

namespace doppel {

using StateDict = std::vector<std::pair<std::string, Tensor>>;

// The tensor stored under `key`, or an undefined tensor.
inline Tensor state_find(const StateDict& sd, std::string_view key) {
  for (const auto& [k, v] : sd)
    if (k == key) return v;
  return {};
}

}  // namespace doppel
