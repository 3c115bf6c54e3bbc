#pragma once
// Element types, their sizes and names, and numpy/PyTorch type promotion.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "doppel/core/half.h"

namespace doppel {

// The order is part of the promotion table below; append only.
enum class DType : uint8_t { Float32, Float64, BFloat16, Float16, Int8, UInt8, Int32, Int64, Bool };
inline constexpr int kNumDTypes = 9;

constexpr size_t element_size(DType t) {
  switch (t) {
    case DType::Float64:
    case DType::Int64: return 8;
    case DType::Float32:
    case DType::Int32: return 4;
    case DType::BFloat16:
    case DType::Float16: return 2;
    case DType::Int8:
    case DType::UInt8:
    case DType::Bool: return 1;
  }
  return 0;
}

constexpr bool is_floating(DType t) {
  return t == DType::Float32 || t == DType::Float64 || t == DType::BFloat16 || t == DType::Float16;
}
constexpr bool is_integral(DType t, bool include_bool) {
  return t == DType::Int8 || t == DType::UInt8 || t == DType::Int32 || t == DType::Int64 ||
         (include_bool && t == DType::Bool);
}

std::string_view dtype_name(DType t);  // "float32", "int64", ...

// The type of `a op b` for two tensors (PyTorch's promote_types).
DType promote_types(DType a, DType b);

// Compile-time mapping between C++ element types and DType.
template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<bfloat16> { static constexpr DType value = DType::BFloat16; };
template <> struct dtype_of<float16> { static constexpr DType value = DType::Float16; };
template <> struct dtype_of<int8_t> { static constexpr DType value = DType::Int8; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <typename T> inline constexpr DType dtype_v = dtype_of<T>::value;

// The type arithmetic on T is carried out in: float for the 16-bit floats, T otherwise.
template <typename T> struct compute_type { using type = T; };
template <> struct compute_type<bfloat16> { using type = float; };
template <> struct compute_type<float16> { using type = float; };
template <typename T> using compute_t = typename compute_type<T>::type;

}  // namespace doppel

// Calls BODY with `scalar_t` bound to the C++ type of DTYPE. Usage:
//   DOPPEL_DISPATCH_ALL(t.dtype(), "add", [&]<typename scalar_t>() { ... });
#define DOPPEL_DISPATCH_CASE_(DT, T, F) \
  case ::doppel::DType::DT: return F.template operator()<T>();

#define DOPPEL_DISPATCH_ALL(DTYPE, NAME, F)                                      \
  [&]() -> decltype(auto) {                                                      \
    switch (DTYPE) {                                                             \
      DOPPEL_DISPATCH_CASE_(Float32, float, F)                                   \
      DOPPEL_DISPATCH_CASE_(Float64, double, F)                                  \
      DOPPEL_DISPATCH_CASE_(BFloat16, ::doppel::bfloat16, F)                     \
      DOPPEL_DISPATCH_CASE_(Float16, ::doppel::float16, F)                       \
      DOPPEL_DISPATCH_CASE_(Int8, int8_t, F)                                     \
      DOPPEL_DISPATCH_CASE_(UInt8, uint8_t, F)                                   \
      DOPPEL_DISPATCH_CASE_(Int32, int32_t, F)                                   \
      DOPPEL_DISPATCH_CASE_(Int64, int64_t, F)                                   \
      DOPPEL_DISPATCH_CASE_(Bool, bool, F)                                       \
    }                                                                            \
    ::doppel::detail::throw_bad_dtype(NAME, DTYPE);                              \
  }()

#define DOPPEL_DISPATCH_FLOATING(DTYPE, NAME, F)                                 \
  [&]() -> decltype(auto) {                                                      \
    switch (DTYPE) {                                                             \
      DOPPEL_DISPATCH_CASE_(Float32, float, F)                                   \
      DOPPEL_DISPATCH_CASE_(Float64, double, F)                                  \
      DOPPEL_DISPATCH_CASE_(BFloat16, ::doppel::bfloat16, F)                     \
      DOPPEL_DISPATCH_CASE_(Float16, ::doppel::float16, F)                       \
      default: break;                                                            \
    }                                                                            \
    ::doppel::detail::throw_bad_dtype(NAME, DTYPE);                              \
  }()

#define DOPPEL_DISPATCH_INDEX(DTYPE, NAME, F)                                    \
  [&]() -> decltype(auto) {                                                      \
    switch (DTYPE) {                                                             \
      DOPPEL_DISPATCH_CASE_(Int32, int32_t, F)                                   \
      DOPPEL_DISPATCH_CASE_(Int64, int64_t, F)                                   \
      default: break;                                                            \
    }                                                                            \
    ::doppel::detail::throw_bad_dtype(NAME, DTYPE);                              \
  }()

namespace doppel::detail {
[[noreturn]] void throw_bad_dtype(std::string_view op, DType t);
}
