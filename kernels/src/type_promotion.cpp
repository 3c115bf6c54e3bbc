#include "doppel/kernels/type_promotion.h"

namespace doppel {
namespace {

int category(DType t) { return is_floating(t) ? 2 : t == DType::Bool ? 0 : 1; }

// PyTorch's combine_categories: `lower` only matters when it is of a higher category.
std::optional<DType> combine(std::optional<DType> higher, std::optional<DType> lower) {
  if (!higher) return lower;
  if (!lower) return higher;
  if (is_floating(*higher)) return higher;
  if (category(*lower) > category(*higher)) return promote_types(*higher, *lower);
  return higher;
}

void fold(std::optional<DType>& acc, DType t) { acc = acc ? promote_types(*acc, t) : t; }

}  // namespace

DType result_type(std::span<const Tensor> operands) {
  std::optional<DType> dim, zero, wrapped;
  for (const Tensor& t : operands) {
    if (!t.defined()) continue;
    if (t.impl()->is_wrapped_number()) {
      // A wrapped number counts with the default dtype of its category.
      const DType d = t.dtype();
      fold(wrapped, is_floating(d) ? DType::Float32 : d == DType::Bool ? DType::Bool : DType::Int64);
    } else if (t.dim() == 0) {
      fold(zero, t.dtype());
    } else {
      fold(dim, t.dtype());
    }
  }
  auto r = combine(dim, combine(zero, wrapped));
  return r ? *r : DType::Float32;
}

Tensor scalar_tensor(const Scalar& s, DType dtype, Device device) {
  Tensor t = make_tensor({}, dtype, kCPU);
  DOPPEL_DISPATCH_ALL(dtype, "scalar_tensor", [&]<typename T>() { *t.data_ptr<T>() = s.to<T>(); });
  DOPPEL_CHECK_DEVICE(device.is_cpu(), "scalar_tensor: device {} needs the CUDA backend", device.str());
  return t;
}

Tensor wrap_scalar(const Scalar& s, Device device) {
  // Floats are held in double so no precision is lost before promotion picks the dtype.
  const DType d = s.is_floating() ? DType::Float64 : s.default_dtype();
  Tensor t = scalar_tensor(s, d, device);
  t.impl()->set_wrapped_number(true);
  return t;
}

Tensor cast_if_needed(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = make_tensor(t.shape(), dtype, t.device());
  copy_strided(out, t);
  return out;
}

}  // namespace doppel
