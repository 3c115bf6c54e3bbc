// Eager scaled dot-product attention, RMS normalization and rotary embeddings.
#include "doppel/ops/transformer.h"

#include <array>

#include "doppel/autograd.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/transformer.h"

namespace doppel {

using namespace transformer_attrs;

Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal,
                                    std::optional<double> scale, bool enable_gqa, Generator* gen, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK(!(attn_mask.defined() && attn_mask.requires_grad() && grad_mode_enabled()),
               "scaled_dot_product_attention: attn_mask requires grad, but no gradient flows to the mask; pass "
               "attn_mask.detach()");
  const std::vector<Tensor> inputs{query, key, value, attn_mask};
  SdpaAttrs a{.dropout_p = dropout_p, .is_causal = is_causal, .scale = scale, .enable_gqa = enable_gqa};
  // The output's size decides the Philox blocks the call reserves (as the graph executor does),
  // so inference runs first; it also checks the call before the generator advances.
  const OpDef& def = op_def(OpId::scaled_dot_product_attention);
  const Attrs probe = a.pack();
  std::array<OutputMeta, 2> meta;
  def.infer(OpCall{OpId::scaled_dot_product_attention, inputs, probe}, meta);
  Generator& g = gen ? *gen : default_generator();
  const auto [seed, offset] = g.reserve(rng_blocks(def, numel_of(meta[kSdpaOut].shape)));
  a.seed = int64_t(seed);
  a.offset = int64_t(offset);
  return dispatch1(OpId::scaled_dot_product_attention, inputs, a.pack());
}

Tensor rms_norm(const Tensor& input, IntList normalized_shape, const Tensor& weight, std::optional<double> eps,
                SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::rms_norm, {input, weight},
                   RmsNormAttrs{.normalized_shape = normalized_shape, .eps = eps}.pack());
}

Tensor apply_rotary(const Tensor& x, const Tensor& cos, const Tensor& sin, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::apply_rotary, {x, cos, sin});
}

}  // namespace doppel
