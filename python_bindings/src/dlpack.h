#pragma once
// The DLPack ABI (https://dmlc.github.io/dlpack/latest/c_api.html), version 1.0: the structs that
// cross the capsule boundary. Declared here rather than taken from a header so that the layout
// we rely on is visible next to the code that fills it.
#include <cstdint>

namespace doppel::py::dl {

enum DeviceType : int32_t { kCPU = 1, kCUDA = 2, kCUDAHost = 3 };
enum TypeCode : uint8_t { kInt = 0, kUInt = 1, kFloat = 2, kBfloat = 4, kBool = 6 };

struct Device {
  DeviceType device_type;
  int32_t device_id;
};
struct DataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};
struct Tensor {
  void* data;
  Device device;
  int32_t ndim;
  DataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; may be null (compact row-major)
  uint64_t byte_offset;
};
struct ManagedTensor {  // legacy, capsule name "dltensor"
  Tensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(ManagedTensor* self);
};
struct Version {
  uint32_t major;
  uint32_t minor;
};
inline constexpr uint64_t kFlagReadOnly = 1;
struct ManagedTensorVersioned {  // capsule name "dltensor_versioned"
  Version version;
  void* manager_ctx;
  void (*deleter)(ManagedTensorVersioned* self);
  uint64_t flags;
  Tensor dl_tensor;
};

}  // namespace doppel::py::dl
