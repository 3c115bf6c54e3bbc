#include "doppel/core/dtype.h"

#include "doppel/core/error.h"

namespace doppel {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::BFloat16: return "bfloat16";
    case DType::Float16: return "float16";
    case DType::Int8: return "int8";
    case DType::UInt8: return "uint8";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "unknown";
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  if (a == DType::Bool) return b;
  if (b == DType::Bool) return a;
  const bool fa = is_floating(a), fb = is_floating(b);
  if (fa && fb) {
    if (a == DType::Float64 || b == DType::Float64) return DType::Float64;
    // float32 with anything 16-bit, or bfloat16 with float16 (neither holds the other).
    return DType::Float32;
  }
  if (fa) return a;
  if (fb) return b;
  // Both integral. uint8 and int8 would need int16, which doppel lacks: int32 holds both.
  if ((a == DType::UInt8 && b == DType::Int8) || (a == DType::Int8 && b == DType::UInt8))
    return DType::Int32;
  return element_size(a) >= element_size(b) ? a : b;
}

namespace detail {
void throw_bad_dtype(std::string_view op, DType t) {
  throw_error<DTypeError>(fmt::format("{}: dtype {} is not supported by this kernel", op, dtype_name(t)));
}
}  // namespace detail

}  // namespace doppel
