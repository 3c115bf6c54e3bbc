#pragma once
// Helpers shared by the tests: deterministic inputs made without doppel's own random ops, and
// tolerance-aware comparison with a readable first-mismatch report.
#include <catch2/catch_test_macros.hpp>
#include <optional>
#include <string>
#include <vector>

#include "doppel/doppel.h"

namespace doppel::testing {

struct Tolerance {
  double rtol = 0;
  double atol = 0;
};
// Defaults for comparing two implementations of one op in `dtype`.
Tolerance default_tolerance(DType dtype);

// Values uniform in [low, high) from a std::mt19937 seeded with `seed` (integers: rounded).
Tensor make_input(IntList shape, DType dtype, uint64_t seed, double low = -2.0, double high = 2.0);
// The same values as `t` in a tensor whose strides are not contiguous (every dim gets stride
// padding), so kernels see a genuinely strided input.
Tensor make_noncontiguous(const Tensor& t);

// nullopt when `actual` matches `expected` (shape, dtype, values within tolerance; NaNs match
// NaNs), else a description of the first mismatch.
std::optional<std::string> compare(const Tensor& actual, const Tensor& expected, Tolerance tol);

// The message of the E thrown by f() ("<no exception>" when none; other types propagate).
template <typename E, typename F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "<no exception>";
}

}  // namespace doppel::testing

#define DOPPEL_REQUIRE_CLOSE(actual, expected, tol)                                   \
  do {                                                                                \
    auto doppel_mismatch_ = ::doppel::testing::compare((actual), (expected), (tol));   \
    INFO((doppel_mismatch_ ? *doppel_mismatch_ : std::string()));                     \
    REQUIRE(!doppel_mismatch_);                                                       \
  } while (0)
