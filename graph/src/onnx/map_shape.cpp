// Views, copies, casts and cat. In the IR views alias storage; in ONNX every value is its own
// tensor, which is the same thing for a pure inference graph (no state updates, see export.cpp).
#include "doppel/kernels/op_attrs/indexing.h"
#include "doppel/kernels/op_attrs/views.h"
#include "op_mapping.h"

namespace doppel::onnx::detail {

namespace {

// view / reshape. One symbolic entry (the batch in [batch, 3136]) becomes Reshape's -1 when
// there is none yet; otherwise the symbolic entries are computed from the input's shape.
void map_view(Emitter& e) {
  const Shape shape = e.attrs<ViewAttrs>({ViewAttrs::Index::shape}).shape;
  for (int64_t d : shape)
    if (d == 0) e.fail("a 0 in the target shape means 'copy this dim' to ONNX Reshape, not an empty dim");
  size_t symbolic = 0, symbolic_at = 0;
  for (const graph::SymAttr& s : e.sym_attrs())
    if (!s.dim.is_static()) ++symbolic, symbolic_at = size_t(s.index);
  const bool has_minus_one = std::find(shape.begin(), shape.end(), -1) != shape.end();
  std::string target;
  if (symbolic == 1 && !has_minus_one) {
    std::vector<int64_t> v(shape.begin(), shape.end());
    v[symbolic_at] = -1;
    target = e.const_i64(v);
  } else {
    target = e.ints_input(ViewAttrs::Index::shape);
  }
  e.add("Reshape", {e.in(0), target}, {}, e.out());
}

void map_permute(Emitter& e) {
  const Shape dims = e.attrs<PermuteAttrs>().dims;
  std::vector<int64_t> perm(dims.begin(), dims.end());
  for (int64_t& d : perm) d = e.wrap(d, e.in_rank(0));
  e.add("Transpose", {e.in(0)}, {OnnxAttr::of_ints("perm", perm)}, e.out());
}

// Python-style start/end (negative from the end, clamped): ONNX Slice's semantics too.
void map_slice(Emitter& e) {
  using I = SliceAttrs::Index;
  const auto a = e.attrs<SliceAttrs>({I::start, I::end});
  const int64_t dim = e.wrap(a.dim, e.in_rank(0));
  e.add("Slice", {e.in(0), e.int_input(I::start), e.int_input(I::end), e.const_i64({dim}), e.const_i64({a.step})}, {},
        e.out());
}

// Gather with a 0-d index drops the dim, as select does.
void map_select(Emitter& e) {
  using I = SelectAttrs::Index;
  const auto a = e.attrs<SelectAttrs>({I::index});
  const int64_t dim = e.wrap(a.dim, e.in_rank(0));
  std::string index = e.attr_is_symbolic(I::index) ? e.add("Squeeze", {e.int_input(I::index), e.const_i64({0})})
                                                   : e.const_i64({a.index}, /*scalar=*/true);
  e.add("Gather", {e.in(0), index}, {OnnxAttr::of_int("axis", dim)}, e.out());
}

// ONNX Expand broadcasts both ways, so expand's "keep" (-1) is a 1 there.
void map_expand(Emitter& e) { e.add("Expand", {e.in(0), e.ints_input(ExpandAttrs::Index::shape, 1)}, {}, e.out()); }

// Only dims of static size 1 are squeezed: a symbolic dim (traced at >= 2) is never squeezed,
// even if it is 1 at run time, exactly as the graph does.
void map_squeeze(Emitter& e) {
  const Shape listed = e.attrs<SqueezeAttrs>().dims;
  const graph::SymShape& s = e.in_value(0).shape;
  std::vector<int64_t> axes;
  for (int64_t d = 0; d < int64_t(s.size()); ++d) {
    bool want = listed.empty();
    for (int64_t l : listed) want = want || e.wrap(l, int64_t(s.size())) == d;
    if (want && s[size_t(d)].is_static() && s[size_t(d)].constant == 1) axes.push_back(d);
  }
  if (axes.empty())
    e.add("Identity", {e.in(0)}, {}, e.out());
  else
    e.add("Squeeze", {e.in(0), e.const_i64(axes)}, {}, e.out());
}

void map_unsqueeze(Emitter& e) {
  const int64_t d = e.wrap(e.attrs<UnsqueezeAttrs>().dim, e.in_rank(0) + 1);
  e.add("Unsqueeze", {e.in(0), e.const_i64({d})}, {}, e.out());
}

void map_copy(Emitter& e) { e.add("Identity", {e.in(0)}, {}, e.out()); }

void map_cast(Emitter& e) {
  if (e.in_dtype(0) == e.out_dtype())
    e.add("Identity", {e.in(0)}, {}, e.out());
  else
    e.add("Cast", {e.in(0)}, {OnnxAttr::of_int("to", int64_t(onnx_type(e.out_dtype())))}, e.out());
}

void map_cat(Emitter& e) {
  std::vector<std::string> parts;
  for (size_t k = 0; k < e.num_in(); ++k) parts.push_back(e.cast(e.in(k), e.in_dtype(k), e.out_dtype()));
  const int64_t axis = e.wrap(e.attrs<DimAttrs>().dim, e.out_rank());
  e.add("Concat", parts, {OnnxAttr::of_int("axis", axis)}, e.out());
}

}  // namespace

void register_shape_mappings(MappingTable& t) {
  t[size_t(OpId::view)] = {map_view, true};
  t[size_t(OpId::permute)] = {map_permute};
  t[size_t(OpId::slice)] = {map_slice, true};
  t[size_t(OpId::select)] = {map_select, true};
  t[size_t(OpId::expand)] = {map_expand, true};
  t[size_t(OpId::squeeze)] = {map_squeeze};
  t[size_t(OpId::unsqueeze)] = {map_unsqueeze};
  t[size_t(OpId::copy)] = {map_copy};
  t[size_t(OpId::cast)] = {map_cast};
  t[size_t(OpId::cat)] = {map_cat};
}

}  // namespace doppel::onnx::detail
