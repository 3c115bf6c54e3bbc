// Specs and value tests of the fused elementwise backward ops.
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

}  // namespace doppel::testing
