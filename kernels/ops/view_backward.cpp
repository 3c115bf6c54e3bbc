// slice/select/diagonal/unfold_backward: the gradient of a slice, select, diagonal or unfold, i.e. a zero tensor of
// the input's shape with the incoming gradient written (unfold: summed) into the viewed region. They
// are ops (not a copy into a view) so that double backward and tracing see them.
#include "doppel/kernels/op_attrs/views.h"
#include "registration.h"

namespace doppel::registration {
namespace {

void infer_embed(const OpCall& c, std::span<OutputMeta> out) {
  out[0].shape = ViewBackwardAttrs::of_prefix(c.attrs).input_shape;
  out[0].dtype = c.in(0).dtype();
  for (int64_t s : out[0].shape)
    DOPPEL_CHECK_SHAPE(s >= 0, "{}: negative dimension in input shape {}", c.name(), shape_str(out[0].shape));
}

}  // namespace

void define_view_backward_ops(OpDef* table) {
  auto embed = [](std::span<const AttrSpec> attrs) {
    return OpDef{.min_inputs = 1, .max_inputs = 1, .attrs = attrs, .infer = infer_embed, .differentiable_inputs = 1};
  };
  table[int(OpId::slice_backward)] = embed(SliceBackwardAttrs::kSpec);
  table[int(OpId::select_backward)] = embed(SelectBackwardAttrs::kSpec);
  table[int(OpId::diagonal_backward)] = embed(DiagonalBackwardAttrs::kSpec);
  table[int(OpId::unfold_backward)] = embed(UnfoldBackwardAttrs::kSpec);
}

}  // namespace doppel::registration
