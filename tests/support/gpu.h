#pragma once
// The GPU tests' guard: every test case in tests/gpu/ is tagged [gpu] and starts with
// DOPPEL_REQUIRE_GPU(), which SKIPs (Catch2's skip, not a pass) with the reason when this build
// has no CUDA backend or the machine has no usable CUDA device.
#include <catch2/catch_test_macros.hpp>
#include <optional>
#include <string>

#include "doppel/core/device.h"

namespace doppel::testing {

inline constexpr Device kCuda0{DeviceType::CUDA, 0};

// Why CUDA tests cannot run here, or nullopt when cuda:0 is usable.
std::optional<std::string> gpu_unavailable_reason();

}  // namespace doppel::testing

#define DOPPEL_REQUIRE_GPU()                                                                            \
  do {                                                                                                  \
    if (const auto doppel_no_gpu_ = ::doppel::testing::gpu_unavailable_reason()) SKIP(*doppel_no_gpu_); \
  } while (0)
