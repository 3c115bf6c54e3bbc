#pragma once
// A number without a tensor: the `2.0` in `t * 2.0`, a fill value, a clamp bound.
#include <cstdint>
#include <string>
#include <type_traits>

#include "doppel/core/dtype.h"

namespace doppel {

class Scalar {
 public:
  enum class Kind : uint8_t { Floating, Integral, Boolean };

  Scalar() : Scalar(int64_t(0)) {}
  template <typename T>
    requires std::is_arithmetic_v<T> || std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>
  Scalar(T v) {  // NOLINT: implicit, like a C++ number
    if constexpr (std::is_same_v<T, bool>) {
      kind_ = Kind::Boolean;
      i_ = v ? 1 : 0;
    } else if constexpr (std::is_integral_v<T>) {
      kind_ = Kind::Integral;
      i_ = static_cast<int64_t>(v);
    } else {
      kind_ = Kind::Floating;
      d_ = static_cast<double>(static_cast<compute_t<T>>(v));
    }
  }

  Kind kind() const { return kind_; }
  bool is_floating() const { return kind_ == Kind::Floating; }
  bool is_integral() const { return kind_ == Kind::Integral; }
  bool is_bool() const { return kind_ == Kind::Boolean; }

  double to_double() const { return kind_ == Kind::Floating ? d_ : double(i_); }
  int64_t to_int() const { return kind_ == Kind::Floating ? int64_t(d_) : i_; }
  bool to_bool() const { return kind_ == Kind::Floating ? d_ != 0.0 : i_ != 0; }
  template <typename T>
  T to() const {
    if constexpr (std::is_same_v<T, bool>) return to_bool();
    else if constexpr (std::is_integral_v<T>) return static_cast<T>(to_int());
    else return static_cast<T>(static_cast<compute_t<T>>(to_double()));
  }

  // The dtype a tensor made from this scalar alone gets (float32, int64, bool).
  DType default_dtype() const;
  std::string str() const;

 private:
  Kind kind_ = Kind::Integral;
  int64_t i_ = 0;
  double d_ = 0.0;
};

}  // namespace doppel
