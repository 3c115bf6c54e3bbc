// Devices and threads at the API level.
#include <catch2/catch_test_macros.hpp>

#include "doppel/doppel.h"

namespace doppel {

TEST_CASE("CUDA: the build option and the device count agree", "[eager][device]") {
  const int n = cuda_device_count();
  if (!cuda_compiled()) {
    CHECK(n == 0);
    SKIP("doppel was built without CUDA (DOPPEL_CUDA=OFF): no CUDA test runs");
  }
  if (n == 0) SKIP("built with CUDA, but this machine has no CUDA device (or driver): GPU tests skipped");
  CHECK(n > 0);
}

TEST_CASE("tensors on a device without a backend raise DeviceError", "[eager][device]") {
  if (cuda_compiled() && cuda_device_count() > 0) SKIP("a CUDA device is present; this checks the no-backend path");
  CHECK_THROWS_AS(zeros({2}, {.device = Device("cuda:0")}), DeviceError);
}

TEST_CASE("set_num_threads validates and is reported back", "[eager][threads]") {
  const int before = get_num_threads();
  set_num_threads(1);
  CHECK(get_num_threads() == 1);
  set_num_threads(before);
  CHECK(get_num_threads() == before);
  CHECK_THROWS_AS(set_num_threads(0), ValueError);
}

}  // namespace doppel
