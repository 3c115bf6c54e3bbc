// Indexing, masking, scatter, flip and the `full` factory (its shape may depend on the batch).
#include <limits>

#include "doppel/kernels/op_attrs/factory.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "op_mapping.h"

namespace doppel::onnx::detail {

namespace {

// embedding(weight [V, D], indices): rows of the weight.
void map_embedding(Emitter& e) {
  e.add("Gather", {e.in(0), e.cast(e.in(1), e.in_dtype(1), DType::Int64)}, {OnnxAttr::of_int("axis", 0)}, e.out());
}

void map_index_select(Emitter& e) {
  const int64_t dim = e.wrap(e.attrs<DimAttrs>().dim, e.in_rank(0));
  e.add("Gather", {e.in(0), e.cast(e.in(1), e.in_dtype(1), DType::Int64)}, {OnnxAttr::of_int("axis", dim)}, e.out());
}

void map_gather(Emitter& e) {
  const int64_t dim = e.wrap(e.attrs<DimAttrs>().dim, e.in_rank(0));
  e.add("GatherElements", {e.in(0), e.cast(e.in(1), e.in_dtype(1), DType::Int64)}, {OnnxAttr::of_int("axis", dim)},
        e.out());
}

void map_masked_fill(Emitter& e) {
  const DType t = e.out_dtype();
  const std::string value = e.const_scalar(e.attrs<MaskedFillAttrs>().value, t);
  e.add("Where", {e.cast(e.in(1), e.in_dtype(1), DType::Bool), value, e.cast(e.in(0), e.in_dtype(0), t)}, {}, e.out());
}

// scatter: ScatterElements, whose updates have the index's shape (doppel's src may be larger:
// its leading corner is used).
void map_scatter(Emitter& e) {
  const int64_t rank = e.in_rank(0);
  if (rank == 0) e.fail("a 0-d scatter has no ONNX ScatterElements; reshape to [1] first");
  const int64_t dim = e.wrap(e.attrs<DimAttrs>().dim, rank);
  std::string src = e.in(2);
  if (!(e.in_value(1).shape == e.in_value(2).shape)) {
    std::vector<int64_t> axes;
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    src = e.add("Slice", {src, e.const_i64(std::vector<int64_t>(size_t(rank), 0)), e.add("Shape", {e.in(1)}),
                          e.const_i64(axes)});
  }
  e.add("ScatterElements", {e.in(0), e.cast(e.in(1), e.in_dtype(1), DType::Int64), src},
        {OnnxAttr::of_int("axis", dim)}, e.out());
}

// flip: a Slice with step -1 from the last element past the first of each flipped dim.
void map_flip(Emitter& e) {
  const Shape listed = e.attrs<FlipAttrs>().dims;
  std::vector<int64_t> dims(listed.begin(), listed.end());
  const int64_t rank = e.in_rank(0);
  if (dims.empty() || rank == 0) {
    e.add("Identity", {e.in(0)}, {}, e.out());
    return;
  }
  for (int64_t& d : dims) d = e.wrap(d, rank);
  const size_t n = dims.size();
  e.add("Slice",
        {e.in(0), e.const_i64(std::vector<int64_t>(n, -1)),
         e.const_i64(std::vector<int64_t>(n, std::numeric_limits<int64_t>::min())), e.const_i64(dims),
         e.const_i64(std::vector<int64_t>(n, -1))},
        {}, e.out());
}

// full(shape, value): ConstantOfShape, with the shape computed at run time where it is symbolic.
void map_full(Emitter& e) {
  const DType t = e.out_dtype();
  // The value attribute: a 1-element tensor of the output dtype.
  const Tensor one = filled_tensor({1}, e.attrs<FullAttrs>({FullAttrs::Index::shape}).value, t);
  const OnnxTensor v{
      "value", onnx_type(t), {1}, std::string(static_cast<const char*>(one.raw_data()), one.nbytes()), {}};
  e.add("ConstantOfShape", {e.ints_input(FullAttrs::Index::shape)}, {OnnxAttr::of_tensor("value", v)}, e.out());
}

}  // namespace

void register_indexing_mappings(MappingTable& t) {
  t[size_t(OpId::embedding)] = {map_embedding};
  t[size_t(OpId::index_select)] = {map_index_select};
  t[size_t(OpId::gather)] = {map_gather};
  t[size_t(OpId::masked_fill)] = {map_masked_fill};
  t[size_t(OpId::scatter)] = {map_scatter};
  t[size_t(OpId::flip)] = {map_flip};
  t[size_t(OpId::full)] = {map_full, true};
}

}  // namespace doppel::onnx::detail
