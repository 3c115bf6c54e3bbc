#include "doppel/models/decode_step.h"

#include "doppel/core/error.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/indexing.h"

namespace doppel::models {

DecodeStep::DecodeStep(CausalLM& model) : model_(model) {}

Tensor DecodeStep::operator()(const Tensor& input_ids, const Tensor& past_mask, const Tensor& position_ids,
                              KVCache& cache) {
  const size_t layers = cache.keys().size();
  DOPPEL_CHECK(layers > 0, "DecodeStep: the cache is empty (run the prompt through the model first)");
  // Inputs: input_ids, past_mask, position_ids, then each layer's keys and values.
  if (!compiled_) {
    std::vector<graph::DynamicDim> dynamic = {{.input = 1, .dim = 1, .name = "past"}};
    for (size_t i = 0; i < 2 * layers; ++i) dynamic.push_back({.input = int(3 + i), .dim = 2, .name = "past"});
    compiled_.emplace(compile(
        [this](const std::vector<Tensor>& in) {
          const size_t n = (in.size() - 3) / 2;
          KVCache step_cache({in.begin() + 3, in.begin() + 3 + int64_t(n)}, {in.begin() + 3 + int64_t(n), in.end()});
          const Tensor mask = cat({in[1], ones({in[1].size(0), 1}, {.dtype = in[1].dtype()})}, 1);
          std::vector<Tensor> out = {model_.forward(in[0], mask, in[2], &step_cache)};
          out.insert(out.end(), step_cache.keys().begin(), step_cache.keys().end());
          out.insert(out.end(), step_cache.values().begin(), step_cache.values().end());
          return out;
        },
        {.dynamic = std::move(dynamic), .state_names = model_.named_parameters()}));
  }
  std::vector<Tensor> in = {input_ids, past_mask, position_ids};
  in.insert(in.end(), cache.keys().begin(), cache.keys().end());
  in.insert(in.end(), cache.values().begin(), cache.values().end());
  std::vector<Tensor> out = (*compiled_)(in);
  cache = KVCache({out.begin() + 1, out.begin() + 1 + int64_t(layers)}, {out.begin() + 1 + int64_t(layers), out.end()});
  return out[0];
}

}  // namespace doppel::models
