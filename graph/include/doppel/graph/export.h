#pragma once
// doppel::export_model: write a compiled function's graph to one model file (graph/FORMAT.md)
// that doppel::runtime::Model loads without the eager layer.
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "doppel/graph/call_sites.h"
#include "doppel/graph/compile.h"
#include "doppel/graph/ir.h"

namespace doppel {

namespace nn {
class Module;
}
namespace runtime {
class Model;
}

struct ExportOptions {
  std::vector<std::pair<std::string, std::string>> metadata;  // user key/values
  std::vector<std::string> input_names, output_names;         // default x0.., y0..
  // Also store a training graph (forward + loss + backward + optimizer step over the same
  // state), named "training": a compiled step's graph_for(inputs) once it has traced, taken
  // while its modules are in training mode (the inference graph is traced in eval mode).
  bool include_training = false;
  std::shared_ptr<const graph::Graph> training_graph;
  // > 0: replay this many random inputs (dynamic dims in 1..max_dynamic) through the eager
  // function and the exported graph; refuse to write the file when they disagree. Each output
  // element may differ by parity_atol + parity_rtol * |eager| + a rounding allowance that
  // scales with the output's largest magnitude and the graph's reduction depth (8 unit
  // roundoffs of the output dtype per level of matmul/conv/reduction behind it, times
  // max |eager|): a deep float32 network with logits around ±50 passes, a wrong weight does not.
  // The refusal says which tolerance was used.
  int parity_samples = 0;
  double parity_rtol = 1e-4, parity_atol = 1e-5;
  int64_t max_dynamic = 64;
  uint64_t parity_seed = 0x5eed;
  // How node call sites are stored (graph/call_sites.h): relative to the working directory or
  // the file name only by default, never an absolute path of this machine.
  graph::CallSites call_sites = graph::CallSites::Relative;
  // The inference graph's state that it no longer reads (a convolution's weights once batch
  // norm is folded into them: the graph computes with the folded copies) is left out of the file
  // unless this is set; set it to restore the module from the file with load_weights_into
  // (ResNet-18 float32: 46 MB without, 92 MB with). A training graph's weights are always stored.
  bool keep_unread_weights = false;
  std::string producer;       // default "doppel <version>"
  int64_t created_unix = -1;  // -1: now
};

// Writes `fn`'s graph for inputs like `example_inputs` (the compiled function traces it if
// needed) atomically (temp + fsync + rename).
void export_model(CompiledFunction& fn, const std::vector<Tensor>& example_inputs, const std::string& path,
                  const ExportOptions& options = {});
// Lower level: writes `g` as the inference graph.
void export_graph(const graph::Graph& g, const std::string& path, const ExportOptions& options = {});
// Several named graphs over shared weights in one file (a weight two graphs read is stored
// once), e.g. a decoder's prefill ("inference") and "decode" graphs (models/export_decoder.h). Each graph
// must be pure (no state updates); names are safe names, unique in the file.
// options.input_names/output_names/include_training/parity_samples are not used here: each
// entry names its own inputs and outputs.
struct NamedGraph {
  std::string name;
  std::shared_ptr<const graph::Graph> graph;
  std::vector<std::string> input_names, output_names;  // default: the traced names, output0..
};
void export_graphs(const std::vector<NamedGraph>& graphs, const std::string& path, const ExportOptions& options = {});
// The bytes export_graph writes (for Model::from_bytes, tests and the fuzzer's seed corpus).
std::vector<std::byte> export_graph_bytes(const graph::Graph& g, const ExportOptions& options = {});

// Copies a model file's weights into the module's parameters and buffers of the same names;
// throws ValueError naming any missing or mismatched one.
void load_weights_into(nn::Module& module, const runtime::Model& model);

}  // namespace doppel
