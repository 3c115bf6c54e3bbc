// Shape-derived scalars. numel(x; dims, dtype) is the 0-d product of x's sizes over `dims`.
// Gradient rules that divide by a count (mean, var, the mean-reduced losses) use it instead of
// a C++ number: a traced graph records a C++ number as a constant of the traced shapes, while
// this op is a node recomputed from each run's (possibly dynamic) shapes.
#include "doppel/kernels/op_attrs/shape_scalar.h"
#include "registration.h"

namespace doppel::registration {
namespace {

void infer_numel(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  const auto attr = NumelAttrs::of(c.attrs);
  normalize_dims(c.name(), attr.dims, x.dim());  // checks range and duplicates
  const DType t = attr.dtype;
  // Floating only: counts feed divisions, and an integer count would turn them into integer
  // promotion puzzles; float64 holds every count up to 2^53 exactly.
  DOPPEL_CHECK_DTYPE(is_floating(t), "{}: dtype must be floating point, got {}; use DType::Float64", c.name(),
                     dtype_name(t));
  out[0].shape = {};
  out[0].dtype = t;
  out[0].device = x.device();
}

}  // namespace

void define_shape_scalar_ops(OpDef* table) {
  OpDef& d = table[int(OpId::numel)];
  d.min_inputs = d.max_inputs = 1;
  d.attrs = NumelAttrs::kSpec;
  d.infer = infer_numel;
  d.differentiable_inputs = 0;  // piecewise constant in x: its derivative is 0 (and x's data is never read)
}

}  // namespace doppel::registration
