// Specs and value tests of the scan ops (cumsum, cumprod, cumprod_backward), and their gradients
// against finite differences with zeros in the input.
#include <cmath>

#include "doppel/kernels/op_attrs/scan.h"
#include "support/gradcheck.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kAllDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8,
                                       DType::UInt8,   DType::Int32,   DType::Int64,    DType::Bool};

Attrs scan_attrs(int64_t dim, std::optional<DType> dt = std::nullopt) {
  return ScanAttrs{.dim = dim, .dtype = dt}.pack();
}

// Inputs near 1 keep products of many elements finite and well-conditioned.
std::vector<Sample> scan_samples(DType dt, bool product) {
  const double lo = product ? 0.5 : -2.0, hi = product ? 1.5 : 2.0;
  auto in = [&](IntList s, uint64_t seed) { return make_input(s, dt, seed, lo, hi); };
  return {{"dim 0", {in({4, 3}, 1)}, scan_attrs(0)},
          {"dim -1", {in({2, 3, 5}, 2)}, scan_attrs(-1)},
          {"middle dim", {in({2, 4, 3}, 3)}, scan_attrs(1)},
          {"0-d", {in({}, 4)}, scan_attrs(0)},
          {"0-d dim -1", {in({}, 5)}, scan_attrs(-1)},
          {"empty", {in({0, 3}, 6)}, scan_attrs(0)},
          {"empty scanned dim", {in({3, 0}, 7)}, scan_attrs(1)},
          {"to float64", {in({3, 4}, 8)}, scan_attrs(1, DType::Float64)},
          {"large", {in({64, 300}, 9)}, scan_attrs(1)}};
}

std::vector<ErrorSample> scan_errors(OpId op) {
  const std::string name(op_name(op));
  return {{"dim out of range", {make_input({2, 3}, DType::Float32, 1)}, scan_attrs(2), ErrorKind::Index, name},
          {"0-d dim 1", {make_input({}, DType::Float32, 1)}, scan_attrs(1), ErrorKind::Index, name}};
}

std::vector<double> values(const Tensor& t) { return t.to(DType::Float64).to_vector<double>(); }

}  // namespace

DOPPEL_OP_SPEC(cumsum_spec) {
  return OpSpec{.op = OpId::cumsum,
                .dtypes = kAllDTypes,
                .samples = [](DType dt) { return scan_samples(dt, false); },
                .errors = [] { return scan_errors(OpId::cumsum); },
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(cumprod_spec) {
  return OpSpec{.op = OpId::cumprod,
                .dtypes = kAllDTypes,
                .samples = [](DType dt) { return scan_samples(dt, true); },
                .errors = [] { return scan_errors(OpId::cumprod); }};
}

DOPPEL_OP_SPEC(cumprod_backward_spec) {
  return OpSpec{
      .op = OpId::cumprod_backward,
      .dtypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16},
      .samples =
          [](DType dt) {
            Tensor zeros_in = make_input({3, 5}, dt, 3, 0.5, 1.5);
            zeros_in =
                masked_fill(zeros_in,
                            reshape(tensor(std::vector<uint8_t>{0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1}), {3, 5})
                                .to(DType::Bool),
                            0.0);
            return std::vector<Sample>{
                {"dim 1",
                 {make_input({4, 3}, dt, 1), make_input({4, 3}, dt, 2, 0.5, 1.5)},
                 CumprodBackwardAttrs{.dim = 1}.pack()},
                {"zeros", {make_input({3, 5}, dt, 4), zeros_in}, CumprodBackwardAttrs{.dim = -1}.pack()},
                {"0-d", {make_input({}, dt, 5), make_input({}, dt, 6)}, CumprodBackwardAttrs{.dim = 0}.pack()},
                {"empty",
                 {make_input({0, 2}, dt, 7), make_input({0, 2}, dt, 8)},
                 CumprodBackwardAttrs{.dim = 0}.pack()}};
          },
      .errors =
          [] {
            const Tensor x = make_input({2, 3}, DType::Float32, 1);
            return std::vector<ErrorSample>{{"shape",
                                             {make_input({3, 2}, DType::Float32, 2), x},
                                             CumprodBackwardAttrs{.dim = 0}.pack(),
                                             ErrorKind::Shape,
                                             "cumprod_backward"},
                                            {"int",
                                             {x.to(DType::Int64), x.to(DType::Int64)},
                                             CumprodBackwardAttrs{.dim = 0}.pack(),
                                             ErrorKind::DType,
                                             "cumprod_backward"}};
          },
      // Its gradient w.r.t. the input is not provided (see kernels/ops/scan.cpp).
      .gradcheck = false};
}

TEST_CASE("cumsum/cumprod: values, int64 accumulation of integer and bool inputs", "[scan]") {
  const Tensor x = reshape(tensor(std::vector<float>{1, 2, 3, 4, 5, 6}), {2, 3});
  CHECK(values(cumsum(x, 1)) == std::vector<double>{1, 3, 6, 4, 9, 15});
  CHECK(values(cumsum(x, 0)) == std::vector<double>{1, 2, 3, 5, 7, 9});
  CHECK(values(cumprod(x, -1)) == std::vector<double>{1, 2, 6, 4, 20, 120});
  const Tensor b = tensor(std::vector<uint8_t>{1, 0, 1, 1}).to(DType::Bool);
  const Tensor cb = cumsum(b, 0);
  CHECK(cb.dtype() == DType::Int64);
  CHECK(cb.to_vector<int64_t>() == std::vector<int64_t>{1, 1, 2, 3});
  // int8 inputs accumulate in int64: 100 + 100 does not wrap.
  const Tensor i8 = tensor(std::vector<int8_t>{100, 100, 100});
  CHECK(cumsum(i8, 0).to_vector<int64_t>() == std::vector<int64_t>{100, 200, 300});
  CHECK(cumsum(i8, 0, DType::Int32).dtype() == DType::Int32);
  CHECK(cumprod(tensor(std::vector<int32_t>{1000, 1000, 1000}), 0).to_vector<int64_t>() ==
        std::vector<int64_t>{1000, 1000000, 1000000000});
}

TEST_CASE("cumsum/cumprod: NaN and infinities propagate along the scan", "[scan]") {
  const double nan = std::nan(""), inf = INFINITY;
  const std::vector<double> s = values(cumsum(tensor(std::vector<float>{1, float(nan), 2}), 0));
  CHECK(s[0] == 1);
  CHECK(std::isnan(s[1]));
  CHECK(std::isnan(s[2]));
  const std::vector<double> p = values(cumprod(tensor(std::vector<double>{2, inf, 0, 3}), 0));
  CHECK(p[0] == 2);
  CHECK(p[1] == inf);
  CHECK(std::isnan(p[2]));  // inf * 0
  CHECK(values(cumprod(tensor(std::vector<double>{-0.0, 5}), 0))[1] == 0);
}

TEST_CASE("cumsum of float32: accumulated in double, as PyTorch's CPU kernel", "[scan]") {
  // 1 followed by 4095 values of 1e-8: a float accumulator stays at 1 (each addition rounds
  // back), a double one does not.
  std::vector<float> v(1 << 12, 1e-8f);
  v[0] = 1;
  double want = 1;
  for (size_t i = 1; i < v.size(); ++i) want += double(1e-8f);
  CHECK(values(cumsum(tensor(v), 0)).back() == double(float(want)));
}

TEST_CASE("cumprod gradient: finite differences with one zero, two zeros and a zero first", "[scan][autograd]") {
  const std::vector<std::vector<double>> cases = {
      {1.5, 0.7, 0, 1.2, 0.9}, {0.8, 0, 1.3, 0, 1.1}, {0, 1.4, 0.6, 1.2}, {1.1, 0.9, 1.3, 0.7}, {0, 0, 0}};
  for (size_t k = 0; k < cases.size(); ++k) {
    const TensorFn f = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{cumprod(in[0], 0)}; };
    INFO("case " << k);
    const std::vector<double>& c = cases[k];
    const auto r = gradcheck(f, {grad_input(tensor(c))});
    INFO(r.value_or(""));
    CHECK(!r);
  }
}

TEST_CASE("cumprod gradient: hand values with a zero", "[scan][autograd]") {
  // y = cumprod(x), L = sum(y): dL/dx_k = sum_{j >= k} prod_{i <= j, i != k} x_i.
  const Tensor x = tensor(std::vector<double>{2, 0, 3}).set_requires_grad(true);
  const std::vector<double> g = grad({sum(cumprod(x, 0))}, {x})[0].to_vector<double>();
  // k=0: 1 + x1 + x1 x2 = 1; k=1: x0 + x0 x2 = 8; k=2: x0 x1 = 0.
  CHECK(g == std::vector<double>{1, 8, 0});
}

TEST_CASE("cumsum gradient: the reversed cumulative sum, cast back from the dtype argument", "[scan][autograd]") {
  const Tensor x = reshape(tensor(std::vector<float>{1, 2, 3, 4, 5, 6}), {2, 3}).set_requires_grad(true);
  const Tensor w = reshape(tensor(std::vector<double>{1, 10, 100, 1000, 10000, 100000}), {2, 3});
  const Tensor gx = grad({sum(mul(cumsum(x, 1, DType::Float64), w))}, {x})[0];
  CHECK(gx.dtype() == DType::Float32);
  CHECK(values(gx) == std::vector<double>{111, 110, 100, 111000, 110000, 100000});
}

}  // namespace doppel::testing
