// Specs and value tests of the bitwise ops, the rounding divisions (fmod, remainder,
// floor_divide, div's rounding modes), atan2 and trunc: PyTorch's dtype rules, sign conventions,
// NaN/±Inf/−0 and integer division by zero. Expected values are hand-computed (and agree with
// PyTorch 1.13).
#include <cmath>
#include <limits>

#include <catch2/catch_approx.hpp>

#include "doppel/autocast.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/type_promotion.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kInts = {DType::Int8, DType::UInt8, DType::Int32, DType::Int64};
const std::vector<DType> kBits = {DType::Bool, DType::Int8, DType::UInt8, DType::Int32, DType::Int64};
const std::vector<DType> kRealNumbers = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16,
                                         DType::Int8,    DType::UInt8,   DType::Int32,    DType::Int64};
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Dividend and divisor samples: the divisor in [1, 4) (negated for signed dtypes), so integer
// samples never divide by zero; broadcasting both ways, wrapped numbers, empty and large shapes.
std::vector<Sample> division_samples(DType dt) {
  const double lo = dt == DType::UInt8 ? 0 : -9;
  auto num = [&](IntList s, uint64_t seed) { return make_input(s, dt, seed, lo, 9); };
  auto den = [&](IntList s, uint64_t seed) {
    const Tensor d = make_input(s, dt, seed, 1, 4);
    return dt == DType::UInt8 || seed % 2 == 0 ? d : neg(d);
  };
  std::vector<Sample> v = {{"same shape", {num({3, 5}, 1), den({3, 5}, 2)}, {}},
                           {"negative divisor", {num({3, 5}, 3), den({3, 5}, 5)}, {}},
                           {"[3,1] with [1,4]", {num({3, 1}, 4), den({1, 4}, 6)}, {}},
                           {"tensor with wrapped scalar", {num({2, 3}, 7), wrap_scalar(Scalar(int64_t(3)))}, {}},
                           {"wrapped scalar with tensor", {wrap_scalar(Scalar(int64_t(7))), den({2, 3}, 8)}, {}},
                           {"empty", {num({0, 3}, 9), den({1, 3}, 10)}, {}},
                           {"large", {num({257, 129}, 11), den({257, 129}, 12)}, {}},
                           {"large broadcast row", {num({257, 129}, 13), den({129}, 15)}, {}}};
  // Specials are checked by value (finite differences cannot take them), so not in float64.
  if (is_floating(dt) && dt != DType::Float64)
    v.push_back({"NaN, Inf and -0",
                 {tensor(std::vector<double>{kNaN, kInf, -kInf, -0.0, 0.0, 5.0, -5.0}).to(dt),
                  tensor(std::vector<double>{1.0, 2.0, 2.0, 3.0, -3.0, kInf, kInf}).to(dt)},
                 {}});
  if (is_floating(dt))
    v.push_back({"int32 with float", {make_input({2, 3}, DType::Int32, 16, -9, 9), den({2, 3}, 17)}, {}});
  return v;
}

OpSpec division_spec(OpId op) {
  return OpSpec{.op = op,
                .dtypes = kRealNumbers,
                .samples = division_samples,
                .errors =
                    [op] {
                      const std::string name(op_name(op));
                      return std::vector<ErrorSample>{
                          {"bool",
                           {make_input({2}, DType::Bool, 1), make_input({2}, DType::Bool, 2)},
                           {},
                           ErrorKind::DType,
                           name},
                          {"integer division by zero",
                           {make_input({3}, DType::Int32, 3), tensor(std::vector<int32_t>{1, 0, 2})},
                           {},
                           ErrorKind::Value,
                           "ZeroDivisionError"},
                          {"shape mismatch",
                           {make_input({2, 3}, DType::Float32, 4), make_input({4}, DType::Float32, 5)},
                           {},
                           ErrorKind::Shape,
                           ""}};
                    },
                .gradgradcheck = true};
}

std::vector<Sample> bitwise_samples(DType dt) {
  const double lo = dt == DType::UInt8 ? 0 : -100;
  auto in = [&](IntList s, uint64_t seed) { return make_input(s, dt, seed, lo, 100); };
  std::vector<Sample> v = {{"same shape", {in({3, 5}, 1), in({3, 5}, 2)}, {}},
                           {"[3,1] with [1,4]", {in({3, 1}, 3), in({1, 4}, 4)}, {}},
                           {"0-d with tensor", {in({}, 5), in({2, 3}, 6)}, {}},
                           {"tensor with wrapped int", {in({2, 3}, 7), wrap_scalar(Scalar(int64_t(6)))}, {}},
                           {"wrapped bool with tensor", {wrap_scalar(Scalar(true)), in({2, 3}, 8)}, {}},
                           {"empty", {in({0, 3}, 9), in({1, 3}, 10)}, {}},
                           {"large", {in({257, 129}, 11), in({257, 129}, 12)}, {}}};
  if (dt == DType::UInt8)
    v.push_back({"uint8 with int8", {in({2, 3}, 13), make_input({2, 3}, DType::Int8, 14, -9, 9)}, {}});
  if (dt == DType::Int32) v.push_back({"int32 with bool", {in({2, 3}, 15), make_input({2, 3}, DType::Bool, 16)}, {}});
  return v;
}

OpSpec bitwise_spec(OpId op) {
  return OpSpec{
      .op = op, .dtypes = kBits, .samples = bitwise_samples, .errors = [op] {
        return std::vector<ErrorSample>{{"float",
                                         {make_input({2}, DType::Float32, 1), make_input({2}, DType::Int32, 2)},
                                         {},
                                         ErrorKind::DType,
                                         std::string(op_name(op))}};
      }};
}

}  // namespace

DOPPEL_OP_SPEC(fmod_spec) { return division_spec(OpId::fmod); }
DOPPEL_OP_SPEC(remainder_spec) { return division_spec(OpId::remainder); }
DOPPEL_OP_SPEC(floor_divide_spec) { return division_spec(OpId::floor_divide); }
DOPPEL_OP_SPEC(bitwise_and_spec) { return bitwise_spec(OpId::bitwise_and); }
DOPPEL_OP_SPEC(bitwise_or_spec) { return bitwise_spec(OpId::bitwise_or); }
DOPPEL_OP_SPEC(bitwise_xor_spec) { return bitwise_spec(OpId::bitwise_xor); }
DOPPEL_OP_SPEC(bitwise_not_spec) {
  return OpSpec{.op = OpId::bitwise_not,
                .dtypes = kBits,
                .samples =
                    [](DType dt) {
                      return std::vector<Sample>{
                          {"matrix", {make_input({3, 5}, dt, 1, -100, 100)}, {}},
                          {"0-d", {make_input({}, dt, 2, -100, 100)}, {}},
                          {"transposed", {transpose(make_input({4, 6}, dt, 3, -100, 100), 0, 1)}, {}},
                          {"large", {make_input({257, 129}, dt, 4, -100, 100)}, {}}};
                    },
                .errors =
                    [] {
                      return std::vector<ErrorSample>{
                          {"float", {make_input({2}, DType::Float64, 1)}, {}, ErrorKind::DType, "bitwise_not"}};
                    }};
}
DOPPEL_OP_SPEC(atan2_spec) {
  return OpSpec{.op = OpId::atan2,
                .dtypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int32, DType::Bool},
                .samples =
                    [](DType dt) {
                      auto in = [&](IntList s, uint64_t seed) { return make_input(s, dt, seed, -3, 3); };
                      std::vector<Sample> v = {
                          {"same shape", {in({3, 5}, 1), in({3, 5}, 2)}, {}},
                          {"[3,1] with [1,4]", {in({3, 1}, 3), in({1, 4}, 4)}, {}},
                          {"tensor with wrapped scalar", {in({2, 3}, 5), wrap_scalar(Scalar(-1.5))}, {}},
                          {"empty", {in({0, 3}, 6), in({1, 3}, 7)}, {}},
                          {"large", {in({257, 129}, 8), in({129}, 9)}, {}}};
                      if (is_floating(dt) && dt != DType::Float64)
                        v.push_back({"signed zeros and infinities",
                                     {tensor(std::vector<double>{0.0, -0.0, 0.0, -0.0, kInf, -kInf, 1.0, kNaN}).to(dt),
                                      tensor(std::vector<double>{0.0, 0.0, -0.0, -0.0, kInf, 2.0, -kInf, 1.0}).to(dt)},
                                     {}});
                      return v;
                    },
                .gradgradcheck = true};
}
DOPPEL_OP_SPEC(trunc_spec) {
  return OpSpec{
      .op = OpId::trunc,
      .dtypes = kRealNumbers,
      .samples =
          [](DType dt) {
            std::vector<Sample> v = {{"matrix", {make_input({3, 5}, dt, 1, -4, 4)}, {}},
                                     {"transposed", {transpose(make_input({4, 6}, dt, 2, -4, 4), 0, 1)}, {}},
                                     {"large", {make_input({257, 129}, dt, 3, -4, 4)}, {}}};
            if (is_floating(dt) && dt != DType::Float64)
              v.push_back({"specials", {tensor(std::vector<double>{kNaN, kInf, -kInf, -0.0, -0.5, 2.5}).to(dt)}, {}});
            return v;
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{{"bool", {make_input({2}, DType::Bool, 1)}, {}, ErrorKind::DType, "trunc"}};
          }};
}

// ---- Values.

namespace {
std::vector<double> values(const Tensor& t) { return to_dtype(t, DType::Float64).to_vector<double>(); }

// Equal as doubles, NaN matching NaN and the sign of zero significant.
void check_same(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << " want " << want[i]);
    if (std::isnan(want[i])) {
      CHECK(std::isnan(got[i]));
    } else {
      CHECK(got[i] == want[i]);
      CHECK(std::signbit(got[i]) == std::signbit(want[i]));
    }
  }
}
}  // namespace

TEST_CASE("rounding divisions: signs, zeros and infinities in float", "[elementwise]") {
  ForceBackendGuard g(Backend::Reference);
  const Tensor a = tensor(std::vector<double>{5.5, -5.5, 5.5, -5.5, -0.0, 0.0, 1.0, -1.0, kInf, 3.0, kNaN, 7.0});
  const Tensor b = tensor(std::vector<double>{2.0, 2.0, -2.0, -2.0, 3.0, -3.0, kInf, kInf, 2.0, 0.0, 1.0, kNaN});
  for (DType dt : {DType::Float64, DType::Float32}) {
    INFO(dtype_name(dt));
    const Tensor x = a.to(dt), y = b.to(dt);
    // fmod has the dividend's sign, remainder the divisor's.
    check_same(values(fmod(x, y)), {1.5, -1.5, 1.5, -1.5, -0.0, 0.0, 1.0, -1.0, kNaN, kNaN, kNaN, kNaN});
    check_same(values(remainder(x, y)), {1.5, 0.5, -0.5, -1.5, -0.0, 0.0, 1.0, kInf, kNaN, kNaN, kNaN, kNaN});
    check_same(values(x % y), values(remainder(x, y)));
    check_same(values(floor_divide(x, y)), {2.0, -3.0, -3.0, 2.0, -0.0, -0.0, 0.0, -1.0, kNaN, kInf, kNaN, kNaN});
    check_same(values(div(x, y, RoundingMode::floor)), values(floor_divide(x, y)));
    check_same(values(div(x, y, RoundingMode::trunc)),
               {2.0, -2.0, -2.0, 2.0, -0.0, -0.0, 0.0, -0.0, kInf, kInf, kNaN, kNaN});
  }
}

TEST_CASE("rounding divisions: integers, wrapping and division by zero", "[elementwise]") {
  ForceBackendGuard g(Backend::Reference);
  const Tensor i = tensor(std::vector<int32_t>{7, -7, 7, -7, 0, std::numeric_limits<int32_t>::min()});
  const Tensor j = tensor(std::vector<int32_t>{2, 2, -2, -2, 5, 3});
  CHECK(fmod(i, j).to_vector<int32_t>() == std::vector<int32_t>{1, -1, 1, -1, 0, -2});
  CHECK(remainder(i, j).to_vector<int32_t>() == std::vector<int32_t>{1, 1, -1, -1, 0, 1});
  CHECK(floor_divide(i, j).to_vector<int32_t>() == std::vector<int32_t>{3, -4, -4, 3, 0, -715827883});
  CHECK(div(i, j, RoundingMode::trunc).to_vector<int32_t>() == std::vector<int32_t>{3, -3, -3, 3, 0, -715827882});
  CHECK(floor_divide(i, j).dtype() == DType::Int32);
  // The most negative value divided by -1 wraps (two's complement) instead of trapping.
  const Tensor lo = tensor(std::vector<int8_t>{-128, -128});
  const Tensor m1 = tensor(std::vector<int8_t>{-1, -1});
  CHECK(floor_divide(lo, m1).to_vector<int8_t>() == std::vector<int8_t>{-128, -128});
  CHECK(fmod(lo, m1).to_vector<int8_t>() == std::vector<int8_t>{0, 0});
  CHECK(remainder(lo, m1).to_vector<int8_t>() == std::vector<int8_t>{0, 0});
  // Unsigned: plain division; uint8 with a wrapped int stays uint8.
  CHECK(remainder(tensor(std::vector<uint8_t>{250, 7}), Scalar(int64_t(4))).to_vector<uint8_t>() ==
        std::vector<uint8_t>{2, 3});
  // A float operand promotes.
  CHECK(remainder(tensor(std::vector<int64_t>{-3, 2, 5}), 2.5).to_vector<float>() == std::vector<float>{2, 2, 0});
  // PyTorch raises ZeroDivisionError for an integer zero divisor (numpy returns 0).
  for (auto f : {+[](const Tensor&a, const Tensor&b) { return fmod(a, b); },
                 +[](const Tensor&a, const Tensor&b) { return remainder(a, b); },
                 +[](const Tensor&a, const Tensor&b) { return floor_divide(a, b); },
                 +[](const Tensor&a, const Tensor&b) { return div(a, b, RoundingMode::trunc); }}) {
    const std::string msg = error_message<ValueError>([&] { f(i, tensor(std::vector<int32_t>{0})); });
    CHECK(msg.find("ZeroDivisionError") != std::string::npos);
  }
  // Large (threaded) loops report it too.
  Tensor big = make_input({300, 300}, DType::Int64, 1, 1, 9);
  Tensor zero = mul(big, Scalar(int64_t(0)));
  CHECK_NOTHROW(floor_divide(big, add(zero, Scalar(int64_t(3)))));
  CHECK_THROWS_AS(floor_divide(big, zero), ValueError);
  CHECK_THROWS_AS(fmod(tensor(std::vector<bool>{true}), tensor(std::vector<bool>{true})), DTypeError);
  CHECK(error_message<ValueError>([] { rounding_mode_from("round"); }).find("rounding_mode") != std::string::npos);
}

TEST_CASE("bitwise ops: integers are bitwise, bool is logical, floats are refused", "[elementwise]") {
  ForceBackendGuard g(Backend::Reference);
  const Tensor a = tensor(std::vector<int32_t>{12, -1, 0, 5});
  const Tensor b = tensor(std::vector<int32_t>{10, 7, -1, 3});
  CHECK(bitwise_and(a, b).to_vector<int32_t>() == std::vector<int32_t>{8, 7, 0, 1});
  CHECK(bitwise_or(a, b).to_vector<int32_t>() == std::vector<int32_t>{14, -1, -1, 7});
  CHECK(bitwise_xor(a, b).to_vector<int32_t>() == std::vector<int32_t>{6, -8, -1, 6});
  CHECK(bitwise_not(a).to_vector<int32_t>() == std::vector<int32_t>{-13, 0, -1, -6});
  // The C++ operators (issue 12 item 5: they were logical, with a bool result).
  CHECK((a & b).dtype() == DType::Int32);
  CHECK((a & b).to_vector<int32_t>() == std::vector<int32_t>{8, 7, 0, 1});
  CHECK((a | 1).to_vector<int32_t>() == std::vector<int32_t>{13, -1, 1, 5});
  CHECK((6 ^ a).to_vector<int32_t>() == std::vector<int32_t>{10, -7, 6, 3});
  CHECK((~a).to_vector<int32_t>() == std::vector<int32_t>{-13, 0, -1, -6});
  CHECK((a % 5).to_vector<int32_t>() == std::vector<int32_t>{2, 4, 0, 0});
  Tensor c = clone(a);
  c &= b;
  c |= 16;
  c ^= 1;
  CHECK(c.to_vector<int32_t>() == std::vector<int32_t>{25, 22, 17, 16});
  CHECK(bitwise_not(tensor(std::vector<uint8_t>{5, 0})).to_vector<uint8_t>() == std::vector<uint8_t>{250, 255});
  CHECK(bitwise_and(tensor(std::vector<int8_t>{-128}), tensor(std::vector<int8_t>{127})).item<int8_t>() == 0);
  // uint8 & int8 promotes to int16 in PyTorch; doppel has no int16, and its result_type gives int32.
  CHECK(bitwise_and(tensor(std::vector<uint8_t>{255}), tensor(std::vector<int8_t>{-1})).item<int32_t>() == 255);
  // Bool: logical results, bool dtype; a Python/C++ bool keeps it bool, an int promotes.
  const Tensor p = tensor(std::vector<bool>{true, true, false, false}),
               q = tensor(std::vector<bool>{true, false, true, false});
  CHECK((p & q).to_vector<bool>() == std::vector<bool>{true, false, false, false});
  CHECK((p | q).to_vector<bool>() == std::vector<bool>{true, true, true, false});
  CHECK((p ^ q).to_vector<bool>() == std::vector<bool>{false, true, true, false});
  CHECK((~p).to_vector<bool>() == std::vector<bool>{false, false, true, true});
  CHECK((p & true).dtype() == DType::Bool);
  CHECK((p & 3).dtype() == DType::Int64);
  CHECK((p & 3).to_vector<int64_t>() == std::vector<int64_t>{1, 1, 0, 0});
  CHECK_THROWS_AS(tensor(std::vector<float>{1}) & tensor(std::vector<float>{1}), DTypeError);
  CHECK_THROWS_AS(~tensor(std::vector<double>{1}), DTypeError);
  const std::string msg = error_message<DTypeError>([] { bitwise_or(tensor(std::vector<int32_t>{1}), 1.5); });
  CHECK(msg.find("bitwise_or") != std::string::npos);
}

TEST_CASE("atan2 and trunc values; add and sub with alpha", "[elementwise]") {
  ForceBackendGuard g(Backend::Reference);
  const std::vector<double> ys = {1.0, -1.0, 1.0, -1.0, 0.0, -0.0, 0.0, -0.0, kInf, 2.5};
  const std::vector<double> xs = {2.0, 2.0, -2.0, -2.0, 0.0, 0.0, -0.0, -0.0, 1.0, kInf};
  std::vector<double> want;
  for (size_t k = 0; k < ys.size(); ++k) want.push_back(std::atan2(ys[k], xs[k]));
  check_same(values(atan2(tensor(ys), tensor(xs))), want);
  CHECK(want[6] == M_PI);  // the oracle's quadrants: atan2(+0, -0) = pi
  const Tensor ai = atan2(tensor(std::vector<int32_t>{1, -1}), tensor(std::vector<int32_t>{1, 0}));
  CHECK(ai.dtype() == DType::Float32);
  CHECK(ai.to_vector<float>()[0] == Catch::Approx(M_PI / 4));
  CHECK(ai.to_vector<float>()[1] == Catch::Approx(-M_PI / 2));
  check_same(values(trunc(tensor(std::vector<double>{-kInf, -1.5, -0.5, -0.0, 0.5, 2.7, kNaN}))),
             {-kInf, -1.0, -0.0, -0.0, 0.0, 2.0, kNaN});
  CHECK(trunc(tensor(std::vector<int64_t>{-3, 4})).to_vector<int64_t>() == std::vector<int64_t>{-3, 4});
  check_same(values(fix(tensor(std::vector<float>{-2.5f}))), {-2.0});
  // Autocast: atan2 is on PyTorch's promote list (the widest floating input dtype).
  CHECK(autocast_policy(OpId::atan2) == AutocastPolicy::Promote);
  {
    AutocastGuard amp(DeviceType::CPU);
    const Tensor low = make_input({2, 3}, DType::BFloat16, 1);
    CHECK(atan2(low, make_input({2, 3}, DType::Float32, 2)).dtype() == DType::Float32);
    CHECK(atan2(low, low).dtype() == DType::BFloat16);
  }

  const Tensor x = tensor(std::vector<double>{1, 2}), y = tensor(std::vector<double>{3, -4});
  CHECK(add(x, y, Scalar(2.5)).to_vector<double>() == std::vector<double>{8.5, -8});
  CHECK(sub(x, y, Scalar(2)).to_vector<double>() == std::vector<double>{-5, 10});
  const Tensor i = tensor(std::vector<int64_t>{1, 2});
  CHECK(add(i, i, Scalar(int64_t(3))).to_vector<int64_t>() == std::vector<int64_t>{4, 8});
  CHECK_THROWS_AS(add(i, i, Scalar(2.5)), DTypeError);  // PyTorch: no floating alpha for integers
  const Tensor t = tensor(std::vector<bool>{true, false});
  CHECK(add(t, t, Scalar(true)).to_vector<bool>() == std::vector<bool>{true, false});
  // An integral alpha is converted to bool, as PyTorch does: add(x, y, 2) is x | y, add(x, y, 0) is x.
  const Tensor u = tensor(std::vector<bool>{false, true});
  CHECK(add(t, u, Scalar(int64_t(2))).to_vector<bool>() == std::vector<bool>{true, true});
  CHECK(add(t, u, Scalar(int64_t(0))).to_vector<bool>() == std::vector<bool>{true, false});
  CHECK(add(t, u, Scalar(int64_t(2))).dtype() == DType::Bool);
  CHECK_THROWS_AS(add(t, u, Scalar(0.5)), DTypeError);  // floating alpha: refused as for integers
}

}  // namespace doppel::testing
