#include "doppel/data/transforms.h"

#include <cstring>

#include "doppel/kernels/philox.h"

namespace doppel::data {

namespace {

Tensor contiguous_copy_if_needed(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor c = make_tensor(x.shape(), x.dtype(), x.device());
  copy_strided(c, x);
  return c;
}

void check_cpu(const Tensor& x, std::string_view name) {
  DOPPEL_CHECK(x.defined(), "{}: the input tensor is undefined", name);
  DOPPEL_CHECK_DEVICE(x.device().is_cpu(), "{}: data transforms run on the CPU; got a tensor on {}", name,
                      x.device().str());
}

}  // namespace

double uniform_double(Generator& gen) {
  auto [seed, offset] = gen.reserve(1);
  const auto w = Philox(seed, offset).next();
  return Philox::to_unit_double(w[0], w[1]);
}

int64_t uniform_int(Generator& gen, int64_t n) {
  DOPPEL_INTERNAL_ASSERT(n > 0);
  auto [seed, offset] = gen.reserve(1);
  const auto w = Philox(seed, offset).next();
  // 64 random bits scaled into [0, n) (multiply-high): bias < n / 2^64, negligible.
  const uint64_t r = (uint64_t(w[0]) << 32) | w[1];
  __extension__ using u128 = unsigned __int128;
  return int64_t(u128(r) * uint64_t(n) >> 64);
}

Normalize::Normalize(std::vector<double> mean, std::vector<double> std) : mean_(std::move(mean)), std_(std::move(std)) {
  DOPPEL_CHECK(!mean_.empty() && mean_.size() == std_.size(),
               "Normalize: mean and std need the same non-zero number of entries (got {} and {})", mean_.size(),
               std_.size());
  for (double s : std_) DOPPEL_CHECK(s > 0, "Normalize: std entries must be > 0, got {}", s);
}

Tensor Normalize::operator()(const Tensor& x, Generator&) const {
  check_cpu(x, "Normalize");
  DOPPEL_CHECK_DTYPE(is_floating(x.dtype()), "Normalize: needs a floating tensor, got {}; convert it first",
                     dtype_name(x.dtype()));
  const int64_t channels = mean_.size() == 1 ? 1 : int64_t(mean_.size());
  if (channels > 1)
    DOPPEL_CHECK_SHAPE(x.dim() >= 1 && x.size(0) == channels,
                       "Normalize: {} mean/std entries but the input {} has {} channels (dim 0)", channels,
                       shape_str(x.shape()), x.dim() >= 1 ? x.size(0) : 0);
  const Tensor in = contiguous_copy_if_needed(x);
  Tensor out = make_tensor(x.shape(), x.dtype());
  const int64_t n = x.numel();
  const int64_t per_channel = channels > 1 ? n / channels : n;
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "Normalize", [&]<typename T>() {
    using C = compute_t<T>;
    const T* src = in.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    for (int64_t c = 0; c < channels; ++c) {
      const C m = C(mean_[size_t(c)]);
      const C inv = C(1.0 / std_[size_t(c)]);
      const int64_t k0 = c * per_channel;
      for (int64_t k = k0; k < k0 + per_channel; ++k) dst[k] = T((C(src[k]) - m) * inv);
    }
  });
  return out;
}

RandomCrop::RandomCrop(int64_t height, int64_t width, int64_t padding)
    : height_(height), width_(width), padding_(padding) {
  DOPPEL_CHECK(height > 0 && width > 0 && padding >= 0,
               "RandomCrop: size must be positive and padding non-negative (got {}x{}, padding {})", height, width,
               padding);
}

Tensor RandomCrop::operator()(const Tensor& x, Generator& gen) const {
  check_cpu(x, "RandomCrop");
  DOPPEL_CHECK_SHAPE(x.dim() >= 2, "RandomCrop: needs an input [..., H, W], got {}", shape_str(x.shape()));
  const int64_t h = x.size(-2), w = x.size(-1);
  const int64_t ph = h + 2 * padding_, pw = w + 2 * padding_;
  DOPPEL_CHECK_SHAPE(height_ <= ph && width_ <= pw,
                     "RandomCrop: a {}x{} crop does not fit the input {} padded by {} ({}x{})", height_, width_,
                     shape_str(x.shape()), padding_, ph, pw);
  // Window origin in padded coordinates.
  const int64_t top = uniform_int(gen, ph - height_ + 1);
  const int64_t left = uniform_int(gen, pw - width_ + 1);
  const Tensor in = contiguous_copy_if_needed(x);
  Shape shape = x.shape();
  shape[shape.size() - 2] = height_;
  shape[shape.size() - 1] = width_;
  Tensor out = make_tensor(shape, x.dtype());
  const size_t es = x.element_size();
  const int64_t planes = h * w == 0 ? 0 : x.numel() / (h * w);
  const auto* src = static_cast<const char*>(in.raw_data());
  auto* dst = static_cast<char*>(out.raw_data());
  // The columns of the window that fall inside the image, in image coordinates.
  const int64_t c0 = std::max<int64_t>(left - padding_, 0), c1 = std::min<int64_t>(left - padding_ + width_, w);
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t r = 0; r < height_; ++r) {
      char* drow = dst + size_t((p * height_ + r) * width_) * es;
      const int64_t sr = top + r - padding_;
      if (sr < 0 || sr >= h || c0 >= c1) {
        std::memset(drow, 0, size_t(width_) * es);
        continue;
      }
      const int64_t before = c0 - (left - padding_);  // zero columns left of the image
      std::memset(drow, 0, size_t(before) * es);
      std::memcpy(drow + size_t(before) * es, src + size_t((p * h + sr) * w + c0) * es, size_t(c1 - c0) * es);
      std::memset(drow + size_t(before + c1 - c0) * es, 0, size_t(width_ - before - (c1 - c0)) * es);
    }
  }
  return out;
}

RandomHorizontalFlip::RandomHorizontalFlip(double p) : p_(p) {
  DOPPEL_CHECK(p >= 0 && p <= 1, "RandomHorizontalFlip: p must be in [0, 1], got {}", p);
}

Tensor RandomHorizontalFlip::operator()(const Tensor& x, Generator& gen) const {
  check_cpu(x, "RandomHorizontalFlip");
  DOPPEL_CHECK_SHAPE(x.dim() >= 1, "RandomHorizontalFlip: needs at least one dim, got a 0-d tensor");
  // Always draw, so that later transforms see the same stream whatever this one decided.
  if (!(uniform_double(gen) < p_)) return x;
  const Tensor in = contiguous_copy_if_needed(x);
  Tensor out = make_tensor(x.shape(), x.dtype());
  const int64_t w = x.size(-1);
  const int64_t rows = w == 0 ? 0 : x.numel() / w;
  const size_t es = x.element_size();
  const auto* src = static_cast<const char*>(in.raw_data());
  auto* dst = static_cast<char*>(out.raw_data());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < w; ++c)
      std::memcpy(dst + size_t(r * w + c) * es, src + size_t(r * w + (w - 1 - c)) * es, es);
  return out;
}

Tensor Compose::operator()(const Tensor& x, Generator& gen) const {
  Tensor t = x;
  for (const auto& f : transforms_) t = f(t, gen);
  return t;
}

}  // namespace doppel::data
