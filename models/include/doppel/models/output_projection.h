#pragma once
// Output projections whose weight may be another module's tensor (HF's tied embeddings).
#include <string>

#include "doppel/nn/module.h"

namespace doppel::models {

// Registers under `parent` a child module `name` ("Linear") whose parameters are `weight` [out,
// in] and, when defined, `bias` [out] — these very tensors, so a tied weight shares storage (and
// its gradient) with the embedding it comes from; state dicts list it once, under the first name.
// Apply it as linear(x, weight, bias).
void register_output_projection(nn::Module& parent, std::string name, const Tensor& weight, const Tensor& bias = {});

}  // namespace doppel::models
