// F.pad: constant padding (and cropping) from slice and cat, the other modes from index_select
// with the source index of every output position.
#include <string_view>
#include <vector>

#include "doppel/ops/creation.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/nn.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {
namespace {

std::string_view mode_name(PadMode m) {
  switch (m) {
    case PadMode::Constant:
      return "constant";
    case PadMode::Reflect:
      return "reflect";
    case PadMode::Replicate:
      return "replicate";
    case PadMode::Circular:
      return "circular";
  }
  return "?";
}

// The source index of output position i (input index i - left, before wrapping) along a dim of
// size n, for the non-constant modes.
int64_t source_index(PadMode mode, int64_t j, int64_t n) {
  switch (mode) {
    case PadMode::Reflect:
      if (j < 0) j = -j;
      return j >= n ? 2 * (n - 1) - j : j;
    case PadMode::Replicate:
      return j < 0 ? 0 : (j >= n ? n - 1 : j);
    case PadMode::Circular:
      return ((j % n) + n) % n;
    case PadMode::Constant:
      break;
  }
  return j;
}

// Crops dim d of x where left or right is negative (constant and circular crop before they pad).
Tensor crop(const Tensor& x, int64_t d, int64_t left, int64_t right) {
  if (left >= 0 && right >= 0) return x;
  return slice(x, d, std::max<int64_t>(-left, 0), x.size(d) - std::max<int64_t>(-right, 0));
}

// Pads dim d of x (already cropped) by left, right >= 0 with the constant value.
Tensor constant_pad_dim(const Tensor& x, int64_t d, int64_t left, int64_t right, double value) {
  if (left == 0 && right == 0) return x;
  auto block = [&](int64_t size) {
    Shape s = x.shape();
    s[size_t(d)] = size;
    return full(s, value, {x.dtype(), x.device()});
  };
  std::vector<Tensor> parts;
  if (left > 0) parts.push_back(block(left));
  parts.push_back(x);
  if (right > 0) parts.push_back(block(right));
  return cat(parts, d);
}

// Pads dim d of x by left and right in a non-constant mode: output position i reads input
// i - left through source_index. Reflect and replicate take negative paddings here (the output
// then starts or ends inside the input, mirrored about the input's own ends, as PyTorch 1.13);
// circular gets them cropped already, so it wraps around what is left.
Tensor index_pad_dim(const Tensor& x, int64_t d, int64_t left, int64_t right, PadMode mode) {
  if (left == 0 && right == 0) return x;
  const int64_t n = x.size(d);
  const std::string_view name = mode_name(mode);
  DOPPEL_CHECK_SHAPE(n > 0, "pad: mode '{}' cannot pad dim {} of size 0 (input {})", name, d, shape_str(x.shape()));
  DOPPEL_CHECK_SHAPE(mode != PadMode::Reflect || (left < n && right < n),
                     "pad: reflect padding ({}, {}) of dim {} must be less than that dim's size {} (input {})", left,
                     right, d, n, shape_str(x.shape()));
  DOPPEL_CHECK_SHAPE(mode != PadMode::Circular || (left <= n && right <= n),
                     "pad: circular padding ({}, {}) of dim {} wraps around more than once: it must be at most that "
                     "dim's size {} (after cropping; input {})",
                     left, right, d, n, shape_str(x.shape()));
  std::vector<int64_t> index;
  for (int64_t j = -left; j < n + right; ++j) index.push_back(source_index(mode, j, n));
  return index_select(x, d, to_device(tensor(index), x.device()));
}

}  // namespace

Tensor pad(const Tensor& input, IntList pad, PadMode mode, double value, SourceLoc loc) {
  CallSiteScope s(loc);
  const int64_t k = int64_t(pad.size()) / 2;
  DOPPEL_CHECK(pad.size() % 2 == 0, "pad: the padding length must be even ({{left, right}} per dim), got {} values",
               pad.size());
  DOPPEL_CHECK_SHAPE(k <= input.dim(), "pad: {} values pad {} dims, but the input {} has only {}", pad.size(), k,
                     shape_str(input.shape()), input.dim());
  if (mode != PadMode::Constant) {
    DOPPEL_CHECK(value == 0.0, "pad: mode '{}' takes no value, got {}", mode_name(mode), value);
    // PyTorch 1.13: reflect and replicate take batched or unbatched inputs, circular batched ones.
    const bool unbatched_ok = mode != PadMode::Circular;
    DOPPEL_CHECK_SHAPE(k >= 1 && k <= 3 && (input.dim() == k + 2 || (unbatched_ok && input.dim() == k + 1)),
                       "pad: mode '{}' pads the last 1, 2 or 3 dims of an input with {} more dims (e.g. "
                       "[N, C, W] by 2 values); got {} values for input {}",
                       mode_name(mode), unbatched_ok ? "1 or 2" : "2", pad.size(), shape_str(input.shape()));
  }
  Tensor x = input;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t d = input.dim() - 1 - i;
    const int64_t left = pad[size_t(2 * i)], right = pad[size_t(2 * i + 1)];
    const int64_t l = std::max<int64_t>(left, 0), r = std::max<int64_t>(right, 0);
    DOPPEL_CHECK_SHAPE(l - left + r - right <= x.size(d),
                       "pad: padding ({}, {}) of dim {} crops more than its size {} (input {})", left, right, d,
                       x.size(d), shape_str(input.shape()));
    if (mode == PadMode::Reflect || mode == PadMode::Replicate) {
      x = index_pad_dim(x, d, left, right, mode);
    } else {
      x = crop(x, d, left, right);
      x = mode == PadMode::Constant ? constant_pad_dim(x, d, l, r, value) : index_pad_dim(x, d, l, r, mode);
    }
  }
  return x;
}

}  // namespace doppel
