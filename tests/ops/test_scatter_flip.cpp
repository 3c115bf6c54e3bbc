// Specs and value tests of scatter and flip, and of roll / fliplr / flipud (compositions).
#include <cmath>

#include "doppel/kernels/op_attrs/indexing.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kAllDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8,
                                       DType::UInt8,   DType::Int32,   DType::Int64,    DType::Bool};

Attrs dim_attr(int64_t d) { return DimAttrs{.dim = d}.pack(); }
Attrs dims_attr(IntList d) { return FlipAttrs{.dims = d}.pack(); }
Tensor i64(std::vector<int64_t> v, IntList shape) { return reshape(tensor(v), shape); }
std::vector<double> values(const Tensor& t) { return t.to(DType::Float64).to_vector<double>(); }
Tensor iota(IntList shape) {
  return reshape(arange(0, double(numel_of(shape)), 1, TensorOptions{.dtype = DType::Float64}), shape);
}

// A permutation of 0..rows-1 per column when rows is prime and cols < rows (so every position is
// written once: the gradient w.r.t. src is then well defined for finite differences), as a
// [rows, cols] index for dim 0.
Tensor column_permutations(int64_t rows, int64_t cols) {
  std::vector<int64_t> v(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) v[size_t(r * cols + c)] = (r * (c + 1) + c) % rows;
  return i64(v, {rows, cols});
}

}  // namespace

DOPPEL_OP_SPEC(scatter_spec) {
  return OpSpec{
      .op = OpId::scatter,
      .dtypes = kAllDTypes,
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
                {"dim 0 permutation",
                 {make_input({5, 4}, dt, 1), column_permutations(5, 4), make_input({5, 4}, dt, 2)},
                 dim_attr(0)},
                {"dim 1 fewer indices, int32, larger src",
                 {make_input({4, 5}, dt, 3), transpose(column_permutations(5, 2), 0, 1).to(DType::Int32),
                  make_input({4, 6}, dt, 4)},
                 dim_attr(1)},
                {"negative dim",
                 {make_input({3, 5}, dt, 5), i64({4, 0, 2}, {1, 3}), make_input({1, 3}, dt, 6)},
                 dim_attr(-1)},
                {"0-d", {make_input({}, dt, 7), i64({0}, {}), make_input({}, dt, 8)}, dim_attr(0)},
                {"empty index", {make_input({4, 5}, dt, 9), i64({}, {0, 5}), make_input({0, 5}, dt, 10)}, dim_attr(0)},
                {"large",
                 {make_input({97, 90}, dt, 11), column_permutations(97, 90), make_input({97, 90}, dt, 12)},
                 dim_attr(0)}};
          },
      .errors =
          [] {
            const DType f = DType::Float32;
            const Tensor x = make_input({4, 5}, f, 1);
            // Every error sample scatters into x.
            auto into_x = [&](const char* name, Tensor idx, Tensor src, int64_t dim, ErrorKind kind, const char* msg) {
              return ErrorSample{name, {x, std::move(idx), std::move(src)}, dim_attr(dim), kind, msg};
            };
            const Tensor one = make_input({1, 1}, f, 3);
            return std::vector<ErrorSample>{
                into_x("src dtype", i64({0}, {1, 1}), one.to(DType::Float64), 0, ErrorKind::DType, "scatter"),
                into_x("index out of range", i64({4}, {1, 1}), one, 0, ErrorKind::Index,
                       "scatter: index 4 is out of range for dim 0 of size 4"),
                into_x("negative index", i64({-1}, {1, 1}), one, 1, ErrorKind::Index, "scatter: index -1"),
                into_x("float index", one, one, 0, ErrorKind::DType, "scatter"),
                into_x("index larger than src", i64({0, 1, 2, 3}, {2, 2}), make_input({1, 2}, f, 5), 0,
                       ErrorKind::Shape, "scatter"),
                into_x("index rank", i64({0, 1}, {2}), make_input({2}, f, 5), 0, ErrorKind::Shape, "scatter"),
                into_x("dim out of range", i64({0}, {1, 1}), one, 2, ErrorKind::Index, "scatter")};
          },
      .gradgradcheck = true};
}

DOPPEL_OP_SPEC(flip_spec) {
  return OpSpec{.op = OpId::flip,
                .dtypes = kAllDTypes,
                .samples =
                    [](DType dt) {
                      return std::vector<Sample>{{"dim 0", {make_input({4, 3}, dt, 1)}, dims_attr({0})},
                                                 {"two dims", {make_input({2, 3, 4}, dt, 2)}, dims_attr({0, 2})},
                                                 {"negative dim", {make_input({2, 5}, dt, 3)}, dims_attr({-1})},
                                                 {"no dims", {make_input({2, 3}, dt, 4)}, dims_attr({})},
                                                 {"0-d", {make_input({}, dt, 5)}, dims_attr({0})},
                                                 {"empty", {make_input({0, 3}, dt, 6)}, dims_attr({0, 1})},
                                                 {"large", {make_input({64, 300}, dt, 7)}, dims_attr({1})}};
                    },
                .errors =
                    [] {
                      const Tensor x = make_input({2, 3}, DType::Float32, 1);
                      return std::vector<ErrorSample>{
                          {"dim out of range", {x}, dims_attr({2}), ErrorKind::Index, "flip"},
                          {"repeated dim", {x}, dims_attr({0, -2}), ErrorKind::Index, "flip"}};
                    },
                .gradgradcheck = true};
}

TEST_CASE("scatter: values, value form, last write wins, in place", "[indexing]") {
  const Tensor x = zeros({3, 4}, TensorOptions{.dtype = DType::Float64});
  const Tensor idx = i64({0, 1, 2, 0, 2, 0}, {2, 3});
  const Tensor src = iota({2, 4}) + 1.0;  // 1..8, only the [2, 3] corner is read
  // out[idx[i][j]][j] = src[i][j]
  CHECK(values(scatter(x, 0, idx, src)) == std::vector<double>{5, 0, 7, 0, 0, 2, 0, 0, 0, 6, 3, 0});
  CHECK(values(scatter(x, 1, i64({3, 1}, {1, 2}), 2.5)) == std::vector<double>{0, 2.5, 0, 2.5, 0, 0, 0, 0, 0, 0, 0, 0});
  // Two writes to one position: the later index entry wins.
  CHECK(values(scatter(zeros({2}, TensorOptions{.dtype = DType::Float64}), 0, i64({1, 1}, {2}),
                       tensor(std::vector<double>{4, 9}))) == std::vector<double>{0, 9});
  const Tensor y = zeros({2, 2}, {.dtype = DType::Int32});
  scatter_(y, 1, i64({1, 0}, {2, 1}), 7);
  CHECK(y.to_vector<int32_t>() == std::vector<int32_t>{0, 7, 7, 0});
}

TEST_CASE("scatter gradient: zero at the overwritten positions of x, gathered for src", "[indexing][autograd]") {
  const Tensor x = zeros({2, 3}, TensorOptions{.dtype = DType::Float64}).set_requires_grad(true);
  const Tensor src = tensor(std::vector<double>{1, 2}).reshape({1, 2}).set_requires_grad(true);
  const Tensor w = iota({2, 3}) + 1.0;  // 1..6
  const auto g = grad({sum(mul(scatter(x, 0, i64({1, 0}, {1, 2}), src), w))}, {x, src});
  CHECK(values(g[0]) == std::vector<double>{1, 0, 3, 0, 5, 6});  // (1,0) and (0,1) overwritten
  CHECK(values(g[1]) == std::vector<double>{4, 2});              // w[1][0], w[0][1]
}

TEST_CASE("flip: values, NaN and -0 kept, views as inputs", "[indexing]") {
  const Tensor x = iota({2, 3});
  CHECK(values(flip(x, {0})) == std::vector<double>{3, 4, 5, 0, 1, 2});
  CHECK(values(flip(x, {1})) == std::vector<double>{2, 1, 0, 5, 4, 3});
  CHECK(values(flip(x, {0, 1})) == std::vector<double>{5, 4, 3, 2, 1, 0});
  CHECK(values(flip(transpose(x, 0, 1), {0})) == std::vector<double>{2, 5, 1, 4, 0, 3});
  CHECK(values(fliplr(x)) == values(flip(x, {1})));
  CHECK(values(flipud(x)) == values(flip(x, {0})));
  const std::vector<double> f = values(flip(tensor(std::vector<float>{-0.0f, NAN, 1}), {0}));
  CHECK(f[0] == 1);
  CHECK(std::isnan(f[1]));
  CHECK(std::signbit(f[2]));
  CHECK_THROWS_AS(fliplr(tensor(std::vector<float>{1, 2})), ShapeError);
}

TEST_CASE("roll: positive, negative and multiple shifts, flattened, gradient", "[indexing]") {
  const Tensor x = iota({2, 3});
  CHECK(values(roll(x, {1}, {1})) == std::vector<double>{2, 0, 1, 5, 3, 4});
  CHECK(values(roll(x, {-1}, {1})) == std::vector<double>{1, 2, 0, 4, 5, 3});
  CHECK(values(roll(x, {4}, {1})) == values(roll(x, {1}, {1})));
  CHECK(values(roll(x, {1, 1}, {0, 1})) == std::vector<double>{5, 3, 4, 2, 0, 1});
  CHECK(values(roll(x, {2})) == std::vector<double>{4, 5, 0, 1, 2, 3});
  CHECK(values(roll(zeros({0, 2}), {3}, {0})).empty());
  CHECK_THROWS_AS(roll(x, {1, 2}, {0}), ValueError);
  const Tensor leaf = iota({4}).set_requires_grad(true);
  const Tensor w = tensor(std::vector<double>{1, 10, 100, 1000});
  // y[k] = x[(k - 1) mod 4]: dL/dx[j] = w[(j + 1) mod 4].
  CHECK(values(grad({sum(mul(roll(leaf, {1}, {0}), w))}, {leaf})[0]) == std::vector<double>{10, 100, 1000, 1});
}

}  // namespace doppel::testing
