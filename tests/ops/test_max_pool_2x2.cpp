// The 2x2 stride-2 max pooling of contiguous float32 planes (kernels/cpu/reference/max_pool_2x2.h)
// against a double-precision loop written here from PyTorch's rules, and against the general
// window loop (the same values read through a transposed, non-contiguous view), on even and odd
// sizes, with NaN, infinities, -0 and ties in the windows, on every backend and thread count.
#include <cmath>
#include <limits>
#include <optional>

#include "doppel/dispatch.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "doppel/kernels/parallel.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const Attrs kAttrs =
    MaxPoolAttrs{.kernel_size = {2, 2}, .stride = {2, 2}, .padding = {0, 0}, .dilation = {1, 1}, .ceil_mode = false}
        .pack();

// Values with NaN, +-inf, -0/+0 and ties planted in many windows.
Tensor special_input(IntList shape, uint64_t seed) {
  Tensor x = make_input(shape, DType::Float64, seed);
  std::vector<double> v = x.contiguous().to_vector<double>();
  const double specials[] = {std::nan(""), INFINITY, -INFINITY, -0.0, 0.0, 0.5, 0.5, -INFINITY};
  for (size_t i = 0; i < v.size(); ++i)
    if ((i * 7 + seed) % 5 == 0) v[i] = specials[(i / 5 + seed) % 8];
  return tensor(v, shape).to(DType::Float32);
}

struct Oracle {
  std::vector<double> y, gi;
};

// PyTorch's rules in double: the window's value is NaN when it holds one, else its maximum; the
// gradient goes to the first maximum (scan a, b, c, d moving on when greater or NaN, so the
// last NaN), accumulated into zeros.
Oracle oracle(const Tensor& x, const Tensor& go) {
  const int64_t n = x.size(0) * x.size(1), h = x.size(2), w = x.size(3), oh = h / 2, ow = w / 2;
  const std::vector<double> xv = x.to(DType::Float64).contiguous().to_vector<double>();
  const std::vector<double> gv = go.to(DType::Float64).contiguous().to_vector<double>();
  Oracle o{std::vector<double>(size_t(n * oh * ow)), std::vector<double>(size_t(n * h * w), 0.0)};
  for (int64_t p = 0; p < n; ++p)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        double best = -std::numeric_limits<double>::infinity(), value = best;
        int64_t arg = -1;
        for (int64_t di = 0; di < 2; ++di)
          for (int64_t dj = 0; dj < 2; ++dj) {
            const int64_t at = p * h * w + (2 * i + di) * w + 2 * j + dj;
            const double v = xv[size_t(at)];
            if (arg < 0) arg = at;
            if (v > best || std::isnan(v)) best = v, arg = at;
            if (std::isnan(v) || (!std::isnan(value) && v > value)) value = v;
          }
        o.y[size_t((p * oh + i) * ow + j)] = value;
        o.gi[size_t(arg)] += gv[size_t((p * oh + i) * ow + j)];
      }
  return o;
}

// Bitwise-equal floats (NaN equals NaN; -0 differs from +0).
void require_same(const Tensor& got, const std::vector<double>& want, const char* what) {
  const std::vector<float> g = got.contiguous().to_vector<float>();
  REQUIRE(g.size() == want.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const float w = float(want[i]);
    INFO(what << " element " << i << ": got " << g[i] << " want " << w);
    REQUIRE((std::isnan(w) ? std::isnan(g[i]) : (g[i] == w && std::signbit(g[i]) == std::signbit(w))));
  }
}

// The same values through a transposed (non-contiguous) view: the general window loop reads it.
Tensor strided_copy(const Tensor& x) { return x.transpose(2, 3).contiguous().transpose(2, 3); }

TEST_CASE("max_pool2d 2x2: the streaming kernel follows PyTorch's rules", "[ops][pooling]") {
  const int threads_before = get_num_threads();
  uint64_t seed = 40;
  for (const Shape& shape : {Shape{2, 3, 8, 8}, Shape{1, 2, 7, 9}, Shape{3, 5, 29, 31}, Shape{2, 4, 2, 3}}) {
    const Tensor x = special_input(shape, seed++);
    const Tensor go = make_input({shape[0], shape[1], shape[2] / 2, shape[3] / 2}, DType::Float32, seed++);
    const Oracle want = oracle(x, go);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      for (bool reference : {false, true}) {  // the default choice, then the reference backend forced
        std::optional<ForceBackendGuard> force;
        if (reference) force.emplace(Backend::Reference);
        INFO("shape " << shape_str(shape) << " threads " << threads << " reference forced " << reference);
        for (const Tensor& input : {x, strided_copy(x)}) {
          require_same(dispatch1(OpId::max_pool2d, {input}, kAttrs), want.y, "forward");
          require_same(dispatch1(OpId::max_pool2d_backward, {go, input}, kAttrs), want.gi, "backward");
        }
      }
    }
  }
  set_num_threads(threads_before);
}

}  // namespace
}  // namespace doppel::testing
