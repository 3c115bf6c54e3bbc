// The ops ONNX export refuses, each with the reason the export error gives. With the mappings of
// map_<family>.cpp this covers the whole op table: an op added to ops.def must be mapped or
// listed here (tests/graph/test_onnx_coverage.cpp checks it).
#include "doppel/graph/onnx.h"
#include "op_mapping.h"

namespace doppel::onnx {
namespace detail {
namespace {

constexpr const char* kBackward =
    "it is a backward op: ONNX export takes inference graphs (export a forward-only compiled function, "
    "not a training step)";
constexpr const char* kTraining =
    "it is a training-only op (loss or optimizer update): ONNX export takes inference graphs (export the "
    "model's forward without the loss)";
constexpr const char* kRandom =
    "random ops draw new numbers at every run; export inference graphs (eval mode: dropout is then the "
    "identity)";
constexpr const char* kMultinomial =
    "multinomial draws new samples at every run, and ONNX Multinomial draws from another random stream (with "
    "replacement only); export the graph up to the logits or probabilities and sample in the caller";
constexpr const char* kLayout =
    "it is a blocked-layout op of the layout_propagation pass; export before that pass "
    "(PassOptions::disabled = {\"layout_propagation\"})";
constexpr const char* kFactory =
    "factory ops are folded into constants by constant folding before export; a factory left in the graph "
    "depends on a symbolic dimension, which ONNX Range/EyeLike cannot express here";
constexpr const char* kNoStridedViews =
    "it is a strided view (overlapping or diagonal strides) and ONNX has no as_strided; compute it with "
    "index_select/gather before export";
constexpr const char* kNotYet =
    "its ONNX mapping is not written yet (ONNX can express it: an expansion into opset-17 ops); export a "
    "graph without it";

constexpr const char* kCollective =
    "it is a collective (communication between processes), which ONNX cannot express; export the model "
    "without its distributed training step (a DistributedDataParallel's inner module)";

struct Entry {
  OpId op;
  const char* reason;
};

constexpr Entry kNotExportable[] = {
    {OpId::arange, kFactory},
    {OpId::linspace, kFactory},
    {OpId::eye, kFactory},
    {OpId::uniform, kRandom},
    {OpId::normal, kRandom},
    {OpId::randint, kRandom},
    {OpId::dropout, kRandom},
    {OpId::multinomial, kMultinomial},
    {OpId::all_reduce, kCollective},
    {OpId::broadcast, kCollective},
    {OpId::all_gather, kCollective},
    {OpId::reduce_scatter, kCollective},
    {OpId::all_to_all, kCollective},
    {OpId::atan2, "ONNX opset 17 has no atan2 (Atan of the quotient loses the quadrant)"},
    {OpId::cumprod, "ONNX opset 17 has no cumulative product (only CumSum)"},
    {OpId::diagonal, kNoStridedViews},
    {OpId::unfold, kNoStridedViews},
    {OpId::group_norm, "ONNX GroupNormalization arrives in opset 18; the opset-17 expansion is not written yet"},
    {OpId::var, kNotYet},
    {OpId::std, kNotYet},
    {OpId::one_hot, kNotYet},
    {OpId::scatter_add, kNotYet},
    {OpId::cross_entropy, kTraining},
    {OpId::nll_loss, kTraining},
    {OpId::mse_loss, kTraining},
    {OpId::l1_loss, kTraining},
    {OpId::smooth_l1_loss, kTraining},
    {OpId::binary_cross_entropy_with_logits, kTraining},
    {OpId::adam_step, kTraining},
    {OpId::sgd_step, kTraining},
    {OpId::relu_backward, kBackward},
    {OpId::slice_backward, kBackward},
    {OpId::select_backward, kBackward},
    {OpId::diagonal_backward, kBackward},
    {OpId::unfold_backward, kBackward},
    {OpId::convolution_backward, kBackward},
    {OpId::max_pool2d_backward, kBackward},
    {OpId::avg_pool2d_backward, kBackward},
    {OpId::adaptive_avg_pool2d_backward, kBackward},
    {OpId::adaptive_max_pool2d_backward, kBackward},
    {OpId::batch_norm_backward, kBackward},
    {OpId::layer_norm_backward, kBackward},
    {OpId::group_norm_backward, kBackward},
    {OpId::scaled_dot_product_attention_backward, kBackward},
    {OpId::rms_norm_backward, kBackward},
    {OpId::softmax_backward, kBackward},
    {OpId::log_softmax_backward, kBackward},
    {OpId::embedding_backward, kBackward},
    {OpId::index_add, kBackward},
    {OpId::cross_entropy_backward, kBackward},
    {OpId::nll_loss_backward, kBackward},
    {OpId::cumprod_backward, kBackward},
    {OpId::to_blocked, kLayout},
    {OpId::from_blocked, kLayout},
    {OpId::blocked_conv2d, kLayout},
    {OpId::blocked_max_pool2d, kLayout},
    {OpId::blocked_conv2d_backward, kLayout},
    {OpId::blocked_max_pool2d_backward, kLayout},
    {OpId::blocked_max_pool2d_winners, kLayout},
    {OpId::blocked_max_pool2d_backward_winners, kLayout},
};

}  // namespace

void register_not_exportable(MappingTable& t) {
  for (const Entry& e : kNotExportable) t[size_t(e.op)].not_exportable = e.reason;
}

}  // namespace detail

std::string_view not_exportable_reason(OpId op) {
  const detail::OpMapping& m = detail::mapping_table()[size_t(op)];
  return m.fn || !m.not_exportable ? std::string_view{} : std::string_view{m.not_exportable};
}

bool has_onnx_mapping(OpId op) { return detail::mapping_table()[size_t(op)].fn != nullptr; }

}  // namespace doppel::onnx
