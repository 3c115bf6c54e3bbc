// The transformer building blocks, decomposed into standard ONNX ops (opset 17):
// scaled_dot_product_attention as MatMul, Mul, the masks (Where / Add, a causal mask from two
// Ranges), Softmax with PyTorch's zero rows for fully masked queries, and MatMul (grouped-query
// key/value heads repeated with Unsqueeze/Expand/Reshape); rms_norm as ReduceMean of squares,
// Sqrt and Div; apply_rotary as Slice, Neg, Concat, Mul and Add. Inference graphs only: an
// attention with dropout_p > 0 is refused.
#include <limits>

#include "doppel/kernels/op_attrs/transformer.h"
#include "op_mapping.h"

namespace doppel::onnx::detail {

namespace {

using namespace transformer_attrs;

// The element count of dim `d` of input k as a 0-d int64 (run time, so symbolic sizes work).
std::string dim_scalar(Emitter& e, size_t k, int64_t d) {
  const int64_t r = e.in_rank(k);
  const std::string s =
      e.add("Shape", {e.in(k)}, {OnnxAttr::of_int("start", r + d), OnnxAttr::of_int("end", r + d + 1)});
  return e.add("Squeeze", {s, e.const_i64({0})});
}

// Key or value (input k) with its heads (dim -3) repeated to the query's `heads` (repeat_kv).
std::string repeat_heads(Emitter& e, size_t k, int64_t heads) {
  const graph::SymShape& s = e.in_value(k).shape;
  const int64_t r = e.in_rank(k);
  const graph::SymDim& h = s[size_t(r - 3)];
  if (!h.is_static()) e.fail("enable_gqa needs a static number of key/value heads");
  if (h.constant == heads || h.constant == 1) return e.in(k);
  const std::string lead = e.add("Shape", {e.in(k)}, {OnnxAttr::of_int("start", 0), OnnxAttr::of_int("end", r - 3)});
  const std::string tail = e.add("Shape", {e.in(k)}, {OnnxAttr::of_int("start", r - 2)});
  const std::string expanded_shape =
      e.add("Concat", {lead, e.const_i64({h.constant, heads / h.constant}), tail}, {OnnxAttr::of_int("axis", 0)});
  const std::string x = e.add("Expand", {e.add("Unsqueeze", {e.in(k), e.const_i64({r - 2})}), expanded_shape});
  return e.add("Reshape", {x, e.add("Concat", {lead, e.const_i64({heads}), tail}, {OnnxAttr::of_int("axis", 0)})});
}

void map_sdpa(Emitter& e) {
  const auto a = e.attrs<SdpaAttrs>();
  if (a.dropout_p > 0) e.fail("dropout_p > 0 draws random numbers in training; export with dropout_p=0");
  const DType t = e.in_dtype(kSdpaQuery);
  const graph::SymShape& qs = e.in_value(kSdpaQuery).shape;
  const graph::SymDim& E = qs.back();
  if (!E.is_static() && !a.scale) e.fail("the default scale needs a static embedding size (query's last dim)");
  const double scale = sdpa_scale(a.scale, E.constant);
  std::string key = e.in(kSdpaKey), value = e.in(kSdpaValue);
  if (a.enable_gqa) {
    const graph::SymDim& H = qs[qs.size() - 3];
    if (!H.is_static()) e.fail("enable_gqa needs a static number of query heads");
    key = repeat_heads(e, kSdpaKey, H.constant);
    value = repeat_heads(e, kSdpaValue, H.constant);
  }
  const int64_t kr = e.in_rank(kSdpaKey);
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < kr; ++d) perm.push_back(d);
  std::swap(perm[size_t(kr - 1)], perm[size_t(kr - 2)]);
  const std::string kt = e.add("Transpose", {key}, {OnnxAttr::of_ints("perm", perm)});
  std::string scores = e.add("Mul", {e.add("MatMul", {e.in(kSdpaQuery), kt}), e.const_scalar(scale, t)});
  const std::string neg_inf = e.const_scalar(-std::numeric_limits<double>::infinity(), t);
  if (e.has_in(kSdpaMask)) {
    scores = e.in_dtype(kSdpaMask) == DType::Bool ? e.add("Where", {e.in(kSdpaMask), scores, neg_inf})
                                                  : e.add("Add", {scores, e.in(kSdpaMask)});
  } else if (a.is_causal) {
    // Key j is visible from query i when j <= i (top-left aligned).
    const std::string zero = e.const_i64({0}, true), one = e.const_i64({1}, true);
    const std::string rows =
        e.add("Unsqueeze", {e.add("Range", {zero, dim_scalar(e, kSdpaQuery, -2), one}), e.const_i64({1})});
    const std::string cols = e.add("Range", {zero, dim_scalar(e, kSdpaKey, -2), one});
    scores = e.add("Where", {e.add("LessOrEqual", {cols, rows}), scores, neg_inf});
  }
  // Softmax gives NaN on a row of only -inf; PyTorch's math backend gives 0 there.
  const std::string probs = e.add("Softmax", {scores}, {OnnxAttr::of_int("axis", -1)});
  const std::string row_max =
      e.add("ReduceMax", {scores}, {OnnxAttr::of_ints("axes", {-1}), OnnxAttr::of_int("keepdims", 1)});
  const std::string empty_row = e.add("Equal", {row_max, neg_inf});
  const std::string weights = e.add("Where", {empty_row, e.const_scalar(0, t), probs});
  e.add("MatMul", {weights, value}, {}, e.out(kSdpaOut));
}

// The computation dtype of the norms: float32 for the 16-bit floats (as the kernels accumulate).
DType compute_dtype(DType t) { return t == DType::Float64 ? t : DType::Float32; }

void map_rms_norm(Emitter& e) {
  const auto a = e.attrs<RmsNormAttrs>();
  const DType t = e.in_dtype(0), ct = compute_dtype(t);
  const std::string x = e.cast(e.in(0), t, ct);
  std::vector<int64_t> axes;
  for (int64_t d = -int64_t(a.normalized_shape.size()); d < 0; ++d) axes.push_back(d);
  const std::string ms =
      e.add("ReduceMean", {e.add("Mul", {x, x})}, {OnnxAttr::of_ints("axes", axes), OnnxAttr::of_int("keepdims", 1)});
  const std::string rms = e.add("Sqrt", {e.add("Add", {ms, e.const_scalar(rms_norm_eps(a.eps, t), ct)})});
  std::string y = e.add("Div", {x, rms});
  if (e.has_in(1)) y = e.add("Mul", {y, e.cast(e.in(1), e.in_dtype(1), ct)});
  if (ct == t)
    e.add("Identity", {y}, {}, e.out());
  else
    e.add("Cast", {y}, {OnnxAttr::of_int("to", int64_t(onnx_type(t)))}, e.out());
}

void map_apply_rotary(Emitter& e) {
  const graph::SymDim& D = e.in_value(0).shape.back();
  if (!D.is_static()) e.fail("apply_rotary needs a static last dim (the rotated halves)");
  const int64_t half = D.constant / 2;
  const auto part = [&](int64_t from, int64_t to) {
    return e.add("Slice", {e.in(0), e.const_i64({from}), e.const_i64({to}), e.const_i64({-1})});
  };
  const std::string rotated =
      e.add("Concat", {e.add("Neg", {part(half, D.constant)}), part(0, half)}, {OnnxAttr::of_int("axis", -1)});
  e.add("Add", {e.add("Mul", {e.in(0), e.in(1)}), e.add("Mul", {rotated, e.in(2)})}, {}, e.out());
}

}  // namespace

void register_transformer_mappings(MappingTable& t) {
  t[size_t(OpId::scaled_dot_product_attention)] = {map_sdpa, false, 1};
  t[size_t(OpId::rms_norm)] = {map_rms_norm, false, 1};
  t[size_t(OpId::apply_rotary)] = {map_apply_rotary};
}

}  // namespace doppel::onnx::detail
