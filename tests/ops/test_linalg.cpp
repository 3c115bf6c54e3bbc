// Specs and value tests of matmul, linear and convolution.
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kFloat = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};
const std::vector<DType> kMatmulDTypes = {DType::Float32, DType::Float64, DType::BFloat16,
                                          DType::Float16, DType::Int32,   DType::Int64};

// Both backends accumulate in float for 16-bit inputs; the tolerance covers the final rounding
// and summation-order differences over reductions of a few hundred terms of O(1) values.
Tolerance reduction_tolerance(DType dt) {
  switch (dt) {
    case DType::Float64:
      return {1e-10, 1e-10};
    case DType::Float32:
      return {1e-4, 1e-4};
    case DType::BFloat16:
      return {2e-2, 5e-2};
    case DType::Float16:
      return {4e-3, 1e-2};
    default:
      return {0, 0};
  }
}

Tensor in(IntList shape, DType dt, uint64_t seed) { return make_input(shape, dt, seed); }

std::vector<Sample> matmul_samples(DType dt) {
  return {{"2-d", {in({2, 3}, dt, 1), in({3, 4}, dt, 2)}, {}},
          {"dot", {in({5}, dt, 3), in({5}, dt, 4)}, {}},
          {"vector @ matrix", {in({4}, dt, 5), in({4, 3}, dt, 6)}, {}},
          {"matrix @ vector", {in({3, 4}, dt, 7), in({4}, dt, 8)}, {}},
          {"batched broadcast", {in({2, 1, 3, 4}, dt, 9), in({5, 4, 6}, dt, 10)}, {}},
          {"batched @ vector", {in({2, 3, 4}, dt, 11), in({4}, dt, 12)}, {}},
          {"vector @ batched", {in({4}, dt, 13), in({2, 4, 3}, dt, 14)}, {}},
          {"transposed b", {in({3, 20}, dt, 15), transpose(in({9, 20}, dt, 16), 0, 1)}, {}},
          {"transposed a", {transpose(in({20, 3}, dt, 17), 0, 1), in({20, 9}, dt, 18)}, {}},
          {"batched transposed b", {in({2, 5, 20}, dt, 19), transpose(in({2, 7, 20}, dt, 20), 1, 2)}, {}},
          {"broadcast batch view", {expand(in({1, 6, 20}, dt, 21), {3, 6, 20}), in({3, 20, 5}, dt, 22)}, {}},
          {"empty batch", {in({0, 3, 4}, dt, 23), in({4, 2}, dt, 24)}, {}},
          {"K=0", {in({3, 0}, dt, 25), in({0, 4}, dt, 26)}, {}},
          {"large", {in({130, 257}, dt, 27), in({257, 65}, dt, 28)}, {}},
          {"large batched", {in({3, 33, 70}, dt, 29), in({70, 17}, dt, 30)}, {}}};
}

std::vector<Sample> linear_samples(DType dt) {
  return {{"bias", {in({4, 3}, dt, 1), in({5, 3}, dt, 2), in({5}, dt, 3)}, {}},
          {"no bias", {in({4, 3}, dt, 4), in({5, 3}, dt, 5)}, {}},
          {"1-d input", {in({3}, dt, 6), in({2, 3}, dt, 7), in({2}, dt, 8)}, {}},
          {"batched", {in({2, 3, 4}, dt, 9), in({6, 4}, dt, 10), in({6}, dt, 11)}, {}},
          {"transposed input", {transpose(in({7, 5}, dt, 12), 0, 1), in({6, 7}, dt, 13), in({6}, dt, 14)}, {}},
          {"empty", {in({0, 3}, dt, 15), in({4, 3}, dt, 16), in({4}, dt, 17)}, {}},
          {"K=0", {in({2, 0}, dt, 18), in({3, 0}, dt, 19), in({3}, dt, 20)}, {}},
          {"large", {in({130, 257}, dt, 21), in({65, 257}, dt, 22), in({65}, dt, 23)}, {}}};
}

Attrs conv_attrs(IntList stride, IntList pad, IntList dil, int64_t groups, bool transposed = false,
                 IntList out_pad = {}) {
  Shape op = out_pad.empty() ? Shape(stride.size(), 0) : Shape(out_pad);
  return ConvolutionAttrs{.stride = stride,
                          .padding = pad,
                          .dilation = dil,
                          .groups = groups,
                          .transposed = transposed,
                          .output_padding = op}
      .pack();
}

std::vector<Sample> conv_samples(DType dt) {
  return {
      {"1d", {in({2, 4, 10}, dt, 1), in({6, 4, 3}, dt, 2), in({6}, dt, 3)}, conv_attrs({1}, {0}, {1}, 1)},
      {"1d stride pad dilation", {in({2, 4, 11}, dt, 4), in({6, 4, 3}, dt, 5)}, conv_attrs({2}, {1}, {2}, 1)},
      {"2d", {in({2, 3, 7, 6}, dt, 6), in({4, 3, 3, 2}, dt, 7), in({4}, dt, 8)}, conv_attrs({1, 1}, {0, 0}, {1, 1}, 1)},
      {"2d asymmetric", {in({2, 3, 9, 8}, dt, 9), in({5, 3, 3, 2}, dt, 10)}, conv_attrs({2, 1}, {1, 0}, {1, 2}, 1)},
      {"2d groups",
       {in({1, 4, 5, 5}, dt, 11), in({6, 2, 3, 3}, dt, 12), in({6}, dt, 13)},
       conv_attrs({1, 1}, {1, 1}, {1, 1}, 2)},
      {"2d depthwise", {in({2, 3, 6, 6}, dt, 14), in({3, 1, 3, 3}, dt, 15)}, conv_attrs({2, 2}, {1, 1}, {1, 1}, 3)},
      {"2d small stride pad dilation bias",
       {in({1, 2, 6, 5}, dt, 33), in({3, 2, 2, 3}, dt, 34), in({3}, dt, 35)},
       conv_attrs({2, 1}, {1, 1}, {1, 2}, 1)},
      {"2d floor leftover",
       {in({1, 2, 8, 8}, dt, 16), in({3, 2, 3, 3}, dt, 17)},
       conv_attrs({2, 2}, {0, 0}, {1, 1}, 1)},
      {"empty batch", {in({0, 3, 5, 5}, dt, 18), in({4, 3, 3, 3}, dt, 19)}, conv_attrs({1, 1}, {0, 0}, {1, 1}, 1)},
      {"3d",
       {in({1, 2, 4, 5, 6}, dt, 20), in({3, 2, 2, 3, 2}, dt, 21), in({3}, dt, 22)},
       conv_attrs({1, 1, 2}, {0, 1, 0}, {1, 1, 1}, 1)},
      {"transposed 2d",
       {in({2, 4, 5, 5}, dt, 23), in({4, 3, 3, 3}, dt, 24), in({3}, dt, 25)},
       conv_attrs({2, 2}, {1, 1}, {1, 1}, 1, true, {1, 1})},
      {"transposed groups dilation",
       {in({1, 4, 4, 4}, dt, 26), in({4, 2, 3, 3}, dt, 27)},
       conv_attrs({2, 2}, {0, 1}, {2, 1}, 2, true, {1, 0})},
      {"transposed 1d", {in({2, 3, 6}, dt, 28), in({3, 2, 4}, dt, 29)}, conv_attrs({3}, {2}, {1}, 1, true, {0})},
      {"large",
       {in({8, 16, 28, 28}, dt, 30), in({16, 16, 3, 3}, dt, 31), in({16}, dt, 32)},
       conv_attrs({1, 1}, {1, 1}, {1, 1}, 1)},
  };
}

Tensor f32(IntList shape, uint64_t seed) { return make_input(shape, DType::Float32, seed); }

}  // namespace

DOPPEL_OP_SPEC(matmul_spec) {
  return OpSpec{.op = OpId::matmul,
                .dtypes = kMatmulDTypes,
                .samples = matmul_samples,
                .errors =
                    [] {
                      return std::vector<ErrorSample>{
                          {"0-d operand", {f32({}, 1), f32({3}, 2)}, {}, ErrorKind::Shape, "matmul"},
                          {"dtype mismatch",
                           {f32({2, 3}, 1), make_input({3, 2}, DType::Float64, 2)},
                           {},
                           ErrorKind::DType,
                           "float64"},
                          {"inner dim mismatch", {f32({2, 3}, 1), f32({4, 2}, 2)}, {}, ErrorKind::Shape, "[4, 2]"},
                          {"batch mismatch", {f32({2, 2, 3}, 1), f32({3, 3, 2}, 2)}, {}, ErrorKind::Shape, "matmul"},
                          {"bool",
                           {make_input({2, 2}, DType::Bool, 1), make_input({2, 2}, DType::Bool, 2)},
                           {},
                           ErrorKind::DType,
                           "bool"}};
                    },
                .tolerance = reduction_tolerance,
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(linear_spec) {
  return OpSpec{.op = OpId::linear,
                .dtypes = kMatmulDTypes,
                .samples = linear_samples,
                .errors =
                    [] {
                      return std::vector<ErrorSample>{
                          {"1-d weight", {f32({2, 3}, 1), f32({3}, 2)}, {}, ErrorKind::Shape, "linear"},
                          {"feature mismatch", {f32({2, 3}, 1), f32({4, 5}, 2)}, {}, ErrorKind::Shape, "[4, 5]"},
                          {"bias shape", {f32({2, 3}, 1), f32({4, 3}, 2), f32({3}, 3)}, {}, ErrorKind::Shape, "bias"},
                          {"dtype mismatch",
                           {f32({2, 3}, 1), make_input({4, 3}, DType::BFloat16, 2)},
                           {},
                           ErrorKind::DType,
                           "bfloat16"}};
                    },
                .tolerance = reduction_tolerance,
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(convolution_spec) {
  return OpSpec{
      .op = OpId::convolution,
      .dtypes = kFloat,
      .samples = conv_samples,
      .errors =
          [] {
            const Attrs a2 = conv_attrs({1, 1}, {0, 0}, {1, 1}, 1);
            return std::vector<ErrorSample>{
                {"channel mismatch", {f32({1, 3, 5, 5}, 1), f32({4, 2, 3, 3}, 2)}, a2, ErrorKind::Shape, "channels"},
                {"groups do not divide",
                 {f32({1, 4, 5, 5}, 1), f32({3, 2, 3, 3}, 2)},
                 conv_attrs({1, 1}, {0, 0}, {1, 1}, 2),
                 ErrorKind::Shape,
                 "groups"},
                {"kernel larger than input",
                 {f32({1, 3, 2, 2}, 1), f32({4, 3, 3, 3}, 2)},
                 a2,
                 ErrorKind::Shape,
                 "larger"},
                {"zero stride",
                 {f32({1, 3, 5, 5}, 1), f32({4, 3, 3, 3}, 2)},
                 conv_attrs({0, 1}, {0, 0}, {1, 1}, 1),
                 ErrorKind::Value,
                 "stride"},
                {"zero dilation",
                 {f32({1, 3, 5, 5}, 1), f32({4, 3, 3, 3}, 2)},
                 conv_attrs({1, 1}, {0, 0}, {0, 1}, 1),
                 ErrorKind::Value,
                 "dilation"},
                {"negative padding",
                 {f32({1, 3, 5, 5}, 1), f32({4, 3, 3, 3}, 2)},
                 conv_attrs({1, 1}, {-1, 0}, {1, 1}, 1),
                 ErrorKind::Value,
                 "padding"},
                {"list length",
                 {f32({1, 3, 5, 5}, 1), f32({4, 3, 3, 3}, 2)},
                 conv_attrs({1}, {0}, {1}, 1),
                 ErrorKind::Value,
                 "stride"},
                {"zero groups",
                 {f32({1, 3, 5, 5}, 1), f32({4, 3, 3, 3}, 2)},
                 conv_attrs({1, 1}, {0, 0}, {1, 1}, 0),
                 ErrorKind::Value,
                 "groups"},
                {"unbatched input",
                 {f32({3, 5, 5}, 1), f32({4, 3, 3, 3}, 2)},
                 conv_attrs({1}, {0}, {1}, 1),
                 ErrorKind::Shape,
                 "convolution"},
                {"bias shape", {f32({1, 3, 5, 5}, 1), f32({4, 3, 3, 3}, 2), f32({3}, 3)}, a2, ErrorKind::Shape, "bias"},
                {"output padding too big",
                 {f32({1, 4, 5, 5}, 1), f32({4, 3, 3, 3}, 2)},
                 conv_attrs({2, 2}, {0, 0}, {1, 1}, 1, true, {2, 0}),
                 ErrorKind::Value,
                 "output_padding"},
                {"transposed channel mismatch",
                 {f32({1, 3, 5, 5}, 1), f32({4, 3, 3, 3}, 2)},
                 conv_attrs({1, 1}, {0, 0}, {1, 1}, 1, true, {0, 0}),
                 ErrorKind::Shape,
                 "channels"},
                {"int dtype",
                 {make_input({1, 3, 5, 5}, DType::Int32, 1), make_input({4, 3, 3, 3}, DType::Int32, 2)},
                 a2,
                 ErrorKind::DType,
                 "int32"}};
          },
      .tolerance = reduction_tolerance,
      .gradgradcheck = true};
}

namespace {

// Inputs of a convolution_backward sample: (grad_out, input, weight) for the forward call
// (x, w, attrs), with output_mask appended to the attributes.
Sample conv_backward_sample(std::string name, DType dt, IntList x, IntList w, const Attrs& fwd, IntList mask,
                            uint64_t seed) {
  const Tensor xi = in(x, dt, seed), wi = in(w, dt, seed + 1);
  const Shape out = dispatch1(OpId::convolution, {xi, wi}, fwd).shape();
  Attrs a = fwd;
  a.push_back(Attr::of_ints(mask));
  return {std::move(name), {in(out, dt, seed + 2), xi, wi}, a};
}

std::vector<Sample> conv_backward_samples(DType dt) {
  const Attrs plain2 = conv_attrs({1, 1}, {0, 0}, {1, 1}, 1);
  return {
      conv_backward_sample("2d", dt, {2, 3, 6, 5}, {4, 3, 3, 2}, plain2, {1, 1, 1}, 1),
      conv_backward_sample("2d grad_input only", dt, {2, 3, 6, 5}, {4, 3, 3, 2}, plain2, {1, 0, 0}, 4),
      conv_backward_sample("2d weight and bias only", dt, {2, 3, 6, 5}, {4, 3, 3, 2}, plain2, {0, 1, 1}, 7),
      conv_backward_sample("2d bias only", dt, {1, 3, 5, 5}, {2, 3, 3, 3}, plain2, {0, 0, 1}, 10),
      conv_backward_sample("2d stride pad dilation groups", dt, {1, 4, 7, 6}, {6, 2, 3, 3},
                           conv_attrs({2, 1}, {1, 1}, {1, 2}, 2), {1, 1, 1}, 13),
      conv_backward_sample("2d floor leftover", dt, {1, 2, 8, 8}, {3, 2, 3, 3}, conv_attrs({2, 2}, {0, 0}, {1, 1}, 1),
                           {1, 1, 0}, 16),
      conv_backward_sample("1d", dt, {2, 3, 9}, {4, 3, 3}, conv_attrs({2}, {1}, {1}, 1), {1, 1, 1}, 19),
      conv_backward_sample("transposed 2d", dt, {1, 4, 3, 3}, {4, 3, 3, 3},
                           conv_attrs({2, 2}, {1, 1}, {1, 1}, 1, true, {1, 1}), {1, 1, 1}, 22),
      conv_backward_sample("transposed groups dilation", dt, {1, 4, 3, 3}, {4, 2, 2, 2},
                           conv_attrs({2, 2}, {0, 1}, {2, 1}, 2, true, {1, 0}), {1, 1, 1}, 25),
      conv_backward_sample("3d", dt, {1, 2, 4, 5, 6}, {3, 2, 2, 3, 2}, conv_attrs({1, 1, 2}, {0, 1, 0}, {1, 1, 1}, 1),
                           {1, 1, 1}, 28),
      conv_backward_sample("empty batch", dt, {0, 3, 5, 5}, {4, 3, 3, 3}, plain2, {1, 1, 1}, 31),
      conv_backward_sample("large", dt, {8, 16, 28, 28}, {16, 16, 3, 3}, conv_attrs({1, 1}, {1, 1}, {1, 1}, 1),
                           {1, 1, 1}, 34),
      conv_backward_sample("large transposed", dt, {4, 16, 14, 14}, {16, 8, 3, 3},
                           conv_attrs({2, 2}, {1, 1}, {1, 1}, 1, true, {1, 1}), {1, 1, 1}, 37),
  };
}

// grad_weight sums N*OH*OW products (thousands in the large samples): the tolerance covers the
// summation-order difference in float and the final rounding of 16-bit results of size ~100.
Tolerance conv_backward_tolerance(DType dt) {
  switch (dt) {
    case DType::Float64:
      return {1e-9, 1e-9};
    case DType::Float32:
      return {1e-3, 1e-3};
    case DType::BFloat16:
      return {5e-2, 1e-1};
    case DType::Float16:
      return {1e-2, 2e-2};
    default:
      return {0, 0};
  }
}

}  // namespace

DOPPEL_OP_SPEC(convolution_backward_spec) {
  return OpSpec{.op = OpId::convolution_backward,
                .dtypes = kFloat,
                .samples = conv_backward_samples,
                .errors =
                    [] {
                      Attrs a = conv_attrs({1, 1}, {0, 0}, {1, 1}, 1);
                      a.push_back(Attr::of_ints({1, 1, 1}));
                      Attrs bad_mask = conv_attrs({1, 1}, {0, 0}, {1, 1}, 1);
                      bad_mask.push_back(Attr::of_ints({1, 1}));
                      return std::vector<ErrorSample>{
                          {"grad_out shape",
                           {f32({1, 4, 2, 2}, 1), f32({1, 3, 5, 5}, 2), f32({4, 3, 3, 3}, 3)},
                           a,
                           ErrorKind::Shape,
                           "grad_out"},
                          {"grad_out dtype",
                           {make_input({1, 4, 3, 3}, DType::Float64, 1), f32({1, 3, 5, 5}, 2), f32({4, 3, 3, 3}, 3)},
                           a,
                           ErrorKind::DType,
                           "grad_out"},
                          {"channel mismatch",
                           {f32({1, 4, 3, 3}, 1), f32({1, 2, 5, 5}, 2), f32({4, 3, 3, 3}, 3)},
                           a,
                           ErrorKind::Shape,
                           "channels"},
                          {"mask length",
                           {f32({1, 4, 3, 3}, 1), f32({1, 3, 5, 5}, 2), f32({4, 3, 3, 3}, 3)},
                           bad_mask,
                           ErrorKind::Value,
                           "output_mask"}};
                    },
                .tolerance = conv_backward_tolerance,
                .gradgradcheck = true};
}

// ---- Value tests: the reference kernel against independent double-precision loops.

namespace {

std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }

// Runs fn with the reference backend forced (the kernel under test is the oracle itself).
template <typename F>
Tensor on_reference(F&& fn) {
  ForceBackendGuard g(Backend::Reference);
  return fn();
}

void require_close(const Tensor& actual, const Tensor& expected, Tolerance tol) {
  DOPPEL_REQUIRE_CLOSE(actual, expected, tol);
}

}  // namespace

TEST_CASE("matmul: hand-computed products and shapes", "[ops][linalg]") {
  const Tensor a = tensor(std::vector<float>{1, 2, 3, 4}, {2, 2}), b = tensor(std::vector<float>{5, 6, 7, 8}, {2, 2});
  CHECK(matmul(a, b).to_vector<float>() == std::vector<float>{19, 22, 43, 50});
  CHECK(on_reference([&] { return matmul(a, b); }).to_vector<float>() == std::vector<float>{19, 22, 43, 50});
  CHECK(a.matmul(b.t()).to_vector<float>() == std::vector<float>{17, 23, 39, 53});
  const Tensor v = tensor(std::vector<float>{1, 2});
  const Tensor dot = matmul(v, v);
  CHECK(dot.dim() == 0);
  CHECK(dot.item<float>() == 5.0f);
  CHECK(matmul(v, a).to_vector<float>() == std::vector<float>{7, 10});
  CHECK(matmul(a, v).to_vector<float>() == std::vector<float>{5, 11});
  CHECK(matmul(f32({2, 1, 3, 4}, 1), f32({5, 4, 6}, 2)).shape() == Shape{2, 5, 3, 6});
  CHECK(matmul(f32({4}, 1), f32({2, 4, 3}, 2)).shape() == Shape{2, 3});
  const Tensor z = matmul(f32({3, 0}, 1), f32({0, 4}, 2));
  CHECK(z.shape() == Shape{3, 4});
  CHECK(z.to_vector<float>() == std::vector<float>(12, 0.0f));
  CHECK(matmul(tensor(std::vector<int64_t>{1, 2, 3, 4}, {2, 2}), tensor(std::vector<int64_t>{1, 1}))
            .to_vector<int64_t>() == std::vector<int64_t>{3, 7});
  CHECK_THROWS_AS(mm(f32({2, 3, 4}, 1), f32({4, 2}, 2)), ShapeError);
  CHECK_THROWS_AS(bmm(f32({2, 3, 4}, 1), f32({3, 4, 2}, 2)), ShapeError);
  CHECK(bmm(f32({2, 3, 4}, 1), f32({2, 4, 5}, 2)).shape() == Shape{2, 3, 5});
}

TEST_CASE("matmul: reference and default backend match a naive loop", "[ops][linalg]") {
  // [2,1,3,4] @ [5,4,6] -> [2,5,3,6]: a's batch dim 1 and b's missing dim broadcast.
  const Tensor a = make_input({2, 1, 3, 4}, DType::Float64, 1), b = make_input({5, 4, 6}, DType::Float64, 2);
  const std::vector<double> av = vals(a), bv = vals(b);
  std::vector<double> expect(2 * 5 * 3 * 6, 0.0);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 5; ++j)
      for (int m = 0; m < 3; ++m)
        for (int n = 0; n < 6; ++n) {
          double s = 0;
          for (int k = 0; k < 4; ++k) s += av[size_t((i * 3 + m) * 4 + k)] * bv[size_t((j * 4 + k) * 6 + n)];
          expect[size_t(((i * 5 + j) * 3 + m) * 6 + n)] = s;
        }
  const Tensor e = tensor(expect, {2, 5, 3, 6});
  require_close(on_reference([&] { return matmul(a, b); }), e, {1e-12, 1e-12});
  require_close(on_reference([&] { return matmul(a.to(DType::Float32), b.to(DType::Float32)); }), e.to(DType::Float32),
                {1e-5, 1e-5});
  require_close(matmul(a.to(DType::Float32), b.to(DType::Float32)), e.to(DType::Float32), {1e-5, 1e-5});
}

TEST_CASE("linear: matches x @ w^T + b computed by hand", "[ops][linalg]") {
  const Tensor x = tensor(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor w = tensor(std::vector<float>{1, 0, -1, 2, 1, 0}, {2, 3});
  const Tensor b = tensor(std::vector<float>{10, 20});
  const std::vector<float> expect{1 - 3 + 10, 2 + 2 + 20, 4 - 6 + 10, 8 + 5 + 20};
  CHECK(linear(x, w, b).to_vector<float>() == expect);
  CHECK(on_reference([&] { return linear(x, w, b); }).to_vector<float>() == expect);
  CHECK(linear(x, w).to_vector<float>() == std::vector<float>{-2, 4, -2, 13});
}

namespace {

// Direct 7-loop formula of a 2-d forward convolution in double.
std::vector<double> naive_conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t sh, int64_t sw,
                                 int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t groups, Shape& out_shape) {
  const auto xv = vals(x), wv = vals(w);
  const std::vector<double> bv = bias.defined() ? vals(bias) : std::vector<double>();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = w.size(0), KH = w.size(2), KW = w.size(3), cg = C / groups, og = O / groups;
  const int64_t OH = (H + 2 * ph - dh * (KH - 1) - 1) / sh + 1, OW = (W + 2 * pw - dw * (KW - 1) - 1) / sw + 1;
  out_shape = {N, O, OH, OW};
  std::vector<double> y(size_t(N * O * OH * OW));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double s = bias.defined() ? bv[size_t(o)] : 0.0;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = oh * sh - ph + kh * dh, iw = ow * sw - pw + kw * dw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const int64_t ic = (o / og) * cg + c;
                s += xv[size_t(((n * C + ic) * H + ih) * W + iw)] * wv[size_t(((o * cg + c) * KH + kh) * KW + kw)];
              }
          y[size_t(((n * O + o) * OH + oh) * OW + ow)] = s;
        }
  return y;
}

// Transposed 2-d convolution as the scatter it is defined by: every input element adds
// x * w into the outputs its kernel window covers.
std::vector<double> naive_conv_transpose2d(const Tensor& x, const Tensor& w, int64_t s, int64_t p, int64_t op,
                                           int64_t d, int64_t groups, Shape& out_shape) {
  const auto xv = vals(x), wv = vals(w);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t og = w.size(1), O = og * groups, KH = w.size(2), KW = w.size(3), cg = C / groups;
  const int64_t OH = (H - 1) * s - 2 * p + d * (KH - 1) + op + 1, OW = (W - 1) * s - 2 * p + d * (KW - 1) + op + 1;
  out_shape = {N, O, OH, OW};
  std::vector<double> y(size_t(N * O * OH * OW), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ih = 0; ih < H; ++ih)
        for (int64_t iw = 0; iw < W; ++iw)
          for (int64_t oc = 0; oc < og; ++oc)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t oh = ih * s - p + kh * d, ow = iw * s - p + kw * d;
                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                const int64_t o = (c / cg) * og + oc;
                y[size_t(((n * O + o) * OH + oh) * OW + ow)] +=
                    xv[size_t(((n * C + c) * H + ih) * W + iw)] * wv[size_t(((c * og + oc) * KH + kh) * KW + kw)];
              }
  return y;
}

}  // namespace

TEST_CASE("convolution: reference and default backend match the direct formula", "[ops][linalg]") {
  struct Case {
    Shape x, w;
    int64_t sh, sw, ph, pw, dh, dw, groups;
    bool bias;
  };
  const Case cases[] = {{{2, 3, 7, 6}, {4, 3, 3, 2}, 1, 1, 0, 0, 1, 1, 1, true},
                        {{1, 4, 9, 8}, {6, 2, 3, 3}, 2, 1, 1, 2, 1, 2, 2, false},
                        {{2, 3, 6, 6}, {3, 1, 3, 3}, 2, 2, 1, 1, 1, 1, 3, true}};
  uint64_t seed = 100;
  for (const Case& k : cases) {
    const Tensor x = make_input(k.x, DType::Float64, seed++), w = make_input(k.w, DType::Float64, seed++);
    const Tensor b = k.bias ? make_input({k.w[0]}, DType::Float64, seed++) : Tensor();
    Shape os;
    const std::vector<double> ev = naive_conv2d(x, w, b, k.sh, k.sw, k.ph, k.pw, k.dh, k.dw, k.groups, os);
    const Tensor e = tensor(ev, os);
    auto run = [&](DType dt) {
      return conv2d(x.to(dt), w.to(dt), b.defined() ? b.to(dt) : b, {k.sh, k.sw}, {k.ph, k.pw}, {k.dh, k.dw}, k.groups);
    };
    require_close(on_reference([&] { return run(DType::Float64); }), e, {1e-12, 1e-12});
    require_close(run(DType::Float32), e.to(DType::Float32), {1e-5, 1e-5});
  }
  // 1-d through conv1d equals the 2-d formula with a height of 1.
  const Tensor x1 = make_input({2, 3, 10}, DType::Float64, 7), w1 = make_input({4, 3, 3}, DType::Float64, 8);
  Shape os;
  const std::vector<double> e1v = naive_conv2d(x1.unsqueeze(2), w1.unsqueeze(2), {}, 1, 2, 0, 1, 1, 2, 1, os);
  const Tensor e1 = tensor(e1v, os);
  require_close(on_reference([&] { return conv1d(x1, w1, {}, 2, 1, 2); }), e1.squeeze(2), {1e-12, 1e-12});
}

TEST_CASE("convolution: transposed matches the scatter definition", "[ops][linalg]") {
  struct Case {
    Shape x, w;
    int64_t s, p, op, d, groups;
  };
  const Case cases[] = {{{2, 4, 5, 5}, {4, 3, 3, 3}, 2, 1, 1, 1, 1},
                        {{1, 4, 4, 3}, {4, 2, 3, 2}, 2, 0, 1, 2, 2},
                        {{1, 2, 3, 3}, {2, 3, 2, 2}, 1, 0, 0, 1, 1}};
  uint64_t seed = 200;
  for (const Case& k : cases) {
    const Tensor x = make_input(k.x, DType::Float64, seed++), w = make_input(k.w, DType::Float64, seed++);
    Shape os;
    const std::vector<double> ev = naive_conv_transpose2d(x, w, k.s, k.p, k.op, k.d, k.groups, os);
    const Tensor e = tensor(ev, os);
    auto run = [&](DType dt) {
      return conv_transpose2d(x.to(dt), w.to(dt), {}, {k.s, k.s}, {k.p, k.p}, {k.op, k.op}, k.groups, {k.d, k.d});
    };
    require_close(on_reference([&] { return run(DType::Float64); }), e, {1e-12, 1e-12});
    require_close(run(DType::Float32), e.to(DType::Float32), {1e-5, 1e-5});
  }
  // A hand case: 1x1 input, 2x2 kernel, stride 1 -> the kernel scaled by the input.
  const Tensor x = tensor(std::vector<float>{3}, {1, 1, 1, 1}),
               w = tensor(std::vector<float>{1, 2, 3, 4}, {1, 1, 2, 2});
  CHECK(conv_transpose2d(x, w).to_vector<float>() == std::vector<float>{3, 6, 9, 12});
}

TEST_CASE("convolution: unbatched input and output sizes", "[ops][linalg]") {
  CHECK(conv2d(f32({3, 8, 8}, 1), f32({5, 3, 3, 3}, 2), {}, {2}, {1}).shape() == Shape{5, 4, 4});
  CHECK(conv1d(f32({2, 4, 10}, 1), f32({6, 2, 3}, 2), {}, 1, 0, 1, 2).shape() == Shape{2, 6, 8});
  CHECK(conv_transpose2d(f32({1, 4, 5, 5}, 1), f32({4, 3, 3, 3}, 2), {}, {2, 2}, {1, 1}, {1, 1}).shape() ==
        Shape{1, 3, 10, 10});
}

}  // namespace doppel::testing
