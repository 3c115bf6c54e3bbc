// Specs and value tests of the fused elementwise backward ops.
#include <limits>

#include "support/op_spec.h"

namespace doppel::testing {

DOPPEL_OP_SPEC(relu_backward_spec) {
  return OpSpec{
      .op = OpId::relu_backward,
      .dtypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16},
      .samples =
          [](DType t) {
            return std::vector<Sample>{{"matrix", {make_input({4, 5}, t, 1), make_input({4, 5}, t, 2)}, {}},
                                       {"0-d", {make_input({}, t, 3), make_input({}, t, 4)}, {}},
                                       {"empty", {make_input({0, 3}, t, 5), make_input({0, 3}, t, 6)}, {}},
                                       {"large", {make_input({257, 300}, t, 7), make_input({257, 300}, t, 8)}, {}}};
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{
                {"shape mismatch", {make_input({3}, DType::Float32, 1), make_input({4}, DType::Float32, 2)}, {},
                 ErrorKind::Shape, "relu_backward"},
                {"dtype mismatch", {make_input({3}, DType::Float32, 1), make_input({3}, DType::Float64, 2)}, {},
                 ErrorKind::DType, "relu_backward"}};
          },
      .gradgradcheck = true};
}

TEST_CASE("relu_backward passes the gradient where the output is positive", "[ops][elementwise]") {
  Tensor g = tensor(std::vector<float>{1, 2, 3, 4});
  Tensor y = tensor(std::vector<float>{0.5f, 0.f, -1.f, 2.f});
  CHECK(dispatch1(OpId::relu_backward, {g, y}).to_vector<float>() == std::vector<float>{1, 0, 0, 4});
}

// PyTorch's threshold_backward masks with y <= 0: a NaN output passes the gradient, a masked
// element gets 0 even for an inf gradient. Both sides of 4096 elements, float32 and float64.
TEST_CASE("relu_backward passes the gradient at a NaN output and masks an inf gradient", "[ops][elementwise]") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (int64_t n : {15, 4096}) {
      INFO(dtype_name(dt) << " n = " << n);
      std::vector<double> g(size_t(n), 1.5), y(size_t(n), 2.0);
      y[0] = nan;
      g[1] = inf, y[1] = 0.0;
      g[2] = 3.0, y[2] = -1.0;
      const std::vector<double> got =
          dispatch1(OpId::relu_backward, {to_dtype(tensor(g), dt), to_dtype(tensor(y), dt)}).to_vector<double>();
      CHECK(got[0] == 1.5);
      CHECK(got[1] == 0.0);
      CHECK(got[2] == 0.0);
      CHECK(got[size_t(n - 1)] == 1.5);
    }
  }
}

}  // namespace doppel::testing
