#include "doppel/ops/pointwise_composite.h"

#include <cmath>
#include <limits>

#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {

Tensor lerp(const Tensor& start, const Tensor& end, const Scalar& weight, SourceLoc loc) {
  CallSiteScope s(loc);
  const double w = weight.to_double();
  const Tensor diff = sub(end, start);
  return std::fabs(w) < 0.5 ? add(start, mul(diff, weight)) : sub(end, mul(diff, Scalar(1.0 - w)));
}

Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight, SourceLoc loc) {
  CallSiteScope s(loc);
  const Tensor diff = sub(end, start);
  return where(lt(abs(weight), Scalar(0.5)), add(start, mul(weight, diff)),
               sub(end, mul(diff, sub(Scalar(1), weight))));
}

Tensor addcmul(const Tensor& input, const Tensor& t1, const Tensor& t2, const Scalar& value, SourceLoc loc) {
  CallSiteScope s(loc);
  return add(input, mul(mul(t1, t2), value));
}

Tensor addcdiv(const Tensor& input, const Tensor& t1, const Tensor& t2, const Scalar& value, SourceLoc loc) {
  CallSiteScope s(loc);
  return add(input, mul(div(t1, t2), value));
}

Tensor clamp(const Tensor& t, const Tensor& min, const Tensor& max, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK(min.defined() || max.defined(), "clamp: at least one of min and max must be given");
  // Ties keep t (its gradient). A NaN anywhere gives NaN with no gradient, as in PyTorch.
  Tensor out = t;
  if (min.defined()) out = where(lt(out, min), min, out);
  if (max.defined()) out = where(gt(out, max), max, out);
  if (!is_floating(out.dtype())) return out;
  Tensor nan = ne(t, t);
  for (const Tensor& bound : {min, max})
    if (bound.defined()) nan = logical_or(nan, ne(bound, bound));
  return where(nan, Scalar(std::numeric_limits<double>::quiet_NaN()), out);
}

Tensor masked_fill(const Tensor& input, const Tensor& mask, const Tensor& value, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_SHAPE(value.dim() == 0,
                     "masked_fill: the value must be a number or a 0-d tensor, got shape {}; index with the mask "
                     "(x[mask] = value) to write a tensor",
                     shape_str(value.shape()));
  DOPPEL_CHECK_DTYPE(mask.dtype() == DType::Bool, "masked_fill: the mask must be bool, got {}",
                     dtype_name(mask.dtype()));
  DOPPEL_CHECK_SHAPE(broadcast_shapes("masked_fill", input.shape(), mask.shape()) == input.shape(),
                     "masked_fill: mask of shape {} does not broadcast to the input's shape {}",
                     shape_str(mask.shape()), shape_str(input.shape()));
  return where(mask, value.dtype() == input.dtype() ? value : to_dtype(value, input.dtype()), input);
}

Tensor where(const Tensor& cond, const Scalar& a, const Scalar& b, SourceLoc loc) {
  CallSiteScope s(loc);
  return where(cond, scalar(a), b);
}

}  // namespace doppel
