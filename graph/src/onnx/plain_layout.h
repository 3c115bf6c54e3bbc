#pragma once
// The layout-propagation pass keeps convolution chains in oneDNN's channel-blocked layout
// (op_attrs/layout.h), which ONNX has no form for. Before export such a graph is turned back
// into plain NCHW: blocked_conv2d becomes fused_conv2d, blocked_max_pool2d max_pool2d, relu / add
// / cast / cat of blocked values the same ops of the plain values (a channels-last cat along dim 4 a
// cat along the channels), and the to_blocked / from_blocked conversions disappear. The same holds
// for int8 graphs whose activations quantize/'s channels-last pass keeps [N, 1, H, W, C]: their
// quantized_conv2d / quantized_add / quantized_cat run on the plain values, a chain's quantize
// reads its input itself instead of a channels-last view of it, and a flatten of a channels-last
// value (read by linears whose weights the pass permuted to (h, w, c) order) flattens the plain
// value's [N, H, W, C] transpose. A model file exported with the inference passes (doppel.export,
// doppel-run --to-onnx) thereby exports like its unoptimized graph.
#include "doppel/graph/ir.h"

namespace doppel::onnx::detail {

// `g` without blocked-layout ops (a copy; `g` itself when it has none).
graph::Graph plain_layout(const graph::Graph& g);

}  // namespace doppel::onnx::detail
