#pragma once
// Graph passes: each a function `run_<name>(Graph&)` in its own file under graph/src/passes/,
// returning whether it changed the graph; `optimize` runs the default pipeline with the
// verifier between passes in debug builds (and always when PassOptions::verify is set).
#include <cstdint>
#include <string>
#include <vector>

#include "doppel/graph/ir.h"

namespace doppel::graph {

// The precision an inference graph computes its convolutions and matmuls in: float32 as traced,
// or bfloat16 (weights stored in bf16 once, fp32 accumulation; run_reduced_precision).
enum class Precision : uint8_t { Float32, BFloat16 };

struct PassOptions {
  bool enabled = true;
  bool verify = false;  // verify after every pass (always on in debug builds)
  // Inference-only rewrites (conv+batch-norm folding) need state that no update changes.
  bool inference = false;
  // Inference only: Precision::BFloat16 lowers convolutions and matmuls to bfloat16 where the
  // CPU computes it natively (run_reduced_precision); float32 otherwise.
  Precision precision = Precision::Float32;
  // Passes to skip by name ("cse", "fusion", ...).
  std::vector<std::string> disabled;
};

// Removes nodes whose outputs nobody uses (random nodes stay, keeping the generator's stream).
bool run_dce(Graph& g);

// Drops the state entries that no node reads and no update writes (a convolution's weights after
// batch-norm folding computes with folded constants, a bf16 graph with converted ones), so that a
// file the graph is exported to does not store them; values keep their order. True if any went.
bool drop_unread_state(Graph& g);

// Inference only: folds eval-mode batch_norm into the convolution feeding it (frozen weights).
bool run_conv_bn_folding(Graph& g);

// act(linear) -> fused_linear; conv2d [+ residual] [-> act] -> fused_conv2d (single-use intermediates).
bool run_linear_conv_fusion(Graph& g);

// Trees of cheap elementwise ops (single-use intermediates, one output shape) -> fused_elementwise.
bool run_elementwise_fusion(Graph& g);

// Common-subexpression elimination: nodes with the same op, attributes and inputs are merged
// into the first one (random ops never).
bool run_cse(Graph& g);

// Evaluates nodes whose inputs are all constants (or, for inference, state no update changes)
// into new constants when their outputs are small and static-shaped; drops unused constants.
bool run_constant_folding(Graph& g, const PassOptions& options);

// Bitwise-exact identities: x*1, x/1, x-0, neg(neg(x)), view and permute chains, same-dtype
// casts and copies of contiguous values.
bool run_algebraic_simplification(Graph& g);

// Float32, CPU: convolution / max-pool chains keep their activations in oneDNN's channel-blocked
// layout (blocked_conv2d, blocked_max_pool2d, from_blocked); in training graphs their backward
// ops too (blocked_conv2d_backward, blocked_max_pool2d_backward).
bool run_layout_propagation(Graph& g, const PassOptions& options);

// Inference only: a flatten of a channels-last value's from_blocked read only by linears with
// frozen weights flattens the channels-last value, the weights' columns permuted to match once.
bool run_blocked_flatten(Graph& g, const PassOptions& options);

// Inference only, PassOptions::precision = BFloat16 on a CPU with native bf16 (onednn_bf16_support):
// float32 convolutions and matmuls (convolution, fused_conv2d, linear, fused_linear, matmul) run
// in bfloat16, their frozen weights converted once; the ops between two of them that are exact
// in bf16 (views, pooling, relu, add, cat) stay in bf16, and every other reader, the graph's
// outputs included, reads the value cast back to float32.
bool run_reduced_precision(Graph& g, const PassOptions& options);
// What the requested precision became, for explain(): empty for float32, else one line such as
// "precision bf16: kept float32: this CPU has no native bf16 (oneDNN ISA avx2)".
std::string precision_note(const PassOptions& options);

// What one pass of the pipeline did: its name, the node counts around it and the op counts it
// changed ("removed 3 batch_norm, 3 convolution; added 3 fused_conv2d; constants 6 -> 9").
struct PassChange {
  std::string pass;
  size_t nodes_before = 0, nodes_after = 0;
  std::string rewrote;
  std::string str() const;  // "cse: 40 -> 37 nodes: removed 3 mul"
};

// Runs the default pipeline; returns what each pass that changed the graph did, in order.
std::vector<PassChange> optimize_explained(Graph& g, const PassOptions& options = {});
// The same; returns the names of the passes that changed the graph.
std::vector<std::string> optimize(Graph& g, const PassOptions& options = {});

}  // namespace doppel::graph
