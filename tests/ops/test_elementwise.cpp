// Specs and value tests of the elementwise ops.
#include <cmath>
#include <limits>

#include <catch2/catch_approx.hpp>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/elementwise.h"
#include "doppel/kernels/type_promotion.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kFloat = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};
const std::vector<DType> kNumeric = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16,
                                     DType::Int8,    DType::UInt8,   DType::Int32,    DType::Int64};
std::vector<DType> with_bool(std::vector<DType> v) {
  v.push_back(DType::Bool);
  return v;
}

// Inputs in the op's valid domain: positive where log/sqrt/rsqrt/reciprocal need it.
std::vector<Sample> unary_samples(DType dt, Attrs attrs, double lo, double hi) {
  return {{"matrix", {make_input({3, 5}, dt, 1, lo, hi)}, attrs},
          {"0-d", {make_input({}, dt, 2, lo, hi)}, attrs},
          {"empty", {make_input({0, 4}, dt, 3, lo, hi)}, attrs},
          {"transposed", {transpose(make_input({4, 6}, dt, 4, lo, hi), 0, 1)}, attrs},
          {"large", {make_input({257, 129}, dt, 5, lo, hi)}, attrs}};
}

// Every differentiable elementwise op also gets gradgradcheck (its rule is written in ops, so the
// rule's own gradient must be right); the small float64 samples above are the ones checked.
OpSpec unary_spec(OpId op, std::vector<DType> dtypes, Attrs attrs = {}, double lo = -3, double hi = 3) {
  return OpSpec{.op = op, .dtypes = dtypes, .samples = [=](DType dt) { return unary_samples(dt, attrs, lo, hi); },
                .errors = [=] {
                  std::vector<ErrorSample> e;
                  if (attrs.size() > 0)
                    e.push_back({"wrong attribute kind", {make_input({2}, DType::Float32, 1)},
                                 Attrs{Attr::of_ints({1}), Attr::of_ints({1})}, ErrorKind::Value, ""});
                  return e;
                },
                .gradgradcheck = true};
}

std::vector<Sample> binary_samples(DType dt, double lo, double hi) {
  auto in = [&](IntList s, uint64_t seed) { return make_input(s, dt, seed, lo, hi); };
  std::vector<Sample> v = {{"same shape", {in({3, 5}, 1), in({3, 5}, 2)}, {}},
                           {"[3,1] with [1,4]", {in({3, 1}, 3), in({1, 4}, 4)}, {}},
                           {"[4] with [2,3,4]", {in({4}, 5), in({2, 3, 4}, 6)}, {}},
                           {"[2,3,4] with [4]", {in({2, 3, 4}, 7), in({4}, 8)}, {}},
                           {"0-d with tensor", {in({}, 9), in({2, 3}, 10)}, {}},
                           {"tensor with wrapped scalar", {in({2, 3}, 11), wrap_scalar(Scalar(1.5))}, {}},
                           {"wrapped int with tensor", {wrap_scalar(Scalar(int64_t(2))), in({2, 3}, 12)}, {}},
                           {"empty", {in({0, 3}, 13), in({1, 3}, 14)}, {}},
                           {"large", {in({257, 129}, 15), in({257, 129}, 16)}, {}},
                           {"large broadcast row", {in({257, 129}, 17), in({129}, 18)}, {}},
                           {"large broadcast first", {in({1, 129}, 19), in({257, 129}, 20)}, {}}};
  if (dt == DType::Float32) {
    v.push_back({"int32 + float32", {make_input({2, 3}, DType::Int32, 21, lo, hi), in({2, 3}, 22)}, {}});
  }
  if (dt == DType::UInt8) {
    v.push_back({"uint8 + int8", {in({2, 3}, 23), make_input({2, 3}, DType::Int8, 24, -3, 3)}, {}});
  }
  return v;
}

OpSpec binary_spec(OpId op, std::vector<DType> dtypes, double lo = -3, double hi = 3) {
  return OpSpec{.op = op, .dtypes = dtypes, .samples = [=](DType dt) { return binary_samples(dt, lo, hi); },
                .errors = [] {
                  return std::vector<ErrorSample>{{"shape mismatch",
                                                   {make_input({2, 3}, DType::Float32, 1), make_input({4}, DType::Float32, 2)},
                                                   {}, ErrorKind::Shape, ""}};
                },
                .gradgradcheck = true};
}

}  // namespace

// ---- Unary specs.
DOPPEL_OP_SPEC(neg_spec) { return unary_spec(OpId::neg, kNumeric); }
DOPPEL_OP_SPEC(abs_spec) { return unary_spec(OpId::abs, kNumeric); }
DOPPEL_OP_SPEC(exp_spec) { return unary_spec(OpId::exp, with_bool(kNumeric)); }
DOPPEL_OP_SPEC(log_spec) { return unary_spec(OpId::log, kNumeric, {}, 0.1, 5); }
DOPPEL_OP_SPEC(log1p_spec) { return unary_spec(OpId::log1p, kNumeric, {}, 0.0, 5); }
DOPPEL_OP_SPEC(sqrt_spec) { return unary_spec(OpId::sqrt, kNumeric, {}, 0.0, 5); }
DOPPEL_OP_SPEC(rsqrt_spec) { return unary_spec(OpId::rsqrt, kNumeric, {}, 1, 5); }
DOPPEL_OP_SPEC(sin_spec) { return unary_spec(OpId::sin, kNumeric); }
DOPPEL_OP_SPEC(cos_spec) { return unary_spec(OpId::cos, kNumeric); }
DOPPEL_OP_SPEC(tanh_spec) { return unary_spec(OpId::tanh, kNumeric); }
DOPPEL_OP_SPEC(sigmoid_spec) { return unary_spec(OpId::sigmoid, with_bool(kNumeric)); }
DOPPEL_OP_SPEC(relu_spec) { return unary_spec(OpId::relu, kNumeric); }
DOPPEL_OP_SPEC(gelu_spec) {
  OpSpec s = unary_spec(OpId::gelu, kFloat);
  s.samples = [](DType dt) {
    auto v = unary_samples(dt, GeluAttrs{.tanh = false}.pack(), -3, 3);
    for (Sample x : unary_samples(dt, GeluAttrs{.tanh = true}.pack(), -3, 3)) v.push_back(x);
    return v;
  };
  s.errors = [] {
    return std::vector<ErrorSample>{
        {"float attribute", {make_input({2}, DType::Float32, 1)}, {Attr::of_float(1)}, ErrorKind::Value, "gelu"}};
  };
  return s;
}
DOPPEL_OP_SPEC(silu_spec) { return unary_spec(OpId::silu, kFloat); }
DOPPEL_OP_SPEC(leaky_relu_spec) {
  OpSpec s = unary_spec(OpId::leaky_relu, kNumeric, LeakyReluAttrs{.negative_slope = 0.01}.pack());
  s.samples = [](DType dt) {
    auto v = unary_samples(dt, LeakyReluAttrs{.negative_slope = 0.01}.pack(), -3, 3);
    v.push_back({"slope 0.3", {make_input({3, 4}, dt, 12)}, LeakyReluAttrs{.negative_slope = 0.3}.pack()});
    return v;
  };
  s.errors = [] {
    return std::vector<ErrorSample>{{"nan slope",
                                     {make_input({2}, DType::Float32, 1)},
                                     LeakyReluAttrs{.negative_slope = std::nan("")}.pack(),
                                     ErrorKind::Value,
                                     "negative_slope"}};
  };
  return s;
}
DOPPEL_OP_SPEC(elu_spec) {
  OpSpec s = unary_spec(OpId::elu, kFloat, EluAttrs{.alpha = 1.0}.pack());
  s.samples = [](DType dt) {
    auto v = unary_samples(dt, EluAttrs{.alpha = 1.0}.pack(), -3, 3);
    v.push_back({"alpha 0.5", {make_input({3, 4}, dt, 12)}, EluAttrs{.alpha = 0.5}.pack()});
    return v;
  };
  return s;
}
DOPPEL_OP_SPEC(softplus_spec) {
  OpSpec s = unary_spec(OpId::softplus, kFloat, SoftplusAttrs{.beta = 1.0, .threshold = 20.0}.pack());
  s.samples = [](DType dt) {
    auto v = unary_samples(dt, SoftplusAttrs{.beta = 1.0, .threshold = 20.0}.pack(), -3, 3);
    v.push_back({"beta 2 threshold 1",
                 {make_input({257, 129}, dt, 9, -3, 3)},
                 SoftplusAttrs{.beta = 2.0, .threshold = 1.0}.pack()});
    // Small, so gradcheck covers both sides of the threshold and a non-default beta.
    v.push_back({"small beta 2 threshold 1",
                 {make_input({4, 5}, dt, 10, -3, 3)},
                 SoftplusAttrs{.beta = 2.0, .threshold = 1.0}.pack()});
    v.push_back({"small beta -1.5",
                 {make_input({3, 4}, dt, 11, -3, 3)},
                 SoftplusAttrs{.beta = -1.5, .threshold = 20.0}.pack()});
    return v;
  };
  s.errors = [] {
    return std::vector<ErrorSample>{{"zero beta",
                                     {make_input({2}, DType::Float32, 1)},
                                     SoftplusAttrs{.beta = 0.0, .threshold = 20.0}.pack(),
                                     ErrorKind::Value,
                                     "beta"}};
  };
  return s;
}
DOPPEL_OP_SPEC(erf_spec) { return unary_spec(OpId::erf, kNumeric); }
DOPPEL_OP_SPEC(floor_spec) { return unary_spec(OpId::floor, kNumeric); }
DOPPEL_OP_SPEC(ceil_spec) { return unary_spec(OpId::ceil, kNumeric); }
DOPPEL_OP_SPEC(round_spec) { return unary_spec(OpId::round, kNumeric); }
DOPPEL_OP_SPEC(sign_spec) { return unary_spec(OpId::sign, with_bool(kNumeric)); }
DOPPEL_OP_SPEC(reciprocal_spec) { return unary_spec(OpId::reciprocal, kNumeric, {}, 0.5, 3); }
DOPPEL_OP_SPEC(clamp_spec) {
  OpSpec s = unary_spec(OpId::clamp, kNumeric);
  s.samples = [](DType dt) {
    auto v = unary_samples(dt, ClampAttrs{.min = -1.0, .max = 1.5}.pack(), -3, 3);
    v.push_back({"min only", {make_input({257, 129}, dt, 7)}, ClampAttrs{.min = 0.5, .max = std::nullopt}.pack()});
    v.push_back({"min only small", {make_input({3, 4}, dt, 10)}, ClampAttrs{.min = 0.5, .max = std::nullopt}.pack()});
    v.push_back({"max only", {make_input({3, 4}, dt, 8)}, ClampAttrs{.min = std::nullopt, .max = 0.5}.pack()});
    v.push_back({"min > max", {make_input({3, 4}, dt, 9)}, ClampAttrs{.min = 2.0, .max = 1.0}.pack()});
    return v;
  };
  s.errors = [] {
    return std::vector<ErrorSample>{{"no bounds",
                                     {make_input({2}, DType::Float32, 1)},
                                     ClampAttrs{.min = std::nullopt, .max = std::nullopt}.pack(),
                                     ErrorKind::Value,
                                     "clamp"},
                                    {"bool",
                                     {make_input({2}, DType::Bool, 1)},
                                     ClampAttrs{.min = 0, .max = std::nullopt}.pack(),
                                     ErrorKind::DType,
                                     "clamp"}};
  };
  return s;
}
DOPPEL_OP_SPEC(logical_not_spec) { return unary_spec(OpId::logical_not, with_bool(kNumeric)); }

// ---- Binary specs.
DOPPEL_OP_SPEC(add_spec) { return binary_spec(OpId::add, with_bool(kNumeric)); }
DOPPEL_OP_SPEC(sub_spec) {
  OpSpec s = binary_spec(OpId::sub, kNumeric);
  s.errors = [] {
    return std::vector<ErrorSample>{
        {"shape mismatch", {make_input({2, 3}, DType::Float32, 1), make_input({4}, DType::Float32, 2)}, {}, ErrorKind::Shape, "sub"},
        {"bool", {make_input({2}, DType::Bool, 1), make_input({2}, DType::Bool, 2)}, {}, ErrorKind::DType, "sub"}};
  };
  return s;
}
DOPPEL_OP_SPEC(mul_spec) { return binary_spec(OpId::mul, with_bool(kNumeric)); }
DOPPEL_OP_SPEC(div_spec) { return binary_spec(OpId::div, with_bool(kNumeric), 0.5, 3); }
DOPPEL_OP_SPEC(pow_spec) { return binary_spec(OpId::pow, kNumeric, 0.5, 3); }
DOPPEL_OP_SPEC(maximum_spec) { return binary_spec(OpId::maximum, with_bool(kNumeric)); }
DOPPEL_OP_SPEC(minimum_spec) { return binary_spec(OpId::minimum, with_bool(kNumeric)); }
DOPPEL_OP_SPEC(eq_spec) { return binary_spec(OpId::eq, with_bool(kNumeric), -1, 1); }
DOPPEL_OP_SPEC(ne_spec) { return binary_spec(OpId::ne, with_bool(kNumeric), -1, 1); }
DOPPEL_OP_SPEC(lt_spec) { return binary_spec(OpId::lt, with_bool(kNumeric)); }
DOPPEL_OP_SPEC(le_spec) { return binary_spec(OpId::le, with_bool(kNumeric), -1, 1); }
DOPPEL_OP_SPEC(gt_spec) { return binary_spec(OpId::gt, with_bool(kNumeric)); }
DOPPEL_OP_SPEC(ge_spec) { return binary_spec(OpId::ge, with_bool(kNumeric), -1, 1); }
DOPPEL_OP_SPEC(logical_and_spec) { return binary_spec(OpId::logical_and, with_bool(kNumeric), -1, 1); }
DOPPEL_OP_SPEC(logical_or_spec) { return binary_spec(OpId::logical_or, with_bool(kNumeric), -1, 1); }
DOPPEL_OP_SPEC(logical_xor_spec) { return binary_spec(OpId::logical_xor, with_bool(kNumeric), -1, 1); }
DOPPEL_OP_SPEC(where_spec) {
  return OpSpec{
      .op = OpId::where,
      .dtypes = with_bool(kNumeric),
      .samples =
          [](DType dt) {
            auto cond = [](IntList s, uint64_t seed) { return make_input(s, DType::Bool, seed, -1, 1); };
            return std::vector<Sample>{
                {"same shape", {cond({3, 4}, 1), make_input({3, 4}, dt, 2), make_input({3, 4}, dt, 3)}, {}},
                {"broadcast all", {cond({3, 1}, 4), make_input({1, 4}, dt, 5), make_input({4}, dt, 6)}, {}},
                {"wrapped scalar", {cond({2, 3}, 7), make_input({2, 3}, dt, 8), wrap_scalar(Scalar(0))}, {}},
                {"empty", {cond({0, 3}, 9), make_input({0, 3}, dt, 10), make_input({3}, dt, 11)}, {}},
                {"large", {cond({257, 129}, 12), make_input({257, 129}, dt, 13), make_input({129}, dt, 14)}, {}}};
          },
      .errors = [] {
        return std::vector<ErrorSample>{
            {"float condition", {make_input({2}, DType::Float32, 1), make_input({2}, DType::Float32, 2),
                                 make_input({2}, DType::Float32, 3)}, {}, ErrorKind::DType, "where"},
            {"shape mismatch", {make_input({2}, DType::Bool, 1), make_input({3}, DType::Float32, 2),
                                make_input({2}, DType::Float32, 3)}, {}, ErrorKind::Shape, "where"}};
      },
      .gradgradcheck = true};
}

// ---- Value tests of the reference kernels against independent double-precision values.

namespace {
std::vector<double> as_double(const Tensor& t) { return t.to_vector<double>(); }

template <typename F>
void check_unary(Tensor (*op)(const Tensor&, SourceLoc), F ref, std::vector<float> xs, double rtol = 1e-6) {
  ForceBackendGuard g(Backend::Reference);
  Tensor x = tensor(xs);
  auto got = as_double(op(x, SourceLoc::current()));
  for (size_t i = 0; i < xs.size(); ++i) {
    const double want = ref(double(xs[i]));
    INFO("x = " << xs[i] << " got " << got[i] << " want " << want);
    if (std::isnan(want)) CHECK(std::isnan(got[i]));
    else CHECK(std::abs(got[i] - want) <= rtol * std::abs(want) + 1e-7);
  }
}
}  // namespace

TEST_CASE("elementwise unary values match std:: in double", "[elementwise]") {
  const std::vector<float> xs = {-3.5f, -1.f, -0.25f, 0.f, 0.5f, 1.f, 2.5f, 7.f};
  const std::vector<float> pos = {0.01f, 0.5f, 1.f, 2.f, 10.f};
  check_unary(neg, [](double x) { return -x; }, xs);
  check_unary(abs, [](double x) { return std::fabs(x); }, xs);
  check_unary(exp, [](double x) { return std::exp(x); }, xs);
  check_unary(log, [](double x) { return std::log(x); }, pos);
  check_unary(log1p, [](double x) { return std::log1p(x); }, pos);
  check_unary(sqrt, [](double x) { return std::sqrt(x); }, pos);
  check_unary(rsqrt, [](double x) { return 1 / std::sqrt(x); }, pos);
  check_unary(sin, [](double x) { return std::sin(x); }, xs);
  check_unary(cos, [](double x) { return std::cos(x); }, xs);
  check_unary(tanh, [](double x) { return std::tanh(x); }, xs);
  check_unary(sigmoid, [](double x) { return 1 / (1 + std::exp(-x)); }, xs);
  check_unary(relu, [](double x) { return x > 0 ? x : 0; }, xs);
  check_unary(silu, [](double x) { return x / (1 + std::exp(-x)); }, xs);
  check_unary(erf, [](double x) { return std::erf(x); }, xs);
  check_unary(floor, [](double x) { return std::floor(x); }, xs);
  check_unary(ceil, [](double x) { return std::ceil(x); }, xs);
  check_unary(sign, [](double x) { return double((x > 0) - (x < 0)); }, xs);
  check_unary(reciprocal, [](double x) { return 1 / x; }, pos);
  ForceBackendGuard g(Backend::Reference);
  Tensor x = tensor(xs);
  auto gel = as_double(gelu(x)), gel_t = as_double(gelu(x, true));
  auto lr = as_double(leaky_relu(x, 0.2)), el = as_double(elu(x, 0.5));
  for (size_t i = 0; i < xs.size(); ++i) {
    const double v = xs[i];
    CHECK(gel[i] == Catch::Approx(0.5 * v * (1 + std::erf(v / std::sqrt(2.0)))).margin(1e-6));
    CHECK(gel_t[i] ==
          Catch::Approx(0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)))).margin(1e-6));
    CHECK(lr[i] == Catch::Approx(v > 0 ? v : 0.2 * v));
    CHECK(el[i] == Catch::Approx(v > 0 ? v : 0.5 * (std::exp(v) - 1)).margin(1e-7));
  }
}

// sign(NaN) = 0 (PyTorch 1.13) in every floating dtype, on both sides of 4096 elements, strided too.
TEST_CASE("sign of NaN is 0 in every floating dtype and size", "[elementwise]") {
  for (DType dt : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16}) {
    for (int64_t n : {15, 4095, 4096}) {
      INFO(dtype_name(dt) << " n = " << n);
      std::vector<double> v(static_cast<size_t>(n), -2.0);
      v[0] = std::numeric_limits<double>::quiet_NaN(), v[1] = 0.5, v[2] = -0.0;
      const Tensor x = to_dtype(tensor(v), dt);
      const std::vector<double> s = sign(x).to_vector<double>();
      CHECK(s[0] == 0.0);
      CHECK(s[1] == 1.0);
      CHECK(s[2] == 0.0);
      CHECK(s[3] == -1.0);
      CHECK(sign(slice(x, 0, 0, std::nullopt, 2)).to_vector<double>()[0] == 0.0);
    }
  }
}

TEST_CASE("elementwise edge cases: round half even, softplus threshold, clamp, sign of NaN", "[elementwise]") {
  ForceBackendGuard g(Backend::Reference);
  CHECK(round(tensor(std::vector<float>{0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f, -2.6f})).to_vector<float>() ==
        std::vector<float>{0.f, 2.f, 2.f, -0.f, -2.f, 2.f, -3.f});
  // beta * x = 2 * 0.75 > threshold 1: linear; below: log1p(exp(beta x)) / beta.
  auto sp = softplus(tensor(std::vector<double>{0.75, 0.25, -30.0}), 2.0, 1.0).to_vector<double>();
  CHECK(sp[0] == 0.75);
  CHECK(sp[1] == Catch::Approx(std::log1p(std::exp(0.5)) / 2));
  CHECK(sp[2] == Catch::Approx(std::log1p(std::exp(-60.0)) / 2));
  CHECK(clamp(tensor(std::vector<float>{-2, 0, 3}), Scalar(2.0), Scalar(1.0)).to_vector<float>() ==
        std::vector<float>{1, 1, 1});
  CHECK(clamp(tensor(std::vector<int32_t>{-5, 0, 9}), Scalar(-1), std::nullopt).to_vector<int32_t>() ==
        std::vector<int32_t>{-1, 0, 9});
  Tensor cf = clamp(tensor(std::vector<int32_t>{-5, 0, 9}), Scalar(-1.5), Scalar(2.5));
  CHECK(cf.dtype() == DType::Float32);  // a floating bound promotes an integer tensor, as in PyTorch
  CHECK(cf.to_vector<float>() == std::vector<float>{-1.5f, 0.f, 2.5f});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(sign(tensor(std::vector<float>{nan})).item<float>() == 0.f);  // PyTorch 1.13
  CHECK(std::isnan(relu(tensor(std::vector<float>{nan})).item<float>()));
  CHECK(std::isnan(maximum(tensor(std::vector<float>{nan, 1}), tensor(std::vector<float>{0, nan})).to_vector<float>()[1]));
  CHECK(abs(tensor(std::vector<int8_t>{-128, -3})).to_vector<int8_t>() == std::vector<int8_t>{-128, 3});  // wraps
  CHECK(round(tensor(std::vector<int64_t>{7})).item<int64_t>() == 7);
  CHECK(exp(tensor(std::vector<int32_t>{0, 1})).dtype() == DType::Float32);
  CHECK(logical_not(tensor(std::vector<float>{0, 2})).to_vector<bool>() == std::vector<bool>{true, false});
  CHECK_THROWS_AS(neg(tensor(std::vector<bool>{true})), DTypeError);
}

TEST_CASE("elementwise binary values, promotion and division", "[elementwise]") {
  ForceBackendGuard g(Backend::Reference);
  Tensor a = tensor(std::vector<float>{1, -2, 3}), b = tensor(std::vector<float>{4, 5, -6});
  CHECK((a + b).to_vector<float>() == std::vector<float>{5, 3, -3});
  CHECK((a - b).to_vector<float>() == std::vector<float>{-3, -7, 9});
  CHECK((a * b).to_vector<float>() == std::vector<float>{4, -10, -18});
  CHECK((a / b).to_vector<float>() == std::vector<float>{0.25f, -0.4f, -0.5f});
  CHECK((2.0 - a).to_vector<float>() == std::vector<float>{1, 4, -1});
  CHECK((a * 2).dtype() == DType::Float32);
  Tensor i = tensor(std::vector<int32_t>{7, -7, 1}), j = tensor(std::vector<int32_t>{2, 2, 0});
  Tensor q = div(i, j);
  CHECK(q.dtype() == DType::Float32);
  CHECK(q.to_vector<float>()[0] == 3.5f);
  CHECK(q.to_vector<float>()[1] == -3.5f);
  CHECK(std::isinf(q.to_vector<float>()[2]));
  auto z = div(tensor(std::vector<float>{1, -1, 0}), 0.0).to_vector<float>();
  CHECK((z[0] == std::numeric_limits<float>::infinity() && z[1] == -z[0] && std::isnan(z[2])));
  CHECK((i * 2.5).dtype() == DType::Float32);  // wrapped float over an int tensor
  CHECK((i + int64_t(1)).dtype() == DType::Int32);  // a wrapped int does not widen
  CHECK(add(tensor(std::vector<uint8_t>{250}), tensor(std::vector<int8_t>{-1})).dtype() == DType::Int32);
  CHECK(add(tensor(std::vector<uint8_t>{250}), tensor(std::vector<uint8_t>{10})).item<uint8_t>() == 4);  // wraps
  CHECK(add(tensor(std::vector<float>{1}), tensor(std::vector<int32_t>{2})).dtype() == DType::Float32);
  auto p = pow(tensor(std::vector<double>{-2, -8, 2}), tensor(std::vector<double>{3, 1.0 / 3, -1})).to_vector<double>();
  CHECK(p[0] == -8);
  CHECK(std::isnan(p[1]));  // negative base, fractional exponent
  CHECK(p[2] == 0.5);
  CHECK(pow(tensor(std::vector<int64_t>{3, 2, -1, 0}), tensor(std::vector<int64_t>{4, -1, -3, -1})).to_vector<int64_t>() ==
        std::vector<int64_t>{81, 0, -1, 0});
  CHECK(maximum(a, b).to_vector<float>() == std::vector<float>{4, 5, 3});
  CHECK(minimum(a, 0).to_vector<float>() == std::vector<float>{0, -2, 0});
  CHECK((a < b).to_vector<bool>() == std::vector<bool>{true, true, false});
  CHECK((a == 3).to_vector<bool>() == std::vector<bool>{false, false, true});
  CHECK((a >= -2).to_vector<bool>() == std::vector<bool>{true, true, true});
  CHECK((a != b).to_vector<bool>() == std::vector<bool>{true, true, true});
  CHECK((a == a).to_vector<bool>() == std::vector<bool>{true, true, true});
  CHECK((1.0 < a).to_vector<bool>() == std::vector<bool>{false, false, true});
  // Compared in the promoted type: int 1 == float 1.0 and 2 < 2.5.
  CHECK(eq(tensor(std::vector<int32_t>{1}), tensor(std::vector<float>{1.0f})).item<bool>());
  CHECK(lt(tensor(std::vector<int32_t>{2}), 2.5).item<bool>());
  CHECK(logical_xor(tensor(std::vector<float>{0, 2}), tensor(std::vector<int32_t>{1, 3})).to_vector<bool>() ==
        std::vector<bool>{true, false});
  Tensor w = where(tensor(std::vector<bool>{true, false}, {2, 1}), tensor(std::vector<float>{1, 2, 3}), 0.5);
  CHECK(w.shape() == Shape{2, 3});
  CHECK(w.to_vector<float>() == std::vector<float>{1, 2, 3, 0.5f, 0.5f, 0.5f});
  Tensor bc = add(tensor(std::vector<float>{1, 2, 3}, {3, 1}), tensor(std::vector<float>{10, 20, 30, 40}, {1, 4}));
  CHECK(bc.shape() == Shape{3, 4});
  CHECK(bc.to_vector<float>()[7] == 42);
}

TEST_CASE("elementwise in-place forms, operators and caller locations", "[elementwise]") {
  Tensor a = tensor(std::vector<float>{1, 2, 3});
  const uint64_t v0 = a.version();
  a += 1;
  a *= tensor(std::vector<float>{2, 2, 2});
  a -= 0.5;
  a /= 2;
  CHECK(a.to_vector<float>() == std::vector<float>{1.75f, 2.75f, 3.75f});
  CHECK(a.version() > v0);
  neg_(a);
  relu_(a);
  CHECK(a.to_vector<float>() == std::vector<float>{0, 0, 0});
  Tensor c = tensor(std::vector<float>{-5, 0, 5});
  clamp_(c, Scalar(-1.0), Scalar(1.0));
  CHECK(c.to_vector<float>() == std::vector<float>{-1, 0, 1});
  CHECK((-c).to_vector<float>() == std::vector<float>{1, -0.f, -1});
  Tensor i = tensor(std::vector<int32_t>{1, 2});
  CHECK_THROWS_AS(div_(i, 2), DTypeError);  // true division gives float32
  CHECK_THROWS_AS(add_(tensor(std::vector<float>{1}), tensor(std::vector<float>{1, 2})), ShapeError);
  CHECK(c.exp().sqrt().log().dtype() == DType::Float32);
  const int line = __LINE__ + 2;
  try {
    Tensor bad = tensor(std::vector<float>{1, 2}) + tensor(std::vector<float>{1, 2, 3});
    FAIL("expected a ShapeError");
  } catch (const ShapeError& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("test_elementwise.cpp") != std::string::npos);
    CHECK(what.find(std::to_string(line)) != std::string::npos);
  }
}

TEST_CASE("elementwise oneDNN kernels run for large float32 and match the reference", "[elementwise]") {
  Tensor x = make_input({64, 128}, DType::Float32, 3), y = make_input({128}, DType::Float32, 4);
  for (auto f : {+[](const Tensor& p, const Tensor& q) { return add(p, q); },
                 +[](const Tensor& p, const Tensor& q) { return add(q, p); },
                 +[](const Tensor& p, const Tensor& q) { return mul(q, p); },
                 +[](const Tensor& p, const Tensor& q) { return div(p, q); }}) {
    Tensor fast = f(x, y);
    CHECK(last_selected_backend() == Backend::OneDNN);
    ForceBackendGuard g(Backend::Reference);
    DOPPEL_REQUIRE_CLOSE(fast, f(x, y), default_tolerance(DType::Float32));
  }
  add(tensor(std::vector<float>{1, 2}), tensor(std::vector<float>{1, 2}));
  CHECK(last_selected_backend() == Backend::Reference);  // tiny tensors stay on the direct loop
}

}  // namespace doppel::testing
