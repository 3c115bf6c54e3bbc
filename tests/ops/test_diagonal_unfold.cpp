// Specs and value tests of the diagonal and unfold views and of their backward ops, and of diag.
#include "doppel/kernels/op_attrs/views.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kAllDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8,
                                       DType::UInt8,   DType::Int32,   DType::Int64,    DType::Bool};
const std::vector<DType> kNumeric = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16,
                                     DType::Int8,    DType::UInt8,   DType::Int32,    DType::Int64};

Tensor in(IntList shape, DType t, uint64_t seed) { return make_input(shape, t, seed); }
std::vector<double> values(const Tensor& t) { return t.to(DType::Float64).to_vector<double>(); }
Tensor iota(IntList shape) {
  return reshape(arange(0, double(numel_of(shape)), 1, TensorOptions{.dtype = DType::Float64}), shape);
}
bool shares(const Tensor& v, const Tensor& base) { return v.storage().get() == base.storage().get(); }

}  // namespace

DOPPEL_OP_SPEC(diagonal_spec) {
  return OpSpec{
      .op = OpId::diagonal,
      .dtypes = kAllDTypes,
      .samples =
          [](DType t) {
            return std::vector<Sample>{
                {"square", {in({4, 4}, t, 1)}, DiagonalAttrs{.offset = 0, .dim1 = 0, .dim2 = 1}.pack()},
                {"wide offset 2", {in({3, 5}, t, 2)}, DiagonalAttrs{.offset = 2, .dim1 = 0, .dim2 = 1}.pack()},
                {"tall offset -1", {in({5, 3}, t, 3)}, DiagonalAttrs{.offset = -1, .dim1 = 0, .dim2 = 1}.pack()},
                {"3-d dims 2, 0", {in({3, 2, 4}, t, 4)}, DiagonalAttrs{.offset = 1, .dim1 = 2, .dim2 = 0}.pack()},
                {"negative dims", {in({2, 3, 3}, t, 5)}, DiagonalAttrs{.offset = 0, .dim1 = -1, .dim2 = -2}.pack()},
                {"offset past the end", {in({3, 3}, t, 6)}, DiagonalAttrs{.offset = 5, .dim1 = 0, .dim2 = 1}.pack()},
                {"empty", {in({0, 3}, t, 7)}, DiagonalAttrs{.offset = 0, .dim1 = 0, .dim2 = 1}.pack()},
                {"large", {in({300, 200}, t, 8)}, DiagonalAttrs{.offset = -3, .dim1 = 0, .dim2 = 1}.pack()}};
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{{"1-d",
                                             {in({4}, DType::Float32, 1)},
                                             DiagonalAttrs{.offset = 0, .dim1 = 0, .dim2 = 1}.pack(),
                                             ErrorKind::Shape,
                                             "diagonal"},
                                            {"same dims",
                                             {in({3, 3}, DType::Float32, 1)},
                                             DiagonalAttrs{.offset = 0, .dim1 = 1, .dim2 = -1}.pack(),
                                             ErrorKind::Index,
                                             "diagonal"},
                                            {"dim out of range",
                                             {in({3, 3}, DType::Float32, 1)},
                                             DiagonalAttrs{.offset = 0, .dim1 = 0, .dim2 = 2}.pack(),
                                             ErrorKind::Index,
                                             "diagonal"}};
          },
      .gradgradcheck = true};
}

DOPPEL_OP_SPEC(unfold_spec) {
  return OpSpec{
      .op = OpId::unfold,
      .dtypes = kAllDTypes,
      .samples =
          [](DType t) {
            return std::vector<Sample>{
                {"overlapping", {in({7}, t, 1)}, UnfoldAttrs{.dim = 0, .size = 3, .step = 1}.pack()},
                {"step 2 dim 1", {in({2, 8, 3}, t, 2)}, UnfoldAttrs{.dim = 1, .size = 3, .step = 2}.pack()},
                {"gaps, negative dim", {in({3, 10}, t, 3)}, UnfoldAttrs{.dim = -1, .size = 2, .step = 4}.pack()},
                {"whole dim", {in({4, 3}, t, 4)}, UnfoldAttrs{.dim = 0, .size = 4, .step = 1}.pack()},
                {"size 0", {in({3, 2}, t, 5)}, UnfoldAttrs{.dim = 1, .size = 0, .step = 1}.pack()},
                {"0-d", {in({}, t, 6)}, UnfoldAttrs{.dim = 0, .size = 1, .step = 1}.pack()},
                {"empty batch", {in({0, 5}, t, 7)}, UnfoldAttrs{.dim = 1, .size = 2, .step = 1}.pack()},
                {"large", {in({64, 300}, t, 8)}, UnfoldAttrs{.dim = 1, .size = 16, .step = 8}.pack()}};
          },
      .errors =
          [] {
            const Tensor x = in({2, 5}, DType::Float32, 1);
            return std::vector<ErrorSample>{
                {"size too large", {x}, UnfoldAttrs{.dim = 1, .size = 6, .step = 1}.pack(), ErrorKind::Shape, "unfold"},
                {"step 0", {x}, UnfoldAttrs{.dim = 1, .size = 2, .step = 0}.pack(), ErrorKind::Value, "unfold"},
                {"negative size", {x}, UnfoldAttrs{.dim = 1, .size = -1, .step = 1}.pack(), ErrorKind::Value, "unfold"},
                {"dim out of range",
                 {x},
                 UnfoldAttrs{.dim = 2, .size = 2, .step = 1}.pack(),
                 ErrorKind::Index,
                 "unfold"}};
          },
      .gradgradcheck = true};
}

DOPPEL_OP_SPEC(diagonal_backward_spec) {
  return OpSpec{.op = OpId::diagonal_backward,
                .dtypes = kNumeric,
                .samples =
                    [](DType t) {
                      return std::vector<Sample>{
                          {"square",
                           {in({4}, t, 1)},
                           DiagonalBackwardAttrs{.input_shape = {4, 4}, .offset = 0, .dim1 = 0, .dim2 = 1}.pack()},
                          {"offset 2",
                           {in({3}, t, 2)},
                           DiagonalBackwardAttrs{.input_shape = {3, 5}, .offset = 2, .dim1 = 0, .dim2 = 1}.pack()},
                          {"3-d",
                           {in({2, 2}, t, 3)},
                           DiagonalBackwardAttrs{.input_shape = {3, 2, 4}, .offset = 1, .dim1 = 2, .dim2 = 0}.pack()},
                          {"empty",
                           {in({0}, t, 4)},
                           DiagonalBackwardAttrs{.input_shape = {3, 3}, .offset = 4, .dim1 = 0, .dim2 = 1}.pack()},
                          {"large",
                           {in({200}, t, 5)},
                           DiagonalBackwardAttrs{.input_shape = {200, 300}, .offset = 0, .dim1 = 0, .dim2 = 1}.pack()}};
                    },
                .errors =
                    [] {
                      return std::vector<ErrorSample>{
                          {"gradient shape differs from the diagonal",
                           {in({3}, DType::Float32, 1)},
                           DiagonalBackwardAttrs{.input_shape = {4, 4}, .offset = 0, .dim1 = 0, .dim2 = 1}.pack(),
                           ErrorKind::Shape,
                           "diagonal"}};
                    },
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(unfold_backward_spec) {
  return OpSpec{
      .op = OpId::unfold_backward,
      .dtypes = kNumeric,
      .samples =
          [](DType t) {
            return std::vector<Sample>{
                {"overlapping",
                 {in({5, 3}, t, 1)},
                 UnfoldBackwardAttrs{.input_shape = {7}, .dim = 0, .size = 3, .step = 1}.pack()},
                {"step 2 dim 1",
                 {in({2, 3, 3, 3}, t, 2)},
                 UnfoldBackwardAttrs{.input_shape = {2, 8, 3}, .dim = 1, .size = 3, .step = 2}.pack()},
                {"gaps",
                 {in({3, 3, 2}, t, 3)},
                 UnfoldBackwardAttrs{.input_shape = {3, 10}, .dim = -1, .size = 2, .step = 4}.pack()},
                {"0-d", {in({1}, t, 4)}, UnfoldBackwardAttrs{.input_shape = {}, .dim = 0, .size = 1, .step = 1}.pack()},
                {"large",
                 {in({64, 36, 16}, t, 5)},
                 UnfoldBackwardAttrs{.input_shape = {64, 300}, .dim = 1, .size = 16, .step = 8}.pack()}};
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{
                {"gradient shape differs from the windows",
                 {in({4, 3}, DType::Float32, 1)},
                 UnfoldBackwardAttrs{.input_shape = {7}, .dim = 0, .size = 3, .step = 1}.pack(),
                 ErrorKind::Shape,
                 "unfold"}};
          },
      .gradgradcheck = true};
}

TEST_CASE("diagonal: values, offsets, and a view that shares storage", "[views]") {
  const Tensor x = iota({3, 4});  // rows 0..3, 4..7, 8..11
  CHECK(values(diagonal(x)) == std::vector<double>{0, 5, 10});
  CHECK(values(diagonal(x, 1)) == std::vector<double>{1, 6, 11});
  CHECK(values(diagonal(x, -1)) == std::vector<double>{4, 9});
  CHECK(values(diagonal(x, 4)).empty());
  CHECK(values(diagonal(x, 0, 1, 0)) == std::vector<double>{0, 5, 10});
  const Tensor b = iota({2, 2, 2});  // [b][i][j] = 4b + 2i + j
  CHECK(values(diagonal(b, 0, 1, 2)) == std::vector<double>{0, 3, 4, 7});
  CHECK(values(diagonal(b, 0, 0, 2)) == std::vector<double>{0, 5, 2, 7});  // [i][k]: (k, i, k)
  const Tensor d = diagonal(x, 1);
  CHECK(shares(d, x));
  copy_(d, full({3}, -1.0, TensorOptions{.dtype = DType::Float64}));
  CHECK(values(x) == std::vector<double>{0, -1, 2, 3, 4, 5, -1, 7, 8, 9, 10, -1});
}

TEST_CASE("unfold: windows as a view; its gradient sums overlapping windows", "[views]") {
  const Tensor x = iota({6});
  CHECK(values(unfold(x, 0, 3, 2)) == std::vector<double>{0, 1, 2, 2, 3, 4});
  CHECK(values(unfold(x, 0, 2, 3)) == std::vector<double>{0, 1, 3, 4});
  const Tensor m = iota({2, 5});
  CHECK(values(unfold(m, 1, 2, 2)) == std::vector<double>{0, 1, 2, 3, 5, 6, 7, 8});
  CHECK(unfold(m, 1, 2, 2).shape() == Shape{2, 2, 2});
  CHECK(shares(unfold(m, 0, 1, 1), m));
  const Tensor leaf = iota({5}).set_requires_grad(true);
  // Windows [0..2], [1..3], [2..4]: element k is in min(k + 1, 3, 5 - k) windows.
  CHECK(values(grad({sum(unfold(leaf, 0, 3, 1))}, {leaf})[0]) == std::vector<double>{1, 2, 3, 2, 1});
  CHECK(values(grad({sum(unfold(leaf, 0, 2, 3))}, {leaf})[0]) == std::vector<double>{1, 1, 0, 1, 1});
}

TEST_CASE("diag: vector to matrix and matrix to a diagonal copy", "[views]") {
  const Tensor v = tensor(std::vector<double>{1, 2});
  CHECK(values(diag(v)) == std::vector<double>{1, 0, 0, 2});
  CHECK(values(diag(v, 1)) == std::vector<double>{0, 1, 0, 0, 0, 2, 0, 0, 0});
  CHECK(values(diag(v, -1)) == std::vector<double>{0, 0, 0, 1, 0, 0, 0, 2, 0});
  const Tensor m = iota({2, 3});
  const Tensor d = diag(m, 1);
  CHECK(values(d) == std::vector<double>{1, 5});
  CHECK(!shares(d, m));
  CHECK_THROWS_AS(diag(iota({2, 2, 2})), ShapeError);
  const Tensor leaf = tensor(std::vector<double>{3, 4}).set_requires_grad(true);
  const Tensor w = reshape(tensor(std::vector<double>{1, 2, 3, 4}), {2, 2});
  CHECK(values(grad({sum(mul(diag(leaf), w))}, {leaf})[0]) == std::vector<double>{1, 4});
}

TEST_CASE("reductions and softmax of overlapping or interleaved views match their contiguous copies", "[views]") {
  // Regression: oneDNN's reduction and softmax entries threw building a memory descriptor for
  // these strides instead of declining (the reference kernel now runs).
  const Tensor windows = unfold(make_input({400}, DType::Float32, 1), 0, 16, 1);      // [385, 16], overlapping
  const Tensor diag = diagonal(make_input({4, 60, 60}, DType::Float32, 2), 0, 1, 2);  // [4, 60], interleaved
  const Tolerance tol{1e-5, 1e-5};
  for (const Tensor& v : {windows, diag}) {
    const Tensor c = contiguous(v);
    DOPPEL_REQUIRE_CLOSE(sum(v, {1}), sum(c, {1}), tol);
    DOPPEL_REQUIRE_CLOSE(mean(v), mean(c), tol);
    DOPPEL_REQUIRE_CLOSE(amax(v, {0}), amax(c, {0}), tol);
    DOPPEL_REQUIRE_CLOSE(softmax(v, -1), softmax(c, -1), tol);
    DOPPEL_REQUIRE_CLOSE(log_softmax(v, 0), log_softmax(c, 0), tol);
  }
}

}  // namespace doppel::testing
