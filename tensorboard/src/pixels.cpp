// Images as PyTorch's SummaryWriter lays them out (convert_to_HWC, make_grid) and converts
// them to bytes, and their PNG encoding (libpng's simplified write API).
#include <fmt/format.h>
#include <png.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string_view>

#include "doppel/core/error.h"
#include "pixels.h"

namespace doppel::tensorboard::detail {

namespace {

// PyTorch's conversion of one value: x * scale in float, clipped to [0, 255], truncated (NaN: 0).
uint8_t to_byte(float x, float scale) {
  const float v = x * scale;
  if (!(v > 0)) return 0;
  return uint8_t(std::min(v, 255.0f));
}

// Where each of `letters` is in `format` (a permutation of them), else a ValueError.
std::vector<int> positions(const std::string& format, std::string_view letters, const Shape& shape, const char* what) {
  std::vector<int> pos;
  bool ok = format.size() == letters.size() && shape.size() == letters.size();
  for (size_t i = 0; ok && i < letters.size(); ++i) {
    const size_t p = format.find(letters[i]);
    ok = p != std::string::npos && format.find(letters[i], p + 1) == std::string::npos;
    pos.push_back(int(p));
  }
  if (!ok)
    throw ValueError(
        fmt::format("{}: dataformats '{}' does not fit an image of shape {}; pass a permutation of "
                    "'{}' with one letter per dimension",
                    what, format, shape_str(shape), letters));
  return pos;
}

}  // namespace

Pixels image_pixels(const Tensor& img, const std::string& dataformats, const char* what, int64_t cols,
                    std::optional<float> scale) {
  std::string format = dataformats;
  for (char& ch : format) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  const Shape& shape = img.shape();
  const float factor = scale ? *scale : img.dtype() == DType::UInt8 ? 1.0f : 255.0f;
  const Tensor f = img.detach().to(kCPU, DType::Float32).contiguous();
  const float* src = f.data_ptr<float>();
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];

  // The value at batch n, channel c, row y, column x, given where N, C, H, W are (-1: absent).
  const std::string_view layout = format.size() == 4 ? "NCHW" : format.size() == 3 ? "HWC" : "HW";
  const std::vector<int> pos = positions(format, layout, shape, what);
  const int pn = layout.size() == 4 ? pos[0] : -1;
  const int pc = layout.size() == 4 ? pos[1] : layout.size() == 3 ? pos[2] : -1;
  const int ph = pos[layout.size() == 4 ? 2 : 0], pw = pos[layout.size() == 4 ? 3 : 1];
  const int64_t n = pn < 0 ? 1 : shape[size_t(pn)];
  const int64_t c = pc < 0 ? 1 : shape[size_t(pc)];
  const int64_t h = shape[size_t(ph)], w = shape[size_t(pw)];
  const bool batch = pn >= 0;
  if (batch ? (c != 1 && c != 3) : (c != 1 && c != 3 && c != 4))
    throw ShapeError(fmt::format("{}: an image of shape {} ({}) has {} channels; {} takes 1 (gray) or 3 (RGB){}", what,
                                 shape_str(shape), dataformats, c, what, batch ? "" : " or 4 (RGBA)"));
  if (n == 0 || h == 0 || w == 0)
    throw ShapeError(fmt::format("{}: the image of shape {} ({}) is empty", what, shape_str(shape), dataformats));
  const auto at = [&](int64_t b, int64_t ch, int64_t y, int64_t x) {
    int64_t off = y * strides[size_t(ph)] + x * strides[size_t(pw)];
    if (pn >= 0) off += b * strides[size_t(pn)];
    if (pc >= 0) off += ch * strides[size_t(pc)];
    return src[off];
  };

  // make_grid: `cols` images per row (at most n), black where the last row is short.
  cols = std::min<int64_t>(n, cols);
  const int64_t rows = (n + cols - 1) / cols;
  Pixels out{h * rows, w * cols, c == 1 ? 3 : c, {}};
  out.data.assign(size_t(out.h * out.w * out.c), 0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        for (int64_t ch = 0; ch < out.c; ++ch) {
          const int64_t oy = (b / cols) * h + y, ox = (b % cols) * w + x;
          out.data[size_t((oy * out.w + ox) * out.c + ch)] = to_byte(at(b, c == 1 ? 0 : ch, y, x), factor);
        }

  return out;
}

std::string encode_png(const Pixels& out, const char* what) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = png_uint_32(out.w);
  image.height = png_uint_32(out.h);
  image.format = out.c == 4 ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  const png_int_32 stride = png_int_32(out.w * out.c);
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, out.data.data(), stride, nullptr))
    throw ValueError(fmt::format("{}: libpng cannot encode a {}x{} image: {}", what, out.w, out.h, image.message));
  std::string png(size, '\0');
  if (!png_image_write_to_memory(&image, png.data(), &size, 0, out.data.data(), stride, nullptr))
    throw ValueError(fmt::format("{}: libpng cannot encode a {}x{} image: {}", what, out.w, out.h, image.message));
  png.resize(size);
  return png;
}

}  // namespace doppel::tensorboard::detail
