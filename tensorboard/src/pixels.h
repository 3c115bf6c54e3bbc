#pragma once
// Images as PyTorch's SummaryWriter lays them out and converts them to bytes, and PNG encoding.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "doppel/core/tensor.h"

namespace doppel::tensorboard::detail {

// An image as rows of h x w x c bytes (c: 3 RGB or 4 RGBA).
struct Pixels {
  int64_t h = 0, w = 0, c = 0;
  std::vector<uint8_t> data;
};

// PyTorch's convert_to_HWC: `dataformats` a permutation of "NCHW" (a batch, laid out as a grid
// of `cols` images per row), "CHW"/"HWC" or "HW"; 1 channel repeated to RGB. Each value becomes
// x * scale (default: 1 for uint8, else 255) in float, clipped to [0, 255], truncated (NaN: 0).
// ValueError / ShapeError naming `what` for a format that does not fit or a bad channel count.
Pixels image_pixels(const Tensor& img, const std::string& dataformats, const char* what, int64_t cols,
                    std::optional<float> scale);

// The PNG file of `p` (ValueError naming `what` if libpng fails).
std::string encode_png(const Pixels& p, const char* what);

}  // namespace doppel::tensorboard::detail
