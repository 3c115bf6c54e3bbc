// int8/uint8 max_pool2d's fast kernel (kernels/cpu/onednn/integer_max_pool.h: max_pool_2x2.h's
// streaming pass for disjoint 2x2 windows, a row-then-column loop for any other window) against
// a loop written here from PyTorch's window formulas, on odd and even sizes, padding, ceil mode,
// dilation, the type's extremes planted in the windows, contiguous and strided inputs, both sides
// of the kernel's thread-split threshold, on 1 and 2 threads, and with the reference backend
// forced (the same answers).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "doppel/dispatch.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "doppel/kernels/parallel.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

struct Window {
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  bool ceil;
};

// PyTorch's pooling_output_shape (0: the window does not fit).
int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil) {
  const int64_t span = in + 2 * p - d * (k - 1) - 1;
  if (span < 0) return 0;
  int64_t o = (ceil ? (span + s - 1) / s : span / s) + 1;
  if (ceil && (o - 1) * s >= in + p) --o;
  return o;
}

// Values of T: the lowest and highest planted often (every 3rd element), others spread over the
// whole range.
template <typename T>
std::vector<T> values(int64_t n, uint64_t seed) {
  std::vector<T> v(static_cast<size_t>(n));
  uint64_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005u + 1442695040888963407u;
    const int64_t r = int64_t(s >> 33);
    v[size_t(i)] = r % 3 == 0 ? (r % 2 ? std::numeric_limits<T>::max() : std::numeric_limits<T>::lowest())
                              : T(std::numeric_limits<T>::lowest() + r % 256);
  }
  return v;
}

// The window maxima of planes [p, h, w] (row-major values), the padding never chosen; a window
// with no input position (dilation past the input) is the lowest value.
template <typename T>
std::vector<int64_t> oracle(const std::vector<T>& x, int64_t p, int64_t h, int64_t w, const Window& g) {
  const int64_t oh = out_size(h, g.kh, g.sh, g.ph, g.dh, g.ceil), ow = out_size(w, g.kw, g.sw, g.pw, g.dw, g.ceil);
  std::vector<int64_t> y;
  for (int64_t q = 0; q < p; ++q)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        int64_t best = std::numeric_limits<T>::lowest();
        for (int64_t a = 0; a < g.kh; ++a)
          for (int64_t b = 0; b < g.kw; ++b) {
            const int64_t r = i * g.sh - g.ph + a * g.dh, c = j * g.sw - g.pw + b * g.dw;
            if (r >= 0 && r < h && c >= 0 && c < w) best = std::max<int64_t>(best, x[size_t((q * h + r) * w + c)]);
          }
        y.push_back(best);
      }
  return y;
}

Attrs attrs_of(const Window& g) {
  return MaxPoolAttrs{.kernel_size = {g.kh, g.kw},
                      .stride = {g.sh, g.sw},
                      .padding = {g.ph, g.pw},
                      .dilation = {g.dh, g.dw},
                      .ceil_mode = g.ceil}
      .pack();
}

template <typename T>
void check_dtype(DType dtype) {
  const int threads_before = get_num_threads();
  const Window windows[] = {
      {2, 2, 2, 2, 0, 0, 1, 1, false},  // the CNN's 2x2: the streaming pass
      {2, 2, 2, 2, 0, 0, 1, 1, true},   // ceil mode: on odd sizes a last, clipped window (general loop)
      {3, 3, 2, 2, 1, 1, 1, 1, false},  // ResNet's stem pool
      {3, 3, 2, 2, 1, 1, 1, 1, true},
      {2, 2, 1, 1, 1, 1, 1, 1, false},  // stride 1 with padding
      {2, 3, 1, 2, 1, 0, 2, 1, false},  // dilation, a different window each way
      {3, 2, 3, 1, 1, 1, 2, 3, true},
      {2, 2, 1, 1, 1, 0, 3, 1, false},  // on 2x2 planes: windows of padding rows only (dilation skips the input)
  };
  uint64_t seed = 7;
  // Small shapes run inline; [2, 8, 40, 33] has more rows than one thread's share (the split).
  for (const Shape& shape : {Shape{2, 3, 7, 9}, Shape{1, 2, 8, 8}, Shape{1, 1, 2, 2}, Shape{3, 11, 6},
                             Shape{2, 8, 40, 33}, Shape{3, 5, 29, 31}, Shape{0, 2, 5, 5}}) {
    const int64_t h = shape[shape.size() - 2], w = shape[shape.size() - 1], p = numel_of(shape) / (h * w);
    const std::vector<T> xv = values<T>(numel_of(shape), seed++);
    const Tensor x = tensor(xv, shape);
    // The same values through a transposed (non-contiguous) view.
    const int64_t d = int64_t(shape.size());
    const Tensor strided = x.transpose(d - 2, d - 1).contiguous().transpose(d - 2, d - 1);
    for (const Window& g : windows) {
      if (out_size(h, g.kh, g.sh, g.ph, g.dh, g.ceil) < 1 || out_size(w, g.kw, g.sw, g.pw, g.dw, g.ceil) < 1) continue;
      const std::vector<int64_t> want = oracle(xv, p, h, w, g);
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        for (bool reference : {false, true}) {
          std::optional<ForceBackendGuard> force;
          if (reference) force.emplace(Backend::Reference);
          for (const Tensor& input : {x, strided}) {
            INFO(dtype_name(dtype) << " shape " << shape_str(shape) << " window " << g.kh << "x" << g.kw << " stride "
                                   << g.sh << "," << g.sw << " pad " << g.ph << "," << g.pw << " dilation " << g.dh
                                   << "," << g.dw << " ceil " << g.ceil << " threads " << threads << " reference "
                                   << reference << " contiguous " << input.is_contiguous());
            const Tensor y = dispatch1(OpId::max_pool2d, {input}, attrs_of(g));
            CHECK(last_selected_backend() == (reference ? Backend::Reference : Backend::OneDNN));
            REQUIRE(y.dtype() == dtype);
            REQUIRE(y.to_vector<int64_t>() == want);
          }
        }
      }
    }
  }
  set_num_threads(threads_before);
}

TEST_CASE("max_pool2d int8/uint8: the fast kernel's window maxima follow PyTorch's formulas", "[pooling][quantized]") {
  SECTION("int8") { check_dtype<int8_t>(DType::Int8); }
  SECTION("uint8") { check_dtype<uint8_t>(DType::UInt8); }
}

}  // namespace
}  // namespace doppel::testing
