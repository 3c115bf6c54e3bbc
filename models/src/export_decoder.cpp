#include "doppel/models/export_decoder.h"

#include <fmt/format.h>

#include "doppel/autograd.h"
#include "doppel/graph/compile.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::models {

namespace {

// Trace sizes: distinct from each other and from the families' widths and head counts, so the
// tracer reads each as its symbol (graph/src/trace/symbolic_shapes.h).
constexpr int64_t kBatch = 5, kSeq = 11, kPast = 13;

std::vector<Tensor> with_cache(std::vector<Tensor> out, const KVCache& cache) {
  out.insert(out.end(), cache.keys().begin(), cache.keys().end());
  out.insert(out.end(), cache.values().begin(), cache.values().end());
  return out;
}

std::vector<std::string> cache_names(const char* prefix, size_t layers, std::vector<std::string> names) {
  for (const char* kind : {"key", "value"})
    for (size_t i = 0; i < layers; ++i) names.push_back(fmt::format("{}{}.{}", prefix, kind, i));
  return names;
}

// The graph `fn` traces for `inputs`, batch and the named length symbolic in every input.
std::shared_ptr<const graph::Graph> trace_graph(CausalLM& model, graph::TracedFunction fn,
                                                const std::vector<Tensor>& inputs,
                                                std::vector<graph::DynamicDim> dims) {
  CompiledFunction compiled =
      compile(std::move(fn), {.dynamic = std::move(dims), .state_names = model.named_parameters(), .warmup = false});
  compiled(inputs);
  return compiled.graph_for(inputs);
}

}  // namespace

void export_decoder(CausalLM& model, const std::string& path, const ExportOptions& options) {
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const Tensor ids = zeros({kBatch, kSeq}, {.dtype = DType::Int64});
  const Tensor mask = ones({kBatch, kSeq}, {.dtype = DType::Int64});
  const Tensor pos = expand(unsqueeze(arange(kSeq), 0), {kBatch, kSeq}).contiguous();
  KVCache example_cache;
  model.forward(ids, mask, pos, &example_cache);
  const size_t layers = example_cache.keys().size();

  // prefill(input_ids, attention_mask, position_ids) -> logits, keys, values
  std::vector<graph::DynamicDim> prefill_dims;
  for (int k = 0; k < 3; ++k) prefill_dims.push_back({.input = k, .dim = 0, .name = "batch"});
  for (int k = 0; k < 3; ++k) prefill_dims.push_back({.input = k, .dim = 1, .name = "seq"});
  auto prefill = trace_graph(
      model,
      [&model](const std::vector<Tensor>& in) {
        KVCache cache;
        return with_cache({model.forward(in[0], in[1], in[2], &cache)}, cache);
      },
      {ids, mask, pos}, std::move(prefill_dims));

  // decode(input_ids, position_ids, past_mask, keys, values) -> logits, grown keys, values:
  // the new token is real; the cached ones are as past_mask says.
  std::vector<Tensor> decode_in = {narrow(ids, 1, 0, 1).contiguous(), narrow(pos, 1, 0, 1).contiguous(),
                                   ones({kBatch, kPast}, {.dtype = DType::Int64})};
  std::vector<graph::DynamicDim> decode_dims = {{.input = 2, .dim = 1, .name = "past"}};
  for (const auto* list : {&example_cache.keys(), &example_cache.values()})
    for (const Tensor& t : *list) {
      Shape s = t.shape();
      s[2] = kPast;
      decode_dims.push_back({.input = int(decode_in.size()), .dim = 2, .name = "past"});
      decode_in.push_back(zeros(s, {.dtype = t.dtype()}));
    }
  for (int k = 0; k < int(decode_in.size()); ++k) decode_dims.push_back({.input = k, .dim = 0, .name = "batch"});
  auto decode = trace_graph(
      model,
      [&model, layers](const std::vector<Tensor>& in) {
        KVCache cache({in.begin() + 3, in.begin() + 3 + int64_t(layers)}, {in.begin() + 3 + int64_t(layers), in.end()});
        const Tensor step_mask = cat({in[2], ones({in[2].size(0), 1}, {.dtype = in[2].dtype()})}, 1);
        return with_cache({model.forward(in[0], step_mask, in[1], &cache)}, cache);
      },
      decode_in, std::move(decode_dims));
  model.train(was_training);

  ExportOptions o = options;
  o.metadata.emplace_back("doppel.decoder", std::to_string(layers));
  if (model.eos_token_id) o.metadata.emplace_back("eos_token_id", std::to_string(*model.eos_token_id));
  if (model.pad_token_id) o.metadata.emplace_back("pad_token_id", std::to_string(*model.pad_token_id));
  export_graphs(
      {{"inference", prefill, {"input_ids", "attention_mask", "position_ids"}, cache_names("", layers, {"logits"})},
       {"decode", decode, cache_names("past_", layers, {"input_ids", "position_ids", "past_mask"}),
        cache_names("", layers, {"logits"})}},
      path, o);
}

}  // namespace doppel::models
