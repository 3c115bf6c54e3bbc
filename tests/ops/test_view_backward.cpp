// Specs and value tests of slice_backward and select_backward (the gradients of slice/select).
#include "doppel/kernels/op_attrs/views.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kFloat = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};

}  // namespace

DOPPEL_OP_SPEC(slice_backward_spec) {
  return OpSpec{
      .op = OpId::slice_backward,
      .dtypes = kFloat,
      .samples =
          [](DType t) {
            return std::vector<Sample>{
                {"rows 1:3",
                 {make_input({2, 4}, t, 1)},
                 SliceBackwardAttrs{.input_shape = {5, 4}, .dim = 0, .start = 1, .end = 3, .step = 1}.pack()},
                {"step 2 on dim 1",
                 {make_input({3, 3}, t, 2)},
                 SliceBackwardAttrs{.input_shape = {3, 6}, .dim = 1, .start = 0, .end = 6, .step = 2}.pack()},
                {"negative start",
                 {make_input({2, 2}, t, 3)},
                 SliceBackwardAttrs{.input_shape = {2, 5}, .dim = -1, .start = -2, .end = 5, .step = 1}.pack()},
                {"empty slice",
                 {make_input({0, 3}, t, 4)},
                 SliceBackwardAttrs{.input_shape = {4, 3}, .dim = 0, .start = 2, .end = 2, .step = 1}.pack()},
                {"large",
                 {make_input({300, 65}, t, 5)},
                 SliceBackwardAttrs{.input_shape = {600, 65}, .dim = 0, .start = 0, .end = 600, .step = 2}.pack()}};
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{
                {"gradient shape differs from the slice",
                 {make_input({3, 4}, DType::Float32, 1)},
                 SliceBackwardAttrs{.input_shape = {5, 4}, .dim = 0, .start = 1, .end = 3, .step = 1}.pack(),
                 ErrorKind::Shape,
                 "slice"}};
          },
      .gradgradcheck = true};
}

DOPPEL_OP_SPEC(select_backward_spec) {
  return OpSpec{
      .op = OpId::select_backward,
      .dtypes = kFloat,
      .samples =
          [](DType t) {
            return std::vector<Sample>{{"row",
                                        {make_input({4}, t, 1)},
                                        SelectBackwardAttrs{.input_shape = {3, 4}, .dim = 0, .index = 1}.pack()},
                                       {"negative index",
                                        {make_input({3}, t, 2)},
                                        SelectBackwardAttrs{.input_shape = {3, 5}, .dim = 1, .index = -1}.pack()},
                                       {"to 1-d",
                                        {make_input({}, t, 3)},
                                        SelectBackwardAttrs{.input_shape = {6}, .dim = 0, .index = 5}.pack()}};
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{{"index out of range",
                                             {make_input({4}, DType::Float32, 1)},
                                             SelectBackwardAttrs{.input_shape = {3, 4}, .dim = 0, .index = 3}.pack(),
                                             ErrorKind::Index,
                                             "select"}};
          },
      .gradgradcheck = true};
}

TEST_CASE("slice_backward and select_backward place the gradient and zero the rest", "[views][autograd]") {
  Tensor g = tensor(std::vector<float>{1, 2, 3, 4}, {2, 2});
  Tensor s = dispatch1(OpId::slice_backward, {g},
                       SliceBackwardAttrs{.input_shape = {2, 4}, .dim = 1, .start = 1, .end = 4, .step = 2}.pack());
  CHECK(s.to_vector<float>() == std::vector<float>{0, 1, 0, 2, 0, 3, 0, 4});
  Tensor r = dispatch1(OpId::select_backward, {tensor(std::vector<float>{7, 8})},
                       SelectBackwardAttrs{.input_shape = {3, 2}, .dim = 0, .index = -1}.pack());
  CHECK(r.to_vector<float>() == std::vector<float>{0, 0, 0, 0, 7, 8});
  // Through autograd: the gradient of x[1:3].sum() is the indicator of the slice.
  Tensor x = zeros({4}).set_requires_grad(true);
  sum(slice(x, 0, 1, 3)).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0, 1, 1, 0});
}

}  // namespace doppel::testing
