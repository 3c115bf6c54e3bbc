#pragma once
// Typed attribute structs: each op's attributes are declared once, as an X-list of (kind, name)
// pairs, and DOPPEL_DECLARE_OP_ATTRS turns the list into
//   - a plain aggregate with one typed field per attribute (built with designated initializers,
//     so that C++20 rejects two attributes given out of order, e.g. a swapped beta and threshold),
//   - `static constexpr AttrSpec kSpec[]`: the names, kinds and optionality the op's OpDef
//     declares (the op table points at it),
//   - `Attrs pack() const`: the positional Attrs that dispatch, graphs and files carry,
//   - `Index::name`: a field's position, for the few places that address one attribute of a
//     node (symbolic attribute entries, the ONNX export of attributes that depend on them),
//   - `static T of(const Attrs&)`: the fields back from attributes that check_call validated,
//   - `static T of_prefix(const Attrs&)`: the same from the leading attributes of an op whose
//     list starts with this one (VarAttrs extends ReduceAttrs, every loss extends LossAttrs,
//     ConvolutionBackwardAttrs extends ConvolutionAttrs), for code shared by those ops.
//
//   #define DOPPEL_SOFTPLUS_ATTRS(F) F(Float, beta) F(Float, threshold)
//   DOPPEL_DECLARE_OP_ATTRS(SoftplusAttrs, DOPPEL_SOFTPLUS_ATTRS)
//   dispatch1(OpId::softplus, {x}, SoftplusAttrs{.beta = 1, .threshold = 20}.pack());
//   const auto a = SoftplusAttrs::of(call.attrs);  // a.beta, a.threshold
//
// The kinds: Int (int64_t), Float (double), Bool, Ints (Shape), DType, Device, and the optional
// OptInt, OptFloat, OptDType (std::optional of those; none packs as AttrKind::None).
#include <optional>
#include <type_traits>
#include <utility>

#include "doppel/kernels/attrs.h"

namespace doppel::attr_kinds {

template <class T, AttrKind K>
struct Kind {
  using type = T;
  static constexpr AttrKind kind = K;
  static constexpr bool optional = false;
};

struct Int : Kind<int64_t, AttrKind::Int> {
  static Attr pack(int64_t v) { return Attr::of_int(v); }
  static int64_t unpack(const Attr& a) { return a.i; }
};
struct Float : Kind<double, AttrKind::Float> {
  static Attr pack(double v) { return Attr::of_float(v); }
  static double unpack(const Attr& a) { return a.f; }
};
struct Bool : Kind<bool, AttrKind::Bool> {
  static Attr pack(bool v) { return Attr::of_bool(v); }
  static bool unpack(const Attr& a) { return a.as_bool(); }
};
struct Ints : Kind<Shape, AttrKind::Ints> {
  static Attr pack(const Shape& v) { return Attr::of_ints(v); }
  static Shape unpack(const Attr& a) { return a.ints; }
};
struct DType : Kind<doppel::DType, AttrKind::DType> {
  static Attr pack(doppel::DType v) { return Attr::of_dtype(v); }
  static doppel::DType unpack(const Attr& a) { return a.as_dtype(); }
};
struct Device : Kind<doppel::Device, AttrKind::Device> {
  static Attr pack(doppel::Device v) { return Attr::of_device(v); }
  static doppel::Device unpack(const Attr& a) { return a.as_device(); }
};

// An attribute that may be absent (AttrKind::None).
template <class K>
struct Optional {
  using type = std::optional<typename K::type>;
  static constexpr AttrKind kind = K::kind;
  static constexpr bool optional = true;
  static Attr pack(const type& v) { return v ? K::pack(*v) : Attr::none(); }
  static type unpack(const Attr& a) { return a.is_none() ? type() : type(K::unpack(a)); }
};
using OptInt = Optional<Int>;
using OptFloat = Optional<Float>;
using OptDType = Optional<DType>;

// The compile-time half of the round trip: a kind packs its field type and unpacks to exactly
// that type (so `of(x.pack())` gives every field back with its declared type), and its spec's
// kind is one an Attr can carry. tests/ops/test_op_attrs.cpp checks the values at run time.
template <class K>
constexpr bool round_trips() {
  using T = typename K::type;
  return std::is_same_v<decltype(K::pack(std::declval<const T&>())), Attr> &&
         std::is_same_v<decltype(K::unpack(std::declval<const Attr&>())), T> && K::kind != AttrKind::None;
}

// Throws InternalError when `a` (or, for a prefix, its first spec.size() entries) does not have
// the kinds `spec` declares (a call site that bypassed check_call); `of` runs it before reading.
void check_attr_kinds(const char* type_name, std::span<const AttrSpec> spec, const Attrs& a, bool prefix);

}  // namespace doppel::attr_kinds

#define DOPPEL_ATTR_FIELD_(K, name) ::doppel::attr_kinds::K::type name{};
#define DOPPEL_ATTR_SPEC_(K, name) \
  ::doppel::AttrSpec{#name, ::doppel::attr_kinds::K::kind, ::doppel::attr_kinds::K::optional},
#define DOPPEL_ATTR_PACK_(K, name) packed_.push_back(::doppel::attr_kinds::K::pack(this->name));
#define DOPPEL_ATTR_UNPACK_(K, name) read_.name = ::doppel::attr_kinds::K::unpack(attrs_[next_++]);
#define DOPPEL_ATTR_INDEX_(K, name) name,
#define DOPPEL_ATTR_ROUND_TRIP_(K, name) \
  static_assert(::doppel::attr_kinds::round_trips<::doppel::attr_kinds::K>(), "attribute " #name);

// Declares `struct Name` from the X-list LIST (see the top of this file).
#define DOPPEL_DECLARE_OP_ATTRS(Name, LIST)                                   \
  struct Name {                                                               \
    LIST(DOPPEL_ATTR_FIELD_)                                                  \
    static constexpr ::doppel::AttrSpec kSpec[] = {LIST(DOPPEL_ATTR_SPEC_)};  \
    struct Index {                                                            \
      enum : size_t { LIST(DOPPEL_ATTR_INDEX_) };                             \
    };                                                                        \
    ::doppel::Attrs pack() const {                                            \
      ::doppel::Attrs packed_;                                                \
      LIST(DOPPEL_ATTR_PACK_)                                                 \
      return packed_;                                                         \
    }                                                                         \
    static Name of(const ::doppel::Attrs& a) { return read(a, false); }       \
    static Name of_prefix(const ::doppel::Attrs& a) { return read(a, true); } \
    static Name read(const ::doppel::Attrs& attrs_, bool prefix_) {           \
      ::doppel::attr_kinds::check_attr_kinds(#Name, kSpec, attrs_, prefix_);  \
      Name read_;                                                             \
      size_t next_ = 0;                                                       \
      LIST(DOPPEL_ATTR_UNPACK_)                                               \
      return read_;                                                           \
    }                                                                         \
    friend bool operator==(const Name&, const Name&) = default;               \
  };                                                                          \
  LIST(DOPPEL_ATTR_ROUND_TRIP_)
