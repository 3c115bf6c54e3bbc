#include "doppel/kernels/attrs.h"

namespace doppel {

std::string_view attr_kind_name(AttrKind k) {
  switch (k) {
    case AttrKind::None: return "none";
    case AttrKind::Int: return "int";
    case AttrKind::Float: return "float";
    case AttrKind::Bool: return "bool";
    case AttrKind::Ints: return "ints";
    case AttrKind::DType: return "dtype";
    case AttrKind::Device: return "device";
  }
  return "?";
}

std::string Attr::str() const {
  switch (kind) {
    case AttrKind::None: return "none";
    case AttrKind::Int: return std::to_string(i);
    case AttrKind::Float: return fmt::format("{}", f);
    case AttrKind::Bool: return i ? "true" : "false";
    case AttrKind::Ints: return shape_str(ints);
    case AttrKind::DType: return std::string(dtype_name(as_dtype()));
    case AttrKind::Device: return as_device().str();
  }
  return "?";
}

}  // namespace doppel
