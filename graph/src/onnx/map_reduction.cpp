// Reductions (opset 17: ReduceSum takes its axes as an input, the others as an attribute),
// argmax/argmin, numel (computed from the input's shape at run time) and cumsum (CumSum; opset
// 17 has no cumulative product).
#include "doppel/kernels/op_attrs/reduction.h"
#include "doppel/kernels/op_attrs/scan.h"
#include "doppel/kernels/op_attrs/shape_scalar.h"
#include "op_mapping.h"

namespace doppel::onnx::detail {

namespace {

// The reduced axes, non-negative; an empty list means every dim.
std::vector<int64_t> axes_of(Emitter& e, IntList listed) {
  std::vector<int64_t> dims(listed.begin(), listed.end());
  const int64_t rank = e.in_rank(0);
  if (dims.empty())
    for (int64_t d = 0; d < rank; ++d) dims.push_back(d);
  for (int64_t& d : dims) d = e.wrap(d, rank);
  return dims;
}

const char* reduce_op(OpId op) {
  switch (op) {
    case OpId::sum:
      return "ReduceSum";
    case OpId::mean:
      return "ReduceMean";
    case OpId::prod:
      return "ReduceProd";
    case OpId::amax:
      return "ReduceMax";
    case OpId::amin:
      return "ReduceMin";
    default:
      return "ReduceLogSumExp";
  }
}

// Computed in the output dtype (a sum of bools or int32s is int64, as doppel's).
void map_reduce(Emitter& e) {
  const auto a = e.attrs<ReduceAttrs>();
  const std::vector<int64_t> axes = axes_of(e, a.dims);
  const std::string x = e.cast(e.in(0), e.in_dtype(0), e.out_dtype());
  const OnnxAttr keep = OnnxAttr::of_int("keepdims", a.keepdim);
  const char* op = reduce_op(e.node().op);
  if (e.node().op == OpId::sum)
    e.add(op, {x, e.const_i64(axes)}, {keep}, e.out());
  else
    e.add(op, {x}, {OnnxAttr::of_ints("axes", axes), keep}, e.out());
}

// dim none: over the flattened input (a 0-d result).
void map_arg_reduce(Emitter& e) {
  const char* op = e.node().op == OpId::argmax ? "ArgMax" : "ArgMin";
  const auto [dim, keep] = e.attrs<ArgReduceAttrs>();
  if (!dim) {
    if (keep) e.fail("keepdim with dim=None has no ONNX equivalent");
    const std::string flat = e.add("Reshape", {e.in(0), e.const_i64({-1})});
    e.add(op, {flat}, {OnnxAttr::of_int("axis", 0), OnnxAttr::of_int("keepdims", 0)}, e.out());
    return;
  }
  const int64_t axis = axes_of(e, {*dim})[0];
  e.add(op, {e.in(0)}, {OnnxAttr::of_int("axis", axis), OnnxAttr::of_int("keepdims", keep)}, e.out());
}

// The product of the named dims of the input's run-time shape, as a 0-d float.
void map_numel(Emitter& e) {
  const std::vector<int64_t> dims = axes_of(e, e.attrs<NumelAttrs>().dims);
  if (dims.empty()) {  // a 0-d input: one element
    e.add("Identity", {e.const_scalar(1, e.out_dtype())}, {}, e.out());
    return;
  }
  const std::string sizes = e.add("Gather", {e.add("Shape", {e.in(0)}), e.const_i64(dims)});
  e.add("ReduceProd", {e.cast(sizes, DType::Int64, e.out_dtype())},
        {OnnxAttr::of_ints("axes", {0}), OnnxAttr::of_int("keepdims", 0)}, e.out());
}

// cumsum: CumSum in the output dtype (integer inputs accumulate in int64 like doppel's).
void map_cumsum(Emitter& e) {
  if (e.in_rank(0) == 0) e.fail("a 0-d cumsum has no ONNX CumSum (it needs an axis); reshape to [1] first");
  const int64_t dim = e.wrap(e.attrs<ScanAttrs>().dim, e.in_rank(0));
  e.add("CumSum", {e.cast(e.in(0), e.in_dtype(0), e.out_dtype()), e.const_i64({dim}, true)}, {}, e.out());
}

}  // namespace

void register_reduction_mappings(MappingTable& t) {
  t[size_t(OpId::cumsum)] = {map_cumsum};
  for (OpId op : {OpId::sum, OpId::mean, OpId::prod, OpId::amax, OpId::amin, OpId::logsumexp})
    t[size_t(op)] = {map_reduce};
  t[size_t(OpId::argmax)] = {map_arg_reduce};
  t[size_t(OpId::argmin)] = {map_arg_reduce};
  t[size_t(OpId::numel)] = {map_numel};
}

}  // namespace doppel::onnx::detail
