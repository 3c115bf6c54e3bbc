#pragma once
// Op attributes: the non-tensor arguments of an op (dims, keepdim, eps, stride, dtype, ...).
// Positional, in the order the op's OpDef declares them; stored inline, no heap for the
// common cases, so building them on the dispatch path is cheap. Code that knows the op builds
// and reads them through the op's typed struct (attr_struct.h), never by position.
#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "doppel/core/device.h"
#include "doppel/core/dtype.h"
#include "doppel/core/error.h"
#include "doppel/core/shape.h"

namespace doppel {

enum class AttrKind : uint8_t { None, Int, Float, Bool, Ints, DType, Device };
std::string_view attr_kind_name(AttrKind k);

struct Attr {
  AttrKind kind = AttrKind::None;
  int64_t i = 0;  // Int, Bool, DType (as its enum value), Device (type << 16 | index)
  double f = 0;   // Float
  Shape ints;     // Ints

  Attr() = default;
  static Attr none() { return {}; }
  static Attr of_int(int64_t v) { Attr a; a.kind = AttrKind::Int; a.i = v; return a; }
  static Attr of_float(double v) { Attr a; a.kind = AttrKind::Float; a.f = v; return a; }
  static Attr of_bool(bool v) { Attr a; a.kind = AttrKind::Bool; a.i = v; return a; }
  static Attr of_ints(IntList v) { Attr a; a.kind = AttrKind::Ints; a.ints = Shape(v); return a; }
  static Attr of_dtype(DType t) { Attr a; a.kind = AttrKind::DType; a.i = int64_t(t); return a; }
  static Attr of_device(Device d) {
    Attr a;
    a.kind = AttrKind::Device;
    a.i = (int64_t(d.type) << 16) | d.index;
    return a;
  }

  bool is_none() const { return kind == AttrKind::None; }
  bool as_bool() const { return i != 0; }
  DType as_dtype() const { return DType(i); }
  Device as_device() const { return Device(DeviceType(i >> 16), int(i & 0xffff)); }
  friend bool operator==(const Attr& a, const Attr& b) {
    return a.kind == b.kind && a.i == b.i && (a.f == b.f || (a.f != a.f && b.f != b.f)) && a.ints == b.ints;
  }
  std::string str() const;
};

// One attribute an op declares: its name (graph files, Python, error messages) and kind. Each
// op's list is the kSpec of its attribute struct (attr_struct.h).
struct AttrSpec {
  const char* name;
  AttrKind kind;
  bool optional = false;  // may be AttrKind::None
};

inline constexpr size_t kMaxAttrs = 12;

class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<Attr> il) {
    DOPPEL_INTERNAL_ASSERT(il.size() <= kMaxAttrs);
    for (const Attr& a : il) v_[n_++] = a;
  }
  size_t size() const { return n_; }
  const Attr& operator[](size_t k) const { return v_[k]; }
  Attr& operator[](size_t k) { return v_[k]; }
  void push_back(Attr a) {
    DOPPEL_INTERNAL_ASSERT(n_ < kMaxAttrs);
    v_[n_++] = std::move(a);
  }
  const Attr* begin() const { return v_.data(); }
  const Attr* end() const { return v_.data() + n_; }
  friend bool operator==(const Attrs& a, const Attrs& b) {
    if (a.n_ != b.n_) return false;
    for (size_t k = 0; k < a.n_; ++k)
      if (!(a.v_[k] == b.v_[k])) return false;
    return true;
  }

 private:
  std::array<Attr, kMaxAttrs> v_{};
  size_t n_ = 0;
};

}  // namespace doppel
