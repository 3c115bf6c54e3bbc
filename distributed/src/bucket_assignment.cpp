// PyTorch's compute_bucket_assignment_by_size (doppel/distributed/reducer.h).
#include <algorithm>
#include <map>

#include "doppel/distributed/reducer.h"

namespace doppel::distributed {

std::vector<std::vector<size_t>> compute_bucket_assignment_by_size(const std::vector<int64_t>& bytes,
                                                                   const std::vector<DType>& dtypes,
                                                                   const std::vector<int64_t>& limits) {
  DOPPEL_CHECK(!limits.empty(), "compute_bucket_assignment_by_size: give at least one bucket size limit");
  DOPPEL_CHECK(bytes.size() == dtypes.size(),
               "compute_bucket_assignment_by_size: {} sizes but {} dtypes; give one of each per tensor", bytes.size(),
               dtypes.size());
  struct Open {
    std::vector<size_t> indices;
    int64_t bytes = 0;
    size_t limit = 0;  // index into limits
  };
  std::map<DType, Open> open;
  std::vector<std::vector<size_t>> out;
  for (size_t i = 0; i < bytes.size(); ++i) {
    Open& b = open[dtypes[i]];
    b.indices.push_back(i);
    b.bytes += bytes[i];
    if (b.bytes >= limits[std::min(b.limit, limits.size() - 1)]) {
      out.push_back(std::move(b.indices));
      b = Open{.limit = b.limit + 1};
    }
  }
  for (auto& [dtype, b] : open)
    if (!b.indices.empty()) out.push_back(std::move(b.indices));
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.front() < y.front(); });
  return out;
}

}  // namespace doppel::distributed
