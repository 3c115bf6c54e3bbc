// The error hierarchy, call-site reporting and Device parsing.
#include "support/test_util.h"

namespace doppel::testing {
namespace {

template <typename E>
void check_is_doppel_error() {
  try {
    detail::throw_error<E>("boom");
  } catch (const Error& e) {
    CHECK(dynamic_cast<const E*>(&e) != nullptr);
    CHECK(std::string(e.what()) == "boom");
    return;
  }
  FAIL("not caught as doppel::Error");
}

}  // namespace

TEST_CASE("every error class is a doppel::Error and a std::runtime_error", "[core]") {
  check_is_doppel_error<ShapeError>();
  check_is_doppel_error<DTypeError>();
  check_is_doppel_error<DeviceError>();
  check_is_doppel_error<IndexError>();
  check_is_doppel_error<ValueError>();
  check_is_doppel_error<TraceError>();
  check_is_doppel_error<FormatError>();
  check_is_doppel_error<OutOfMemoryError>();
  check_is_doppel_error<InternalError>();
  CHECK_THROWS_AS(detail::throw_error<ShapeError>("x"), std::runtime_error);
  // The check macros throw the matching type.
  CHECK_THROWS_AS([] { DOPPEL_CHECK_SHAPE(false, "s {}", 1); }(), ShapeError);
  CHECK_THROWS_AS([] { DOPPEL_CHECK_DTYPE(false, "d"); }(), DTypeError);
  CHECK_THROWS_AS([] { DOPPEL_CHECK_INDEX(false, "i"); }(), IndexError);
  CHECK_THROWS_AS([] { DOPPEL_CHECK_DEVICE(false, "v"); }(), DeviceError);
  CHECK_THROWS_AS([] { DOPPEL_CHECK(false, "x"); }(), ValueError);
  CHECK_THROWS_AS([] { DOPPEL_INTERNAL_ASSERT(1 + 1 == 3); }(), InternalError);
  try {
    DOPPEL_CHECK(2 < 1, "value {} is bad; use {}", 7, "another");
  } catch (const ValueError& e) {
    CHECK(std::string(e.what()) == "value 7 is bad; use another");
  }
}

TEST_CASE("a failing call names the caller's file and line", "[core]") {
  Tensor t = zeros({2, 3});
  const int line = __LINE__ + 2;
  try {
    (void)view(t, {7});
    FAIL("no exception");
  } catch (const ShapeError& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("view") != std::string::npos);
    CHECK(what.find(fmt::format("test_errors.cpp:{}", line)) != std::string::npos);
  }
  // Methods and nested library calls report the user's line, not the library's.
  const int line2 = __LINE__ + 2;
  try {
    (void)t.flatten().reshape({5});
    FAIL("no exception");
  } catch (const ShapeError& e) {
    CHECK(std::string(e.what()).find(fmt::format("test_errors.cpp:{}", line2)) != std::string::npos);
  }
  const int line3 = __LINE__ + 2;
  try {
    (void)t.item<float>();
    FAIL("no exception");
  } catch (const ValueError& e) {
    CHECK(std::string(e.what()).find(fmt::format("test_errors.cpp:{}", line3)) != std::string::npos);
  }
  // After an error, the call-site slot is free again: a later core-only error has no stale site.
  try {
    detail::throw_error<ValueError>("plain");
  } catch (const ValueError& e) {
    CHECK(std::string(e.what()) == "plain");
  }
}

TEST_CASE("Device parsing", "[core]") {
  CHECK(Device("cpu") == kCPU);
  CHECK(Device("cuda").is_cuda());
  CHECK(Device("cuda").index == 0);
  CHECK(Device("cuda:3").index == 3);
  CHECK(Device("cuda:3").str() == "cuda:3");
  CHECK(kCPU.str() == "cpu");
  for (const char* bad : {"", "gpu", "CPU", "cuda:", "cuda:-1", "cuda:x", "cuda:1x", "cuda1", "cuda:99999"}) {
    INFO(bad);
    CHECK_THROWS_AS(Device(bad), ValueError);
  }
  try {
    Device d("tpu");
  } catch (const ValueError& e) {
    CHECK(std::string(e.what()).find("tpu") != std::string::npos);
  }
}

}  // namespace doppel::testing
