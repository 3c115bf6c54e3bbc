// copy (a contiguous copy with the same dtype) and cast (a contiguous copy in another dtype).
#include "doppel/kernels/op_attrs/views.h"
#include "registration.h"

namespace doppel::registration {
namespace {

void infer_copy(const OpCall& c, std::span<OutputMeta> out) {
  out[0].shape = c.in(0).shape();
  out[0].dtype = c.in(0).dtype();
}

void infer_cast(const OpCall& c, std::span<OutputMeta> out) {
  out[0].shape = c.in(0).shape();
  out[0].dtype = CastAttrs::of(c.attrs).dtype;
}

}  // namespace

void define_copy_ops(OpDef* table) {
  table[int(OpId::copy)] =
      OpDef{.min_inputs = 1, .max_inputs = 1, .infer = infer_copy, .flags = kElementwise, .differentiable_inputs = 1};
  table[int(OpId::cast)] = OpDef{.min_inputs = 1,
                                 .max_inputs = 1,
                                 .attrs = CastAttrs::kSpec,
                                 .infer = infer_cast,
                                 .flags = kElementwise,
                                 .differentiable_inputs = 1};
}

}  // namespace doppel::registration
