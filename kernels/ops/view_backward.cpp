// slice/select/diagonal/unfold_backward: the gradient of a slice, select, diagonal or unfold, i.e. a zero tensor of
// the input's shape with the incoming gradient written (unfold: summed) into the viewed region. They
// are ops (not a copy into a view) so that double backward and tracing see them.
#include "doppel/kernels/op_attrs/views.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace view_attrs;

void infer_embed(const OpCall& c, std::span<OutputMeta> out) {
  out[0].shape = Shape(c.attr(0).ints);
  out[0].dtype = c.in(0).dtype();
  for (int64_t s : out[0].shape)
    DOPPEL_CHECK_SHAPE(s >= 0, "{}: negative dimension in input shape {}", c.name(), shape_str(out[0].shape));
}

constexpr AttrSpec kSliceBwSpec[] = {{"input_shape", AttrKind::Ints}, {"dim", AttrKind::Int}, {"start", AttrKind::Int},
                                     {"end", AttrKind::Int}, {"step", AttrKind::Int}};
constexpr AttrSpec kSelectBwSpec[] = {{"input_shape", AttrKind::Ints}, {"dim", AttrKind::Int}, {"index", AttrKind::Int}};
constexpr AttrSpec kDiagonalBwSpec[] = {
    {"input_shape", AttrKind::Ints}, {"offset", AttrKind::Int}, {"dim1", AttrKind::Int}, {"dim2", AttrKind::Int}};
constexpr AttrSpec kUnfoldBwSpec[] = {
    {"input_shape", AttrKind::Ints}, {"dim", AttrKind::Int}, {"size", AttrKind::Int}, {"step", AttrKind::Int}};

}  // namespace

void define_view_backward_ops(OpDef* table) {
  table[int(OpId::slice_backward)] = OpDef{.min_inputs = 1, .max_inputs = 1, .attrs = kSliceBwSpec,
                                           .infer = infer_embed, .differentiable_inputs = 1};
  table[int(OpId::select_backward)] = OpDef{.min_inputs = 1, .max_inputs = 1, .attrs = kSelectBwSpec,
                                            .infer = infer_embed, .differentiable_inputs = 1};
  table[int(OpId::diagonal_backward)] = OpDef{
      .min_inputs = 1, .max_inputs = 1, .attrs = kDiagonalBwSpec, .infer = infer_embed, .differentiable_inputs = 1};
  table[int(OpId::unfold_backward)] =
      OpDef{.min_inputs = 1, .max_inputs = 1, .attrs = kUnfoldBwSpec, .infer = infer_embed, .differentiable_inputs = 1};
}

}  // namespace doppel::registration
