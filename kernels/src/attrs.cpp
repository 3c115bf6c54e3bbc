#include "doppel/kernels/attrs.h"

#include "doppel/kernels/attr_struct.h"

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

namespace attr_kinds {

void check_attr_kinds(const char* type_name, std::span<const AttrSpec> spec, const Attrs& a, bool prefix) {
  bool ok = prefix ? a.size() >= spec.size() : a.size() == spec.size();
  for (size_t k = 0; ok && k < spec.size(); ++k) ok = a[k].kind == spec[k].kind || (spec[k].optional && a[k].is_none());
  if (!ok) [[unlikely]] {
    std::string got;
    for (const Attr& x : a) got += fmt::format("{}{}", got.empty() ? "" : ", ", attr_kind_name(x.kind));
    throw InternalError(
        fmt::format("{}::of{}: the attributes ({}) are not this struct's ({} declared); "
                    "build them with {}{{...}}.pack()",
                    type_name, prefix ? "_prefix" : "", got, spec.size(), type_name));
  }
}

}  // namespace attr_kinds

}  // namespace doppel
