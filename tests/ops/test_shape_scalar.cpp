// Spec and value tests of numel (the 0-d product of the input's sizes over `dims`).
#include <catch2/catch_test_macros.hpp>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/shape_scalar.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

Attrs numel_attrs(IntList dims, DType dtype = DType::Float64) {
  return NumelAttrs{.dims = dims, .dtype = dtype}.pack();
}

// The input's dtype varies over the spec's dtypes (any dtype is accepted: only the shape is
// read); the output's dtype is the attribute.
DOPPEL_OP_SPEC(numel_spec) {
  return OpSpec{
      .op = OpId::numel,
      .dtypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8, DType::UInt8,
                 DType::Int32, DType::Int64, DType::Bool},
      .samples =
          [](DType dt) {
            auto in = [&](IntList shape, uint64_t seed) { return make_input(shape, dt, seed); };
            return std::vector<Sample>{
                {"all dims", {in({3, 5}, 1)}, numel_attrs({})},
                {"one dim", {in({3, 5}, 2)}, numel_attrs({1})},
                {"some dims, unsorted", {in({2, 3, 4}, 3)}, numel_attrs({2, 0})},
                {"negative dim", {in({2, 3, 4}, 4)}, numel_attrs({-2})},
                {"float32 result", {in({2, 3, 4}, 5)}, numel_attrs({0, 1}, DType::Float32)},
                {"float16 result", {in({6, 7}, 6)}, numel_attrs({}, DType::Float16)},
                {"0-d", {in({}, 7)}, numel_attrs({})},
                {"0-d dim 0", {in({}, 8)}, numel_attrs({0})},
                {"zero-size dim", {in({4, 0, 3}, 9)}, numel_attrs({})},
                {"zero-size dim not counted", {in({4, 0, 3}, 10)}, numel_attrs({0, 2})},
                {"large", {in({300, 257}, 11)}, numel_attrs({})},
            };
          },
      .errors =
          [] {
            const Tensor x = make_input({2, 3}, DType::Float32, 1);
            return std::vector<ErrorSample>{
                {"dim out of range", {x}, numel_attrs({2}), ErrorKind::Index, "numel"},
                {"duplicate dims", {x}, numel_attrs({1, -1}), ErrorKind::Index, "more than once"},
                {"0-d dim 1", {make_input({}, DType::Float32, 2)}, numel_attrs({1}), ErrorKind::Index, "numel"},
                {"integer dtype", {x}, numel_attrs({}, DType::Int64), ErrorKind::DType, "numel"},
                {"dims attribute of wrong kind",
                 {x},
                 {Attr::of_int(0), Attr::of_dtype(DType::Float64)},
                 ErrorKind::Value,
                 "numel"},
            };
          }};
}

double ref_numel(const Tensor& x, IntList dims) {
  ForceBackendGuard g(Backend::Reference);  // the oracle itself
  return numel_tensor(x, dims).item<double>();
}

TEST_CASE("numel: the product of the sizes over dims, from the shape only", "[ops][reduction]") {
  const Tensor x = make_input({2, 3, 5}, DType::Float32, 1);
  CHECK(ref_numel(x, {}) == 30);
  CHECK(ref_numel(x, {1}) == 3);
  CHECK(ref_numel(x, {0, 2}) == 10);
  CHECK(ref_numel(x, {-1, -3}) == 10);
  CHECK(ref_numel(make_input({}, DType::Int64, 2), {}) == 1);
  CHECK(ref_numel(make_input({4, 0, 3}, DType::Bool, 3), {}) == 0);
  CHECK(ref_numel(make_input({4, 0, 3}, DType::Bool, 3), {2}) == 3);
  // Strided views count their own sizes.
  CHECK(ref_numel(make_noncontiguous(x).transpose(0, 2), {0}) == 5);
  // Uninitialized data is never read: an empty() input gives the same count.
  CHECK(ref_numel(empty({7, 9}), {1}) == 9);
}

TEST_CASE("numel_tensor: eager wrapper, dtype and no gradient", "[ops][reduction]") {
  const Tensor x = make_input({6, 4}, DType::Float32, 1);
  x.set_requires_grad();
  const Tensor n = numel_tensor(x, {0});
  CHECK(n.dim() == 0);
  CHECK(n.dtype() == DType::Float64);
  CHECK(n.item<double>() == 6);
  CHECK_FALSE(n.requires_grad());
  CHECK(numel_tensor(x, {}, DType::Float32).dtype() == DType::Float32);
  CHECK(numel_tensor(x, {}, DType::Float32).item<double>() == 24);
  // Dividing a float32 tensor by it keeps float32 (a 0-d operand does not promote a dimensioned one).
  CHECK(div(x, n).dtype() == DType::Float32);
}

}  // namespace
}  // namespace doppel::testing
