// Specs and value tests of copy and cast.
#include "doppel/kernels/op_attrs/views.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kAllDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8,
                                       DType::UInt8,   DType::Int32,   DType::Int64,    DType::Bool};

std::vector<Sample> copy_samples(DType dt) {
  return {{"matrix", {make_input({3, 5}, dt, 1)}, {}},
          {"0-d", {make_input({}, dt, 2)}, {}},
          {"empty", {make_input({0, 4}, dt, 3)}, {}},
          {"transposed", {transpose(make_input({4, 6}, dt, 4), 0, 1)}, {}},
          {"broadcast view", {expand(make_input({1, 3}, dt, 5), {4, 3})}, {}},
          {"large", {make_input({130, 257}, dt, 6)}, {}}};
}

}  // namespace

DOPPEL_OP_SPEC(copy_spec) { return OpSpec{.op = OpId::copy, .dtypes = kAllDTypes, .samples = copy_samples}; }

DOPPEL_OP_SPEC(cast_spec) {
  return OpSpec{
      .op = OpId::cast,
      .dtypes = kAllDTypes,
      .samples =
          [](DType dt) {
            std::vector<Sample> out;
            for (DType to : kAllDTypes)
              for (Sample s : copy_samples(dt)) {
                s.name += fmt::format(" to {}", dtype_name(to));
                s.attrs = CastAttrs{.dtype = to}.pack();
                out.push_back(s);
              }
            return out;
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{
                {"int attribute", {make_input({2}, DType::Float32, 1)}, {Attr::of_int(1)}, ErrorKind::Value, "cast"}};
          }};
}

TEST_CASE("cast rounds to nearest even and saturates nothing silently", "[ops][copy]") {
  Tensor x = tensor(std::vector<float>{1.5f, 2.5f, -0.5f, 1.0f + 1.0f / 2048, 65504.f, 1e-8f});
  CHECK(to_dtype(x, DType::Float16).to_vector<float>() == std::vector<float>{1.5f, 2.5f, -0.5f, 1.0f, 65504.f, 0.0f});
  CHECK(to_dtype(x, DType::BFloat16).to_vector<float>()[3] == 1.0f);
  Tensor i = to_dtype(tensor(std::vector<float>{-1.7f, 2.9f, 0.f}), DType::Int32);
  CHECK(i.to_vector<int32_t>() == std::vector<int32_t>{-1, 2, 0});  // truncation, as in C++ and PyTorch
  CHECK(to_dtype(tensor(std::vector<float>{0.f, -2.f, 0.5f}), DType::Bool).to_vector<bool>() ==
        std::vector<bool>{false, true, true});
}

TEST_CASE("clone copies, contiguous keeps contiguous tensors", "[ops][copy]") {
  Tensor a = arange(0, 6).reshape({2, 3});
  Tensor c = clone(a);
  CHECK(c.raw_data() != a.raw_data());
  CHECK(contiguous(a).is_same(a));
  Tensor t = a.t();
  CHECK_FALSE(t.is_contiguous());
  Tensor tc = t.contiguous();
  CHECK(tc.is_contiguous());
  CHECK(tc.to_vector<int64_t>() == std::vector<int64_t>{0, 3, 1, 4, 2, 5});
}

}  // namespace doppel::testing
