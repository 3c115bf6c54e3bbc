// The reason GPU tests skip (support/gpu.h).
#include "support/gpu.h"

namespace doppel::testing {

std::optional<std::string> gpu_unavailable_reason() {
  if (!cuda_compiled()) return "GPU test skipped: this build has no CUDA backend (configured with DOPPEL_CUDA=OFF)";
  if (cuda_device_count() == 0)
    return "GPU test skipped: no CUDA device (cuda_device_count() == 0); run tools/test_gpu.sh on a GPU machine";
  return std::nullopt;
}

}  // namespace doppel::testing
