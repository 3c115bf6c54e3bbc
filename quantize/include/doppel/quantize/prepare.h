#pragma once
// Post-training static quantization of an inference graph (torch.ao.quantization's
// prepare / calibrate / convert, on doppel's graphs):
//
//   auto p = doppel::quantization::prepare(model, {example_images});  // traced in eval mode
//   for (const auto& b : calibration_batches) p.calibrate({b});    // observers see activations
//   std::shared_ptr<graph::Graph> g = p.convert();                 // the int8 graph
//   doppel::export_graph(*g, "model_int8.dpl");                    // runs in runtime::Model
//
// prepare traces the function (or the module's forward, in eval mode, without autograd) with a
// dynamic batch, runs the inference passes that change what runs (conv + batch-norm folding,
// constant folding, conv/linear fusion with bias, residual add and activation; not the
// blocked-layout or elementwise fusions, which hide the ops quantization targets) and puts an
// observer on every float32 activation that feeds a quantizable op (quantize/README.md lists
// them). calibrate runs that graph with the observed values as extra outputs. convert quantizes
// each weight once per output channel (int8 constants in the graph), puts quantize/dequantize at
// every observed value (the QDQ form: a float graph computing exactly the quantized arithmetic's
// rounding), then folds dequantize -> op -> quantize patterns into the int8 kernels
// (quantize/passes.h), so chains of them stay int8; ops without an int8 kernel stay float
// between a dequantize and a quantize.
#include <memory>
#include <string>
#include <vector>

#include "doppel/graph/compile.h"
#include "doppel/graph/ir.h"
#include "doppel/graph/trace.h"
#include "doppel/quantize/qconfig.h"

namespace doppel::nn {
class Module;
}

namespace doppel::quantization {

struct ConvertOptions {
  // false: stop at the QDQ form (quantize/dequantize around float ops), the reference the
  // folded graph is checked against.
  bool fold = true;
  // After folding: int8 activations channels-last between the int8 kernels (quantize/passes.h,
  // run_int8_channels_last); false keeps them [N, C, H, W] (the layout before that pass).
  bool channels_last = true;
};

class Prepared {
 public:
  Prepared(std::shared_ptr<graph::Graph> float_graph, QConfig config);
  ~Prepared();
  Prepared(Prepared&&) noexcept;
  Prepared& operator=(Prepared&&) noexcept;

  // The optimized float graph whose activations are observed.
  const graph::Graph& graph() const;
  const QConfig& config() const;
  // The observed values of graph() (ValueIds), in node order.
  std::vector<graph::ValueId> observed() const;
  // The quantization parameters of an observed value (ValueError before any calibration).
  QParams qparams(graph::ValueId v) const;

  // Runs one batch (the graph's inputs) and folds every observed activation into its observer;
  // returns the graph's own outputs.
  std::vector<Tensor> calibrate(const std::vector<Tensor>& inputs);

  // The quantized graph (a new graph each call; the prepared one is unchanged).
  std::shared_ptr<graph::Graph> convert(const ConvertOptions& options = {}) const;

  // What became int8 and what stayed float in convert()'s graph, one line per node, then the
  // counts: "int8: quantized_conv2d %12 <- fused_conv2d", "float: softmax %40 (no int8 kernel)".
  std::string explain() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Traces `fn` on `example_inputs` (TraceOptions: dynamic dims, state names; default: dim 0 of
// every input is the dynamic "batch") and prepares its graph.
Prepared prepare(const graph::TracedFunction& fn, const std::vector<Tensor>& example_inputs, const QConfig& config = {},
                 graph::TraceOptions trace = {});
// The function a compiled function compiles (traced again here, with the inference passes).
Prepared prepare(CompiledFunction& fn, const std::vector<Tensor>& example_inputs, const QConfig& config = {},
                 graph::TraceOptions trace = {});
// module.forward(x), traced in eval mode without autograd, its parameters and buffers named.
Prepared prepare(nn::Module& module, const std::vector<Tensor>& example_inputs, const QConfig& config = {});

}  // namespace doppel::quantization
