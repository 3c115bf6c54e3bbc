#include "doppel/core/device.h"

#include <charconv>

#include "doppel/core/error.h"

namespace doppel {

Device::Device(std::string_view spec) {
  if (spec == "cpu") {
    type = DeviceType::CPU;
    return;
  }
  if (spec.starts_with("cuda")) {
    type = DeviceType::CUDA;
    std::string_view rest = spec.substr(4);
    if (rest.empty()) return;
    int i = -1;
    if (rest[0] == ':') {
      auto [p, ec] = std::from_chars(rest.data() + 1, rest.data() + rest.size(), i);
      if (ec == std::errc() && p == rest.data() + rest.size() && i >= 0 && i < 1024) {
        index = int16_t(i);
        return;
      }
    }
  }
  detail::throw_error<ValueError>(
      fmt::format("Device: cannot parse '{}'; expected 'cpu', 'cuda' or 'cuda:N'", spec));
}

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : fmt::format("cuda:{}", index);
}

}  // namespace doppel
