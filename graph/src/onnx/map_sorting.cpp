// topk and sort (TopK; sort is TopK with k = the dim's run-time size) and tril / triu (Trilu).
// ONNX TopK puts equal values lower index first, as doppel does. The dtypes ONNX Runtime lacks
// for these ops are computed in a dtype that holds them exactly and cast back.
#include "doppel/kernels/op_attrs/sorting.h"
#include "op_mapping.h"

namespace doppel::onnx::detail {
namespace {

// TopK: float, double, int32 and int64; the rest (8-bit integers, bool, 16-bit floats) as float.
DType topk_dtype(DType t) {
  return t == DType::Float32 || t == DType::Float64 || t == DType::Int32 || t == DType::Int64 ? t : DType::Float32;
}

// Trilu: float, double and int64; other floats as float, other integers and bool as int64.
DType trilu_dtype(DType t) {
  if (t == DType::Float32 || t == DType::Float64) return t;
  return is_floating(t) ? DType::Float32 : DType::Int64;
}

// TopK along `dim` with `k` (a [1] int64 tensor), values cast back to the input's dtype.
void emit_topk(Emitter& e, int64_t dim, const std::string& k, bool largest) {
  const DType dt = e.in_dtype(0), work = topk_dtype(dt);
  const std::string values = work == dt ? e.out(kSortValues) : e.fresh("topk_values");
  e.add_multi("TopK", {e.cast(e.in(0), dt, work), k},
              {OnnxAttr::of_int("axis", dim), OnnxAttr::of_int("largest", largest), OnnxAttr::of_int("sorted", 1)},
              {values, e.out(kSortIndices)});
  if (work != dt) e.add("Cast", {values}, {OnnxAttr::of_int("to", int64_t(onnx_type(dt)))}, e.out(kSortValues));
}

void map_topk(Emitter& e) {
  if (e.in_rank(0) == 0) e.fail("a 0-d topk has no ONNX TopK (it needs an axis); reshape to [1] first");
  const auto a = e.attrs<TopkAttrs>();
  emit_topk(e, e.wrap(a.dim, e.in_rank(0)), e.const_i64({a.k}), a.largest);
}

void map_sort(Emitter& e) {
  if (e.in_rank(0) == 0) e.fail("a 0-d sort has no ONNX TopK (it needs an axis); reshape to [1] first");
  const auto a = e.attrs<SortAttrs>();
  const int64_t dim = e.wrap(a.dim, e.in_rank(0));
  const std::string size =
      e.add("Shape", {e.in(0)}, {OnnxAttr::of_int("start", dim), OnnxAttr::of_int("end", dim + 1)});
  emit_topk(e, dim, size, a.descending);
}

void map_triangle(Emitter& e) {
  const DType dt = e.in_dtype(0), work = trilu_dtype(dt);
  const std::string r =
      e.add("Trilu", {e.cast(e.in(0), dt, work), e.const_i64({e.attrs<TriangleAttrs>().diagonal}, true)},
            {OnnxAttr::of_int("upper", e.node().op == OpId::triu)}, work == dt ? e.out() : "");
  if (work != dt) e.add("Cast", {r}, {OnnxAttr::of_int("to", int64_t(onnx_type(dt)))}, e.out());
}

}  // namespace

void register_sorting_mappings(MappingTable& t) {
  t[size_t(OpId::topk)] = {map_topk, false, 2};
  t[size_t(OpId::sort)] = {map_sort, false, 2};
  t[size_t(OpId::tril)] = {map_triangle};
  t[size_t(OpId::triu)] = {map_triangle};
}

}  // namespace doppel::onnx::detail
