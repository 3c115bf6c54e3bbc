// Specs and value tests of slice_backward and select_backward (the gradients of slice/select).
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kFloat = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};

Attr ints(IntList v) { return Attr::of_ints(v); }
Attr i(int64_t v) { return Attr::of_int(v); }

}  // namespace

DOPPEL_OP_SPEC(slice_backward_spec) {
  return OpSpec{
      .op = OpId::slice_backward,
      .dtypes = kFloat,
      .samples =
          [](DType t) {
            return std::vector<Sample>{
                {"rows 1:3", {make_input({2, 4}, t, 1)}, {ints({5, 4}), i(0), i(1), i(3), i(1)}},
                {"step 2 on dim 1", {make_input({3, 3}, t, 2)}, {ints({3, 6}), i(1), i(0), i(6), i(2)}},
                {"negative start", {make_input({2, 2}, t, 3)}, {ints({2, 5}), i(-1), i(-2), i(5), i(1)}},
                {"empty slice", {make_input({0, 3}, t, 4)}, {ints({4, 3}), i(0), i(2), i(2), i(1)}},
                {"large", {make_input({300, 65}, t, 5)}, {ints({600, 65}), i(0), i(0), i(600), i(2)}}};
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{{"gradient shape differs from the slice",
                                             {make_input({3, 4}, DType::Float32, 1)},
                                             {ints({5, 4}), i(0), i(1), i(3), i(1)},
                                             ErrorKind::Shape,
                                             "slice"}};
          },
      .gradgradcheck = true};
}

DOPPEL_OP_SPEC(select_backward_spec) {
  return OpSpec{.op = OpId::select_backward,
                .dtypes = kFloat,
                .samples =
                    [](DType t) {
                      return std::vector<Sample>{
                          {"row", {make_input({4}, t, 1)}, {ints({3, 4}), i(0), i(1)}},
                          {"negative index", {make_input({3}, t, 2)}, {ints({3, 5}), i(1), i(-1)}},
                          {"to 1-d", {make_input({}, t, 3)}, {ints({6}), i(0), i(5)}}};
                    },
                .errors =
                    [] {
                      return std::vector<ErrorSample>{{"index out of range",
                                                       {make_input({4}, DType::Float32, 1)},
                                                       {ints({3, 4}), i(0), i(3)},
                                                       ErrorKind::Index,
                                                       "select"}};
                    },
                .gradgradcheck = true};
}

TEST_CASE("slice_backward and select_backward place the gradient and zero the rest", "[views][autograd]") {
  Tensor g = tensor(std::vector<float>{1, 2, 3, 4}, {2, 2});
  Tensor s = dispatch1(OpId::slice_backward, {g}, {ints({2, 4}), i(1), i(1), i(4), i(2)});
  CHECK(s.to_vector<float>() == std::vector<float>{0, 1, 0, 2, 0, 3, 0, 4});
  Tensor r = dispatch1(OpId::select_backward, {tensor(std::vector<float>{7, 8})}, {ints({3, 2}), i(0), i(-1)});
  CHECK(r.to_vector<float>() == std::vector<float>{0, 0, 0, 0, 7, 8});
  // Through autograd: the gradient of x[1:3].sum() is the indicator of the slice.
  Tensor x = zeros({4}).set_requires_grad(true);
  sum(slice(x, 0, 1, 3)).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0, 1, 1, 0});
}

}  // namespace doppel::testing
