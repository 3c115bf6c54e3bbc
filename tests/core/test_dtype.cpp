// DType promotion (vs PyTorch's table and result_type rules) and the 16-bit float conversions
// (vs GCC's _Float16 and a hand-written bfloat16 rounding).
#include <bit>
#include <cmath>
#include <random>

#include "doppel/kernels/type_promotion.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

constexpr DType F32 = DType::Float32, F64 = DType::Float64, BF = DType::BFloat16, F16 = DType::Float16,
                I8 = DType::Int8, U8 = DType::UInt8, I32 = DType::Int32, I64 = DType::Int64, B = DType::Bool;
const DType kOrder[kNumDTypes] = {F32, F64, BF, F16, I8, U8, I32, I64, B};

Tensor dim_tensor(DType t) { return zeros({2}, {.dtype = t}); }
Tensor zero_d(DType t) { return zeros({}, {.dtype = t}); }
DType rt(std::initializer_list<Tensor> ts) { return result_type(std::span<const Tensor>(ts.begin(), ts.size())); }

}  // namespace

TEST_CASE("promote_types matches PyTorch's table", "[core]") {
  // torch.promote_types for the dtypes doppel has, rows/columns in kOrder. The one deliberate
  // difference: PyTorch gives int16 for uint8 + int8; doppel has no int16 and uses int32.
  const DType table[kNumDTypes][kNumDTypes] = {
      /* F32 */ {F32, F64, F32, F32, F32, F32, F32, F32, F32},
      /* F64 */ {F64, F64, F64, F64, F64, F64, F64, F64, F64},
      /* BF  */ {F32, F64, BF, F32, BF, BF, BF, BF, BF},
      /* F16 */ {F32, F64, F32, F16, F16, F16, F16, F16, F16},
      /* I8  */ {F32, F64, BF, F16, I8, I32, I32, I64, I8},
      /* U8  */ {F32, F64, BF, F16, I32, U8, I32, I64, U8},
      /* I32 */ {F32, F64, BF, F16, I32, I32, I32, I64, I32},
      /* I64 */ {F32, F64, BF, F16, I64, I64, I64, I64, I64},
      /* B   */ {F32, F64, BF, F16, I8, U8, I32, I64, B},
  };
  for (int r = 0; r < kNumDTypes; ++r)
    for (int c = 0; c < kNumDTypes; ++c) {
      INFO(dtype_name(kOrder[r]) << " + " << dtype_name(kOrder[c]));
      CHECK(promote_types(kOrder[r], kOrder[c]) == table[r][c]);
    }
}

TEST_CASE("dtype names and sizes", "[core]") {
  CHECK(dtype_name(BF) == "bfloat16");
  CHECK(dtype_name(U8) == "uint8");
  CHECK(element_size(F16) == 2);
  CHECK(element_size(I64) == 8);
  CHECK(element_size(B) == 1);
  CHECK(is_floating(BF));
  CHECK_FALSE(is_floating(I32));
  CHECK(is_integral(B, true));
  CHECK_FALSE(is_integral(B, false));
}

TEST_CASE("result_type follows PyTorch's priority of dimensioned, 0-d and wrapped operands", "[core]") {
  // Wrapped C++ numbers only matter when of a higher category, and then count as the default
  // dtype of that category (float32 for floats).
  CHECK(rt({dim_tensor(F32), wrap_scalar(2.5)}) == F32);
  CHECK(rt({dim_tensor(F16), wrap_scalar(2.5)}) == F16);
  CHECK(rt({dim_tensor(I32), wrap_scalar(2.5)}) == F32);
  CHECK(rt({dim_tensor(I32), wrap_scalar(int64_t(7))}) == I32);
  CHECK(rt({dim_tensor(U8), wrap_scalar(1000)}) == U8);
  CHECK(rt({dim_tensor(B), wrap_scalar(1)}) == I64);
  CHECK(rt({dim_tensor(B), wrap_scalar(1.0)}) == F32);
  CHECK(rt({dim_tensor(I8), wrap_scalar(true)}) == I8);
  CHECK(rt({wrap_scalar(1), wrap_scalar(1.0)}) == F32);
  CHECK(rt({wrap_scalar(1), wrap_scalar(2)}) == I64);
  // 0-d tensors: same category → the dimensioned tensor wins; higher category → promote with
  // the 0-d tensor's own dtype (torch.ones(2, dtype=int32) + torch.tensor(1., dtype=float64)
  // is float64).
  CHECK(rt({dim_tensor(I32), zero_d(I64)}) == I32);
  CHECK(rt({dim_tensor(I8), zero_d(U8)}) == I8);
  CHECK(rt({dim_tensor(I32), zero_d(F64)}) == F64);
  CHECK(rt({dim_tensor(I32), zero_d(F16)}) == F16);
  CHECK(rt({dim_tensor(F16), zero_d(F64)}) == F16);
  CHECK(rt({dim_tensor(B), zero_d(I32)}) == I32);
  CHECK(rt({dim_tensor(B), zero_d(B)}) == B);
  // 0-d beats wrapped numbers the same way.
  CHECK(rt({zero_d(I32), wrap_scalar(1.5)}) == F32);
  CHECK(rt({zero_d(F16), wrap_scalar(1.5)}) == F16);
  CHECK(rt({zero_d(I64), zero_d(F16)}) == F16);
  CHECK(rt({zero_d(I8), zero_d(U8)}) == I32);
  // Among dimensioned tensors it is promote_types; 0-d tensors then only raise the category.
  CHECK(rt({dim_tensor(I8), dim_tensor(U8)}) == I32);
  CHECK(rt({dim_tensor(BF), dim_tensor(F16), zero_d(F64)}) == F32);
  CHECK(rt({dim_tensor(U8), zero_d(I64), wrap_scalar(2.0)}) == F32);
  // Undefined (absent optional) operands do not count.
  CHECK(rt({dim_tensor(I32), Tensor()}) == I32);
}

TEST_CASE("wrap_scalar and scalar_tensor", "[core]") {
  Tensor w = wrap_scalar(2.5);
  CHECK(w.dim() == 0);
  CHECK(w.impl()->is_wrapped_number());
  CHECK(w.item<double>() == 2.5);
  Tensor s = scalar_tensor(300, U8);
  CHECK_FALSE(s.impl()->is_wrapped_number());
  CHECK(s.dtype() == U8);
  CHECK(s.item<int>() == 44);  // wraps modulo 256 like a C++ conversion
  Tensor c = cast_if_needed(dim_tensor(I32), I32);
  CHECK(c.dtype() == I32);
}

TEST_CASE("float16 <-> float agrees with _Float16 on every bit pattern", "[core]") {
  // Half -> float: all 65536 patterns.
  for (uint32_t b = 0; b < 65536; ++b) {
    const float ours = float16::to_float(uint16_t(b));
    const float ref = float(std::bit_cast<_Float16>(uint16_t(b)));
    if (std::isnan(ref)) {
      REQUIRE(std::isnan(ours));
    } else {
      INFO("bits " << b);
      REQUIRE(std::bit_cast<uint32_t>(ours) == std::bit_cast<uint32_t>(ref));
    }
  }
  // Float -> half: every half value, the exact midpoints between neighbours (ties to even) and
  // one float ulp either side of each, subnormals and overflow included, plus random floats.
  auto check = [](float f) {
    const uint16_t ours = float16::from_float(f);
    const uint16_t ref = std::bit_cast<uint16_t>(static_cast<_Float16>(f));
    if (std::isnan(f)) {
      REQUIRE(std::isnan(float16::to_float(ours)));
      return;
    }
    INFO("float " << f << " bits " << std::bit_cast<uint32_t>(f));
    REQUIRE(ours == ref);
  };
  for (uint32_t b = 0; b < 0x7c00; ++b) {
    const float lo = float16::to_float(uint16_t(b)), hi = float16::to_float(uint16_t(b + 1));
    const float mid = lo + (hi - lo) / 2;  // exact in float
    for (float f : {lo, mid, std::nextafter(mid, 0.f), std::nextafter(mid, INFINITY)}) {
      check(f);
      check(-f);
    }
  }
  for (float f : {65504.f, 65519.99f, 65520.f, 1e5f, INFINITY, -INFINITY, NAN, 5.96e-8f, 2.98e-8f, 2.99e-8f, 1e-10f,
                  0.f, -0.f, std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max()})
    check(f);
  std::mt19937 rng(12345);
  for (int k = 0; k < 1000000; ++k) check(std::bit_cast<float>(uint32_t(rng())));
  // Concentrate on the half range, where rounding matters most.
  std::uniform_real_distribution<float> e(-30.f, 17.f);
  for (int k = 0; k < 1000000; ++k) check(std::ldexp(1.f + float(rng() & 0xffffff) / 16777216.f, int(e(rng))));
}

TEST_CASE("bfloat16 rounds to nearest even", "[core]") {
  // Independent oracle: pick the nearer of the two bfloat16 neighbours in double, ties to even.
  auto expected = [](float f) -> uint16_t {
    const uint32_t u = std::bit_cast<uint32_t>(f);
    const uint32_t lo = u & 0xffff0000u;
    const double dlo = std::bit_cast<float>(lo);
    const double dhi = lo == 0x7f7f0000u   ? std::ldexp(1.0, 128)
                       : lo == 0xff7f0000u ? -std::ldexp(1.0, 128)
                                           : double(std::bit_cast<float>(lo + 0x10000u));
    const double dl = std::fabs(double(f) - dlo), dh = std::fabs(double(f) - dhi);
    const uint16_t l = uint16_t(lo >> 16), h = uint16_t(l + 1);
    if (dl < dh) return l;
    if (dh < dl) return h;
    return (l & 1) ? h : l;
  };
  // Hand cases: exact ties go to the even mantissa.
  CHECK(bfloat16(1.0f + 0x1p-8f).bits == 0x3f80);             // tie, 1.0 is even
  CHECK(bfloat16(1.0f + 3 * 0x1p-8f).bits == 0x3f82);         // tie between 0x3f81 (odd) and 0x3f82
  CHECK(bfloat16(1.0f + 0x1p-8f + 0x1p-20f).bits == 0x3f81);  // above the tie
  CHECK(bfloat16(-1.0f - 0x1p-8f).bits == 0xbf80);
  CHECK(float(bfloat16(3.140625f)) == 3.140625f);                     // exactly representable
  CHECK(bfloat16(std::numeric_limits<float>::max()).bits == 0x7f80);  // rounds to inf
  CHECK(std::isnan(float(bfloat16(NAN))));
  CHECK(bfloat16(INFINITY).bits == 0x7f80);
  CHECK(bfloat16(-0.f).bits == 0x8000);
  std::mt19937 rng(777);
  for (int k = 0; k < 1000000; ++k) {
    const float f = std::bit_cast<float>(uint32_t(rng()));
    if (std::isnan(f)) {
      REQUIRE(std::isnan(float(bfloat16(f))));
      continue;
    }
    INFO("bits " << std::bit_cast<uint32_t>(f));
    REQUIRE(bfloat16(f).bits == expected(f));
  }
  // Every tie pattern with both parities.
  for (uint32_t hi = 0; hi < 0x7f80; hi += 37) {
    const float tie = std::bit_cast<float>((hi << 16) | 0x8000u);
    REQUIRE(bfloat16(tie).bits == expected(tie));
  }
}

}  // namespace doppel::testing
