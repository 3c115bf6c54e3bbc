// Specs and value tests of the max pooling indices (max_pool2d_indices, adaptive_max_pool2d and
// its backward op) and of the 1-d pools; expected values were computed with PyTorch 1.13.
#include <cmath>

#include "doppel/kernels/op_attrs/pooling.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kFloat = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};

Tensor in(IntList shape, DType dt, uint64_t seed) { return make_input(shape, dt, seed); }
Attrs max_attrs(IntList k, IntList s, IntList p, IntList d, bool ceil) {
  return MaxPoolAttrs{.kernel_size = k, .stride = s, .padding = p, .dilation = d, .ceil_mode = ceil}.pack();
}
Attrs out_size(IntList o) { return AdaptivePoolAttrs{.output_size = o}.pack(); }
std::vector<double> values(const Tensor& t) { return t.to(DType::Float64).to_vector<double>(); }
std::vector<int64_t> ints(const Tensor& t) { return t.to_vector<int64_t>(); }

// Ties (3, 5, 7 twice) and two NaNs in one row: PyTorch keeps the first of equal maxima and
// moves to every later NaN.
Tensor tie_nan_input() {
  const double nan = std::nan("");
  return reshape(tensor(std::vector<double>{3, 1, 3, 2, 0, 1, 5, 5, 0, 4, 2, nan, 1, nan, 6, 7, 0, 7, 1, 2}),
                 {1, 1, 4, 5});
}

// Two copies of every value, so argmax ties are frequent.
Tensor with_ties(IntList shape, DType dt, uint64_t seed) { return round(mul(in(shape, dt, seed), 2.0)); }

std::vector<Sample> adaptive_max_samples(DType dt) {
  return {{"divisible", {in({2, 3, 8, 8}, dt, 1)}, out_size({4, 4})},
          {"overlapping windows", {in({2, 3, 7, 9}, dt, 2)}, out_size({3, 4})},
          {"global", {in({2, 2, 5, 6}, dt, 3)}, out_size({1})},
          {"upsampling", {in({1, 2, 3, 3}, dt, 4)}, out_size({5, 4})},
          // Over gradcheck's size limit: finite differences are not defined at ties.
          {"ties, 3-d input", {with_ties({3, 9, 9}, dt, 5)}, out_size({2, 3})},
          {"empty batch", {in({0, 3, 4, 4}, dt, 6)}, out_size({2, 2})},
          {"large", {in({4, 16, 28, 28}, dt, 7)}, out_size({7, 7})}};
}

}  // namespace

DOPPEL_OP_SPEC(max_pool2d_indices_spec) {
  return OpSpec{
      .op = OpId::max_pool2d_indices,
      .dtypes = kFloat,
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
                {"2x2", {in({2, 3, 8, 8}, dt, 1)}, max_attrs({2, 2}, {}, {0, 0}, {1, 1}, false)},
                {"ties padded 3-d", {with_ties({3, 7, 9}, dt, 2)}, max_attrs({3}, {2}, {1}, {1}, false)},
                {"ceil pad dilation", {in({2, 2, 10, 9}, dt, 3)}, max_attrs({3, 2}, {2, 3}, {1, 1}, {2, 1}, true)},
                {"empty batch", {in({0, 3, 4, 4}, dt, 4)}, max_attrs({2}, {}, {0}, {1}, false)},
                {"large", {in({4, 16, 32, 32}, dt, 5)}, max_attrs({3, 3}, {2, 2}, {1, 1}, {1, 1}, false)}};
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{{"int input",
                                             {make_input({1, 1, 4, 4}, DType::Int32, 1)},
                                             max_attrs({2}, {}, {0}, {1}, false),
                                             ErrorKind::DType,
                                             "max_pool2d_indices"},
                                            {"output too small",
                                             {in({1, 1, 2, 2}, DType::Float32, 1)},
                                             max_attrs({3}, {}, {0}, {1}, false),
                                             ErrorKind::Shape,
                                             "max_pool2d_indices"}};
          }};
}

DOPPEL_OP_SPEC(adaptive_max_pool2d_spec) {
  return OpSpec{
      .op = OpId::adaptive_max_pool2d,
      .dtypes = kFloat,
      .samples = adaptive_max_samples,
      .errors =
          [] {
            return std::vector<ErrorSample>{
                {"2-d input", {in({4, 4}, DType::Float32, 1)}, out_size({2}), ErrorKind::Shape, "adaptive_max_pool2d"},
                {"empty plane",
                 {in({1, 1, 0, 4}, DType::Float32, 1)},
                 out_size({2}),
                 ErrorKind::Shape,
                 "adaptive_max_pool2d"},
                {"negative size",
                 {in({1, 1, 4, 4}, DType::Float32, 1)},
                 out_size({-1, 2}),
                 ErrorKind::Value,
                 "adaptive_max_pool2d"},
                {"int input",
                 {make_input({1, 1, 4, 4}, DType::Int64, 1)},
                 out_size({2}),
                 ErrorKind::DType,
                 "adaptive_max_pool2d"}};
          },
      .gradgradcheck = true};
}

DOPPEL_OP_SPEC(adaptive_max_pool2d_backward_spec) {
  return OpSpec{.op = OpId::adaptive_max_pool2d_backward,
                .dtypes = kFloat,
                .samples =
                    [](DType dt) {
                      std::vector<Sample> out;
                      for (const Sample& s : adaptive_max_samples(dt)) {
                        const OpOutputs fwd = dispatch(OpId::adaptive_max_pool2d, s.inputs, s.attrs);
                        out.push_back({s.name, {in(fwd[0].shape(), dt, 99), s.inputs[0], fwd[1]}, s.attrs});
                      }
                      return out;
                    },
                .errors =
                    [] {
                      const Tensor x = in({1, 1, 4, 4}, DType::Float32, 1);
                      const Tensor g = in({1, 1, 2, 2}, DType::Float32, 2);
                      const Tensor idx = reshape(tensor(std::vector<int64_t>{0, 3, 8, 16}), {1, 1, 2, 2});
                      return std::vector<ErrorSample>{
                          {"grad shape",
                           {in({1, 1, 3, 2}, DType::Float32, 2), x, idx},
                           out_size({2}),
                           ErrorKind::Shape,
                           "adaptive_max_pool2d_backward"},
                          {"int32 indices",
                           {g, x, idx.to(DType::Int32)},
                           out_size({2}),
                           ErrorKind::DType,
                           "adaptive_max_pool2d_backward"},
                          {"index out of the plane", {g, x, idx}, out_size({2}), ErrorKind::Index, "index 16"}};
                    },
                .gradgradcheck = true};
}

TEST_CASE("max_pool2d indices: identical to PyTorch with ties and NaNs", "[pooling]") {
  const Tensor x = tie_nan_input();
  auto [v, i] = max_pool2d_with_indices(x, {2}, {1});
  CHECK(ints(i) == std::vector<int64_t>{6, 6, 7, 9, 11, 11, 13, 13, 11, 11, 13, 13});
  CHECK(values(v)[0] == 5);
  // A window holding both NaNs (11 and 13) reports the later one, as PyTorch's CPU kernel.
  auto [v2, i2] = max_pool2d_with_indices(x, {2, 3}, {2, 2}, {1, 1});
  CHECK(ints(i2) == std::vector<int64_t>{0, 2, 3, 11, 13, 13, 15, 17, 19});
  const std::vector<double> got = values(v2);
  CHECK(got[0] == 3);
  CHECK(std::isnan(got[4]));
  CHECK(got[6] == 7);
  auto [v3, i3] = max_pool2d_with_indices(x, {2}, {2}, {0}, {2});
  CHECK(ints(i3) == std::vector<int64_t>{0, 14});
  CHECK(values(v3) == std::vector<double>{3, 6});
}

TEST_CASE("max_pool2d gradient goes to the element PyTorch's index names (the last NaN)", "[pooling][autograd]") {
  // Regression: the backward kernel stopped at the first NaN of a window, PyTorch takes the last.
  const Tensor x = tie_nan_input().set_requires_grad(true);
  const Tensor w = reshape(arange(1, 10, 1, TensorOptions{.dtype = DType::Float64}), {1, 1, 3, 3});
  const Tensor g = grad({sum(mul(max_pool2d(x, {2, 3}, {2, 2}, {1, 1}), w))}, {x})[0];
  CHECK(values(g) == std::vector<double>{1, 0, 2, 3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 11, 0, 7, 0, 8, 0, 9});
}

TEST_CASE("adaptive_max_pool2d: values, indices and gradient as PyTorch", "[pooling][autograd]") {
  const Tensor x = tie_nan_input().set_requires_grad(true);
  auto [v, i] = adaptive_max_pool2d_with_indices(x, {3, 2});
  CHECK(ints(i) == std::vector<int64_t>{6, 7, 11, 13, 11, 13});
  CHECK(values(v)[0] == 5);
  CHECK(std::isnan(values(v)[2]));
  const Tensor w = reshape(arange(1, 7, 1, TensorOptions{.dtype = DType::Float64}), {1, 1, 3, 2});
  const Tensor g = grad({sum(mul(adaptive_max_pool2d(x, {3, 2}), w))}, {x})[0];
  CHECK(values(g) == std::vector<double>{0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 8, 0, 10, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("max_pool1d / avg_pool1d: values, indices and gradient as PyTorch", "[pooling][autograd]") {
  const double nan = std::nan("");
  const Tensor l = reshape(tensor(std::vector<double>{1, 4, 4, 2, nan, 3, 0}), {1, 1, 7}).set_requires_grad(true);
  auto [v, i] = max_pool1d_with_indices(l, 3, 2, 1);
  CHECK(ints(i) == std::vector<int64_t>{1, 1, 4, 5});
  CHECK(v.shape() == Shape{1, 1, 4});
  const Tensor w = reshape(tensor(std::vector<double>{1, 10, 100, 1000}), {1, 1, 4});
  CHECK(values(grad({sum(mul(max_pool1d(l, 3, 2, 1), w))}, {l})[0]) == std::vector<double>{0, 11, 0, 0, 100, 1000, 0});
  const Tensor a = reshape(tensor(std::vector<double>{1, 2, 3, 4, 5}), {1, 5});
  CHECK(values(avg_pool1d(a, 2, 2, 1, true, false)) == std::vector<double>{1, 2.5, 4.5});
  CHECK(values(avg_pool1d(a, 3, 2, 1)) == std::vector<double>{1, 3, 3});
  CHECK(avg_pool1d(a, 2).shape() == Shape{1, 2});
  CHECK_THROWS_AS(max_pool1d(reshape(a, {1, 1, 1, 5}), 2), ShapeError);
}

}  // namespace doppel::testing
