#include "doppel/core/scalar.h"

#include <fmt/format.h>

namespace doppel {

DType Scalar::default_dtype() const {
  switch (kind_) {
    case Kind::Floating: return DType::Float32;
    case Kind::Integral: return DType::Int64;
    case Kind::Boolean: return DType::Bool;
  }
  return DType::Float32;
}

std::string Scalar::str() const {
  switch (kind_) {
    case Kind::Floating: return fmt::format("{}", d_);
    case Kind::Integral: return fmt::format("{}", i_);
    case Kind::Boolean: return i_ ? "True" : "False";
  }
  return "?";
}

}  // namespace doppel
