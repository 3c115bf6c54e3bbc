// Specs and value tests of the activations hardtanh (relu6), hardswish, hardsigmoid, mish, selu
// and logsigmoid: values against double-precision formulas written here, NaN/±Inf/−0, dtype
// rules (hardtanh keeps integers, the others are floating only).
#include <cmath>
#include <functional>
#include <limits>

#include <catch2/catch_approx.hpp>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/elementwise.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kFloats = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// [-5, 5) covers every piece of the piecewise activations (their kinks at ±3, the bounds).
std::vector<Sample> activation_samples(DType dt, const Attrs& attrs) {
  std::vector<Sample> v = {{"matrix", {make_input({3, 5}, dt, 1, -5, 5)}, attrs},
                           {"0-d", {make_input({}, dt, 2, -5, 5)}, attrs},
                           {"empty", {make_input({0, 4}, dt, 3)}, attrs},
                           {"transposed", {transpose(make_input({4, 6}, dt, 4, -5, 5), 0, 1)}, attrs},
                           {"large", {make_input({257, 129}, dt, 5, -30, 30)}, attrs}};
  // Specials are checked by value (finite differences cannot take them), so not in float64.
  if (is_floating(dt) && dt != DType::Float64)
    v.push_back({"specials", {tensor(std::vector<double>{kNaN, kInf, -kInf, -0.0, 0.0, 25.0, -25.0}).to(dt)}, attrs});
  return v;
}

OpSpec activation_spec(OpId op) {
  return OpSpec{
      .op = op,
      .dtypes = kFloats,
      .samples = [](DType dt) { return activation_samples(dt, {}); },
      .errors =
          [op] {
            return std::vector<ErrorSample>{
                {"integer", {make_input({2}, DType::Int64, 1)}, {}, ErrorKind::DType, std::string(op_name(op))}};
          },
      .gradgradcheck = true};
}

}  // namespace

DOPPEL_OP_SPEC(hardswish_spec) { return activation_spec(OpId::hardswish); }
DOPPEL_OP_SPEC(hardsigmoid_spec) { return activation_spec(OpId::hardsigmoid); }
DOPPEL_OP_SPEC(mish_spec) { return activation_spec(OpId::mish); }
DOPPEL_OP_SPEC(selu_spec) { return activation_spec(OpId::selu); }
DOPPEL_OP_SPEC(logsigmoid_spec) { return activation_spec(OpId::logsigmoid); }
DOPPEL_OP_SPEC(hardtanh_spec) {
  return OpSpec{
      .op = OpId::hardtanh,
      .dtypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8, DType::UInt8,
                 DType::Int32, DType::Int64},
      .samples =
          [](DType dt) {
            auto v = activation_samples(dt, HardtanhAttrs{.min_val = -1.0, .max_val = 1.0}.pack());
            v.push_back(
                {"relu6", {make_input({4, 5}, dt, 6, -8, 8)}, HardtanhAttrs{.min_val = 0.0, .max_val = 6.0}.pack()});
            v.push_back({"fractional bounds",
                         {make_input({4, 5}, dt, 7, -4, 4)},
                         HardtanhAttrs{.min_val = -2.5, .max_val = 1.5}.pack()});
            v.push_back(
                {"min > max", {make_input({3, 4}, dt, 8)}, HardtanhAttrs{.min_val = 2.0, .max_val = 1.0}.pack()});
            return v;
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{{"bool",
                                             {make_input({2}, DType::Bool, 1)},
                                             HardtanhAttrs{.min_val = -1, .max_val = 1}.pack(),
                                             ErrorKind::DType,
                                             "hardtanh"},
                                            {"NaN bound",
                                             {make_input({2}, DType::Float32, 1)},
                                             HardtanhAttrs{.min_val = kNaN, .max_val = 1}.pack(),
                                             ErrorKind::Value,
                                             "hardtanh"}};
          },
      .gradgradcheck = true};
}

// ---- Values against double formulas.

namespace {

double softplus_d(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }
double clamp_d(double x, double lo, double hi) { return std::isnan(x) ? x : std::min(std::max(x, lo), hi); }

void check_activation(const char* what, const std::function<Tensor(const Tensor&)>& f,
                      const std::function<double(double)>& want, const std::vector<double>& xs, DType dt, double rtol) {
  ForceBackendGuard g(Backend::Reference);
  const std::vector<double> got = to_dtype(f(tensor(xs).to(dt)), DType::Float64).to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i) {
    const double w = want(xs[i]);
    INFO(what << " " << dtype_name(dt) << " at x = " << xs[i] << ": got " << got[i] << " want " << w);
    if (std::isnan(w))
      CHECK(std::isnan(got[i]));
    else if (std::isinf(w))
      CHECK(got[i] == w);
    else
      CHECK(std::fabs(got[i] - w) <= rtol * std::fabs(w) + rtol);
  }
}

}  // namespace

TEST_CASE("activations: values against double formulas, with NaN and infinities", "[elementwise]") {
  const std::vector<double> xs = {-kInf, -40.0, -4.0, -3.0, -1.5, -0.25, -0.0, 0.0, 0.5, 3.0, 4.0, 25.0, kInf, kNaN};
  const double alpha = 1.6732632423543772848170429916717, scale = 1.0507009873554804934193349852946;
  for (auto [dt, rtol] : {std::pair{DType::Float64, 1e-14}, std::pair{DType::Float32, 2e-6}}) {
    check_activation(
        "hardsigmoid", [](const Tensor& x) { return hardsigmoid(x); },
        [](double x) { return clamp_d(x + 3, 0, 6) / 6; }, xs, dt, rtol);
    // x * hardsigmoid(x): -inf * 0 is NaN, as in PyTorch.
    check_activation(
        "hardswish", [](const Tensor& x) { return hardswish(x); },
        [](double x) { return x * (clamp_d(x + 3, 0, 6) / 6); }, xs, dt, rtol);
    check_activation(
        "mish", [](const Tensor& x) { return mish(x); }, [](double x) { return x * std::tanh(softplus_d(x)); }, xs, dt,
        rtol);
    check_activation(
        "selu", [](const Tensor& x) { return selu(x); },
        [&](double x) { return scale * (x > 0 ? x : alpha * std::expm1(x)); }, xs, dt, rtol);
    check_activation(
        "logsigmoid", [](const Tensor& x) { return logsigmoid(x); }, [](double x) { return -softplus_d(-x); }, xs, dt,
        rtol);
    check_activation(
        "hardtanh", [](const Tensor& x) { return hardtanh(x, -1.0, 2.0); }, [](double x) { return clamp_d(x, -1, 2); },
        xs, dt, rtol);
    check_activation(
        "relu6", [](const Tensor& x) { return relu6(x); }, [](double x) { return clamp_d(x, 0, 6); }, xs, dt, rtol);
  }
  ForceBackendGuard g(Backend::Reference);
  // logsigmoid stays finite far out (the naive log(sigmoid(x)) is -inf below about -745).
  CHECK(logsigmoid(tensor(std::vector<double>{-1000.0})).item<double>() == -1000.0);
  // -0 keeps its sign through hardtanh (a clamp) and mish.
  CHECK(std::signbit(hardtanh(tensor(std::vector<double>{-0.0})).item<double>()));
  CHECK(std::signbit(mish(tensor(std::vector<double>{-0.0})).item<double>()));
}

TEST_CASE("activations: dtype rules and integer hardtanh", "[elementwise]") {
  ForceBackendGuard g(Backend::Reference);
  // Integer hardtanh truncates its bounds (PyTorch): [0.5, 2.5] on int64 is [0, 2].
  const Tensor i = tensor(std::vector<int64_t>{0, 1, 2, 3, -1});
  CHECK(hardtanh(i, 0.5, 2.5).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 2, 0});
  CHECK(relu6(tensor(std::vector<int32_t>{-3, 2, 9})).to_vector<int32_t>() == std::vector<int32_t>{0, 2, 6});
  CHECK(hardtanh(tensor(std::vector<float>{0, 1.5f, 3}), 2.0, 1.0).to_vector<float>() == std::vector<float>{1, 1, 1});
  CHECK_THROWS_AS(hardtanh(tensor(std::vector<bool>{true})), DTypeError);
  for (auto f : {hardswish, hardsigmoid, mish, selu, logsigmoid})
    CHECK_THROWS_AS(f(i, SourceLoc::current()), DTypeError);
  CHECK(hardswish(tensor(std::vector<float>{1})).dtype() == DType::Float32);
  // In place: the result is written into self.
  Tensor x = tensor(std::vector<double>{-2, 0.5, 8});
  relu6_(x);
  CHECK(x.to_vector<double>() == std::vector<double>{0, 0.5, 6});
  hardsigmoid_(x);
  CHECK(x.to_vector<double>()[2] == 1.0);
}

}  // namespace doppel::testing
