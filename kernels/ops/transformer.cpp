// The transformer building blocks: scaled_dot_product_attention, rms_norm, apply_rotary and the
// backward ops of the first two. Definitions and shape/dtype inference (op_attrs/transformer.h
// says what each computes).
#include "doppel/kernels/op_attrs/transformer.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace transformer_attrs;

const Tensor& opt_in(const OpCall& c, size_t k) {
  static const Tensor kNone;
  return k < c.inputs.size() ? c.in(k) : kNone;
}

void check_floating(const OpCall& c, const Tensor& t, const char* what) {
  DOPPEL_CHECK_DTYPE(is_floating(t.dtype()), "{}: {} must be floating point, got {}; cast it with .to()", c.name(),
                     what, dtype_name(t.dtype()));
}

void check_same_dtype(const OpCall& c, const Tensor& t, const Tensor& like, const char* what, const char* like_what) {
  DOPPEL_CHECK_DTYPE(t.dtype() == like.dtype(), "{}: {} is {} but {} is {}; cast them to one dtype", c.name(), what,
                     dtype_name(t.dtype()), like_what, dtype_name(like.dtype()));
}

Shape lead(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }
int64_t dim_from_end(const Tensor& t, int64_t k) { return t.shape()[size_t(t.dim() - k)]; }

// The forward output's shape [batch..., L, Ev] of query, key, value (checked), for the forward
// op and its backward.
Shape attention_out_shape(const OpCall& c, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                          bool is_causal, bool enable_gqa) {
  check_floating(c, q, "query");
  check_same_dtype(c, k, q, "key", "query");
  check_same_dtype(c, v, q, "value", "query");
  DOPPEL_CHECK_SHAPE(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2,
                     "{}: query, key and value need at least 2 dims ([..., L, E], [..., S, E], [..., S, Ev]), got "
                     "{}, {}, {}",
                     c.name(), shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape()));
  DOPPEL_CHECK_SHAPE(dim_from_end(q, 1) == dim_from_end(k, 1),
                     "{}: query {} and key {} must have the same embedding size (last dim)", c.name(),
                     shape_str(q.shape()), shape_str(k.shape()));
  DOPPEL_CHECK_SHAPE(dim_from_end(k, 2) == dim_from_end(v, 2),
                     "{}: key {} and value {} must have the same sequence length (dim -2)", c.name(),
                     shape_str(k.shape()), shape_str(v.shape()));
  Shape qb = lead(q), kb = lead(k), vb = lead(v);
  if (enable_gqa) {
    DOPPEL_CHECK_SHAPE(q.dim() >= 3 && k.dim() >= 3 && v.dim() >= 3,
                       "{}: enable_gqa needs a heads dim (-3) in query {}, key {} and value {}", c.name(),
                       shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape()));
    const int64_t H = qb.back();
    for (Shape* kv : {&kb, &vb}) {
      const int64_t h = kv->back();
      DOPPEL_CHECK_SHAPE(h > 0 && H % h == 0,
                         "{}: enable_gqa needs the query heads ({}) to be a multiple of the key/value heads ({}); "
                         "query {}, key {}, value {}",
                         c.name(), H, h, shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape()));
      kv->back() = H;
    }
  }
  const Shape batch = broadcast_shapes(c.name(), broadcast_shapes(c.name(), qb, kb), vb);
  Shape out = batch;
  out.push_back(dim_from_end(q, 2));
  out.push_back(dim_from_end(v, 1));
  if (mask.defined()) {
    DOPPEL_CHECK(!is_causal,
                 "{}: give either attn_mask or is_causal=True, not both (as PyTorch); fold the causal mask into "
                 "attn_mask",
                 c.name());
    DOPPEL_CHECK_DTYPE(mask.dtype() == DType::Bool || mask.dtype() == q.dtype(),
                       "{}: attn_mask must be bool (true = attend) or the query's dtype {} (added to the scores), "
                       "got {}",
                       c.name(), dtype_name(q.dtype()), dtype_name(mask.dtype()));
    Shape scores = batch;
    scores.push_back(dim_from_end(q, 2));
    scores.push_back(dim_from_end(k, 2));
    const Shape b = broadcast_shapes(c.name(), mask.shape(), scores);
    DOPPEL_CHECK_SHAPE(b == scores, "{}: attn_mask {} does not broadcast to the scores' shape {}", c.name(),
                       shape_str(mask.shape()), shape_str(scores));
  }
  for (const Tensor* t : {&k, &v, &mask})
    DOPPEL_CHECK_DEVICE(!t->defined() || t->device() == q.device(), "{}: all inputs must be on {}, got {}", c.name(),
                        q.device().str(), t->device().str());
  return out;
}

void check_dropout(const OpCall& c, double p) {
  DOPPEL_CHECK(p >= 0 && p <= 1, "{}: dropout_p must be in [0, 1], got {}", c.name(), p);
}

void infer_sdpa(const OpCall& c, std::span<OutputMeta> out) {
  const auto a = SdpaAttrs::of(c.attrs);
  check_dropout(c, a.dropout_p);
  const Tensor& q = c.in(kSdpaQuery);
  out[kSdpaOut] = {
      attention_out_shape(c, q, c.in(kSdpaKey), c.in(kSdpaValue), opt_in(c, kSdpaMask), a.is_causal, a.enable_gqa),
      q.dtype(), q.device()};
  out[kSdpaRng] = {Shape{2}, DType::Int64, q.device()};
}

void infer_sdpa_backward(const OpCall& c, std::span<OutputMeta> out) {
  const auto a = SdpaBackwardAttrs::of(c.attrs);
  check_dropout(c, a.dropout_p);
  const Tensor &q = c.in(kSdpaBwQuery), &k = c.in(kSdpaBwKey), &v = c.in(kSdpaBwValue), &g = c.in(kSdpaBwGrad);
  const Shape o = attention_out_shape(c, q, k, v, opt_in(c, kSdpaBwMask), a.is_causal, a.enable_gqa);
  DOPPEL_CHECK_SHAPE(g.shape() == o, "{}: grad_out has shape {} but the attention output has {}", c.name(),
                     shape_str(g.shape()), shape_str(o));
  check_same_dtype(c, g, q, "grad_out", "query");
  const Tensor& rng = c.in(kSdpaBwRng);
  DOPPEL_CHECK_DTYPE(rng.dtype() == DType::Int64 && rng.shape() == Shape{2},
                     "{}: rng must be the forward's int64 [2] (seed, offset) output, got {}{}", c.name(),
                     dtype_name(rng.dtype()), shape_str(rng.shape()));
  out[0] = {q.shape(), q.dtype(), q.device()};
  out[1] = {k.shape(), k.dtype(), k.device()};
  out[2] = {v.shape(), v.dtype(), v.device()};
}

// The statistics' shape of a norm over the trailing `ns` dims of x (checked): x's shape with
// those dims set to 1.
Shape norm_stats_shape(const OpCall& c, const Tensor& x, IntList ns) {
  const int64_t k = int64_t(ns.size());
  DOPPEL_CHECK(k > 0, "{}: normalized_shape must have at least one dim", c.name());
  bool ok = x.dim() >= k;
  for (int64_t d = 0; ok && d < k; ++d) ok = x.shape()[size_t(x.dim() - k + d)] == ns[size_t(d)];
  DOPPEL_CHECK_SHAPE(ok, "{}: input shape {} does not end with normalized_shape {}", c.name(), shape_str(x.shape()),
                     shape_str(ns));
  Shape stats(x.shape());
  for (int64_t d = x.dim() - k; d < x.dim(); ++d) stats[size_t(d)] = 1;
  return stats;
}

void check_weight(const OpCall& c, const Tensor& w, IntList ns) {
  if (!w.defined()) return;
  check_floating(c, w, "weight");
  DOPPEL_CHECK_SHAPE(w.shape() == Shape(ns), "{}: weight has shape {} but normalized_shape is {}", c.name(),
                     shape_str(w.shape()), shape_str(ns));
}

void infer_rms_norm(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  check_floating(c, x, "input");
  const auto a = RmsNormAttrs::of(c.attrs);
  const Shape stats = norm_stats_shape(c, x, a.normalized_shape);
  check_weight(c, opt_in(c, 1), a.normalized_shape);
  DOPPEL_CHECK(!a.eps || *a.eps >= 0, "{}: eps must be >= 0, got {}", c.name(), a.eps.value_or(0));
  out[0] = {x.shape(), x.dtype(), x.device()};
  out[1] = {stats, nn_attrs::norm_stats_dtype(x.dtype()), x.device()};
}

void infer_rms_norm_backward(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &g = c.in(kRmsBwGrad), &x = c.in(kRmsBwInput), &rstd = c.in(kRmsBwRstd);
  check_floating(c, x, "input");
  const auto a = RmsNormBackwardAttrs::of(c.attrs);
  const Shape stats = norm_stats_shape(c, x, a.normalized_shape);
  DOPPEL_CHECK_SHAPE(g.shape() == x.shape(), "{}: grad_out shape {} differs from the input shape {}", c.name(),
                     shape_str(g.shape()), shape_str(x.shape()));
  check_same_dtype(c, g, x, "grad_out", "the input");
  check_floating(c, rstd, "rstd");
  DOPPEL_CHECK_SHAPE(rstd.numel() == numel_of(stats), "{}: rstd has shape {} but the input {} needs {} values",
                     c.name(), shape_str(rstd.shape()), shape_str(x.shape()), numel_of(stats));
  const Tensor& w = opt_in(c, kRmsBwWeight);
  check_weight(c, w, a.normalized_shape);
  DOPPEL_CHECK(a.output_mask.size() == 2, "{}: output_mask must have 2 entries (grad_input, grad_weight), got {}",
               c.name(), a.output_mask.size());
  out[0] = {a.output_mask[0] ? x.shape() : Shape{0}, x.dtype(), x.device()};
  out[1] = {a.output_mask[1] ? a.normalized_shape : Shape{0}, w.defined() ? w.dtype() : x.dtype(), x.device()};
}

void infer_apply_rotary(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &x = c.in(0), &cs = c.in(1), &sn = c.in(2);
  check_floating(c, x, "x");
  check_same_dtype(c, cs, x, "cos", "x");
  check_same_dtype(c, sn, x, "sin", "x");
  DOPPEL_CHECK_SHAPE(x.dim() >= 1 && dim_from_end(x, 1) % 2 == 0,
                     "{}: x's last dim must be even (two halves to rotate), got shape {}", c.name(),
                     shape_str(x.shape()));
  for (const Tensor* t : {&cs, &sn}) {
    DOPPEL_CHECK_SHAPE(broadcast_shapes(c.name(), t->shape(), x.shape()) == x.shape(),
                       "{}: cos/sin of shape {} must broadcast to x's shape {}", c.name(), shape_str(t->shape()),
                       shape_str(x.shape()));
    DOPPEL_CHECK_DEVICE(t->device() == x.device(), "{}: cos and sin must be on {}, got {}", c.name(), x.device().str(),
                        t->device().str());
  }
  out[0] = {x.shape(), x.dtype(), x.device()};
}

}  // namespace

void define_transformer_ops(OpDef* table) {
  // Gradients flow to query, key and value; a float attn_mask gets none (the eager function
  // refuses one that requires grad).
  table[int(OpId::scaled_dot_product_attention)] = OpDef{.min_inputs = 3,
                                                         .max_inputs = 4,
                                                         .num_outputs = 2,
                                                         .attrs = SdpaAttrs::kSpec,
                                                         .infer = infer_sdpa,
                                                         .flags = kRandom,
                                                         .differentiable_inputs = 0b0111,
                                                         .rng_elems_per_block = 1};
  table[int(OpId::rms_norm)] = OpDef{.min_inputs = 1,
                                     .max_inputs = 2,
                                     .num_outputs = 2,
                                     .attrs = RmsNormAttrs::kSpec,
                                     .infer = infer_rms_norm,
                                     .differentiable_inputs = 0b11};
  table[int(OpId::apply_rotary)] = OpDef{.min_inputs = 3,
                                         .max_inputs = 3,
                                         .num_outputs = 1,
                                         .attrs = {},
                                         .infer = infer_apply_rotary,
                                         .differentiable_inputs = 0b111};
  // The backward ops are first-order only: the attention rule refuses create_graph and the
  // rms_norm rule composes its gradient from differentiable ops under it (rules_transformer.cpp).
  table[int(OpId::scaled_dot_product_attention_backward)] = OpDef{.min_inputs = 5,
                                                                  .max_inputs = 6,
                                                                  .num_outputs = 3,
                                                                  .attrs = SdpaBackwardAttrs::kSpec,
                                                                  .infer = infer_sdpa_backward};
  table[int(OpId::rms_norm_backward)] = OpDef{.min_inputs = 3,
                                              .max_inputs = 4,
                                              .num_outputs = 2,
                                              .attrs = RmsNormBackwardAttrs::kSpec,
                                              .infer = infer_rms_norm_backward};
}

}  // namespace doppel::registration
