#pragma once
// Where a tensor lives. The CUDA backend (core/src/cuda, kernels/cuda) plugs into the same
// abstraction: an Allocator per device, registered at start-up.
#include <cstdint>
#include <string>
#include <string_view>

namespace doppel {

enum class DeviceType : uint8_t { CPU, CUDA };
inline constexpr int kNumDeviceTypes = 2;

struct Device {
  DeviceType type = DeviceType::CPU;
  int16_t index = 0;

  constexpr Device() = default;
  constexpr Device(DeviceType t, int i = 0) : type(t), index(int16_t(i)) {}  // NOLINT
  // Parses "cpu", "cuda", "cuda:1"; throws ValueError otherwise.
  explicit Device(std::string_view spec);

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const;  // "cpu", "cuda:0"
  friend bool operator==(Device a, Device b) = default;
};

inline constexpr Device kCPU{DeviceType::CPU, 0};

// True when this build has the CUDA backend compiled in (the DOPPEL_CUDA CMake option).
bool cuda_compiled();
// Number of usable CUDA devices at run time (0 without a driver or device).
int cuda_device_count();
// Waits until all work queued on `device` has completed (a no-op on the CPU). Copies into pinned
// host memory are asynchronous: call this before reading their destination.
void synchronize(Device device);

}  // namespace doppel
