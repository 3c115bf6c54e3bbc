// Operand descriptions for the pointwise launchers (see operands.h).
#include "cuda/pointwise/operands.h"

#include <cstring>

#include "doppel/core/error.h"
#include "doppel/kernels/type_promotion.h"

namespace doppel::cuda {

void unsupported_dtype(const char* op, DType dtype) {
  detail::throw_error<DTypeError>(
      fmt::format("{}: the CUDA kernel has no {} variant; convert the input to a "
                  "supported dtype",
                  op, dtype_name(dtype)));
}

namespace pw {

InArg in_arg(const Tensor& t, IntList shape, const char* op) {
  InArg a;
  if (t.device().is_cpu()) {
    DOPPEL_CHECK_DEVICE(t.numel() == 1,
                        "{}: a CPU tensor of shape {} cannot be an operand of a CUDA kernel; move "
                        "it to the GPU with .to()",
                        op, shape_str(t.shape()));
    std::memcpy(a.host_value, t.raw_data(), element_size(t.dtype()));
    return a;
  }
  a.data = t.raw_data();
  a.ix = indexer_for(t, shape, op);
  a.dense = t.is_contiguous() && t.shape() == shape;
  return a;
}

OutArg out_arg(const Tensor& t, const char* op) {
  return OutArg{t.raw_data(), indexer_for(t, t.shape(), op), t.is_contiguous()};
}

Tensor to_dtype(const Tensor& t, DType d, const char* op) {
  if (t.dtype() == d) return t;
  if (t.device().is_cpu()) return cast_if_needed(t, d);
  Tensor out = make_tensor(t.shape(), d, t.device());
  copy_into(t, out, op);
  return out;
}

void copy_into(const Tensor& src, const Tensor& dst, const char* op) {
  launch_cast(src.dtype(), dst.dtype(), in_arg(src, dst.shape(), op), out_arg(dst, op), dst.numel(), stream_of(dst));
}

Tensor contiguous(const Tensor& t, const char* op) {
  if (t.is_contiguous()) return t;
  Tensor out = make_tensor(t.shape(), t.dtype(), t.device());
  copy_into(t, out, op);
  return out;
}

bool inputs_on_cuda(const OpCall& c) {
  for (const Tensor& t : c.inputs)
    if (t.defined() && !t.device().is_cuda() && !(t.impl()->is_wrapped_number() && t.numel() == 1)) return false;
  return true;
}

}  // namespace pw
}  // namespace doppel::cuda
