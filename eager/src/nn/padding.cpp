#include "doppel/nn/padding.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace doppel::nn {

PadNd::PadNd(std::string type_name, int64_t dims, const PadSizes& sizes, PadMode mode_, double value_)
    : Module(std::move(type_name)), mode(mode_), value(value_) {
  DOPPEL_CHECK(sizes.sizes.size() == 1 || int64_t(sizes.sizes.size()) == 2 * dims,
               "{}: padding must be one size or {} sizes, got {}", this->type_name(), 2 * dims, shape_str(sizes.sizes));
  padding = sizes.sizes.size() == 1 ? std::vector<int64_t>(size_t(2 * dims), sizes.sizes[0]) : sizes.sizes;
}

Tensor PadNd::forward(const Tensor& x) { return pad(x, padding, mode, value); }

std::string PadNd::extra_repr() const {
  const std::string sizes = fmt::format("({})", fmt::join(padding, ", "));
  return mode == PadMode::Constant ? fmt::format("{}, value={}", sizes, value) : sizes;
}

}  // namespace doppel::nn
