// The weight gradient of a convolution with fewer than 8 input channels (see few_channel_weight_grad.h).
#include "cpu/onednn/few_channel_weight_grad.h"

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "cpu/vector_isa.h"
#include "doppel/kernels/implementation_report.h"
#include "doppel/kernels/parallel.h"

namespace doppel::onednn {

ActivationView ActivationView::of(const Tensor& t, int64_t channels) {
  DOPPEL_INTERNAL_ASSERT(t.dtype() == DType::Float32 && (t.dim() == 4 || (t.dim() == 5 && t.is_contiguous())));
  ActivationView v;
  v.data = t.data_ptr<float>();
  v.batch = t.size(0), v.channels = channels, v.h = t.size(2), v.w = t.size(3);
  if (t.dim() == 5) {
    v.block = t.size(4);
    v.s_w = v.block, v.s_h = v.w * v.block, v.s_block = v.h * v.s_h, v.s_n = t.size(1) * v.s_block;
  } else {
    v.s_n = t.stride(0), v.s_block = t.stride(1), v.s_h = t.stride(2), v.s_w = t.stride(3);
  }
  return v;
}

namespace {

constexpr int64_t kLanes = 8;   // output channels per vector
constexpr int64_t kGroup = 32;  // output channels per work item: up to four vectors
constexpr int kMaxTaps = 3;     // kernel columns accumulated per pass over an output row
#define DOPPEL_FMA [[gnu::target("avx2,fma")]]

// One output row's terms of Taps kernel columns for LB vectors of output channels:
// acc[t][lane] = fma(dy[o][lane], xr[o * sw + t * dw], acc[t][lane]) for o in [0, ow), in order.
// dy[j] points at the row's first pixel of vector j, `col` floats apart; acc holds kGroup lanes
// per column.
template <int LB, int Taps>
DOPPEL_FMA inline void accumulate_row(const float* const* dy, int64_t col, const float* xr, int64_t sw, int64_t dw,
                                      int64_t ow, float* acc) {
  __m256 a[LB][Taps];
  for (int j = 0; j < LB; ++j)
    for (int t = 0; t < Taps; ++t) a[j][t] = _mm256_loadu_ps(acc + t * kGroup + j * kLanes);
  for (int64_t o = 0; o < ow; ++o) {
    __m256 xv[Taps];
    for (int t = 0; t < Taps; ++t) xv[t] = _mm256_broadcast_ss(xr + o * sw + t * dw);
    for (int j = 0; j < LB; ++j) {
      const __m256 d = _mm256_loadu_ps(dy[j] + o * col);
      for (int t = 0; t < Taps; ++t) a[j][t] = _mm256_fmadd_ps(d, xv[t], a[j][t]);
    }
  }
  for (int j = 0; j < LB; ++j)
    for (int t = 0; t < Taps; ++t) _mm256_storeu_ps(acc + t * kGroup + j * kLanes, a[j][t]);
}

template <int LB>
DOPPEL_FMA inline void accumulate_row(int taps, const float* const* dy, int64_t col, const float* xr, int64_t sw,
                                      int64_t dw, int64_t ow, float* acc) {
  switch (taps) {
    case 1:
      return accumulate_row<LB, 1>(dy, col, xr, sw, dw, ow, acc);
    case 2:
      return accumulate_row<LB, 2>(dy, col, xr, sw, dw, ow, acc);
    default:
      return accumulate_row<LB, 3>(dy, col, xr, sw, dw, ow, acc);
  }
}

DOPPEL_FMA inline void accumulate_row(int lb, int taps, const float* const* dy, int64_t col, const float* xr,
                                      int64_t sw, int64_t dw, int64_t ow, float* acc) {
  switch (lb) {
    case 1:
      return accumulate_row<1>(taps, dy, col, xr, sw, dw, ow, acc);
    case 2:
      return accumulate_row<2>(taps, dy, col, xr, sw, dw, ow, acc);
    case 3:
      return accumulate_row<3>(taps, dy, col, xr, sw, dw, ow, acc);
    default:
      return accumulate_row<4>(taps, dy, col, xr, sw, dw, ow, acc);
  }
}

// One term of kernel column t's weights at output column o: acc[lane] = fma(dy[o][lane], x, acc[lane]).
DOPPEL_FMA inline void one_term(int lb, const float* const* dy, int64_t o, int64_t col, float x, float* acc) {
  const __m256 xv = _mm256_set1_ps(x);
  for (int j = 0; j < lb; ++j)
    _mm256_storeu_ps(acc + j * kLanes,
                     _mm256_fmadd_ps(_mm256_loadu_ps(dy[j] + o * col), xv, _mm256_loadu_ps(acc + j * kLanes)));
}

// Kernel columns [0, taps) of one output row: column t's terms at output columns [begin[t], end[t])
// (the others would read padding), in output-column order. The columns all taps read run together
// in registers, the rest term by term. dy[j]: the row's vectors; xr: the input row at the first
// kernel column's pixel of output column 0 (possibly before the row: only valid pixels are read).
DOPPEL_FMA inline void row_terms(int lb, int taps, const float* const* dy, int64_t col, const float* xr, int64_t sw,
                                 int64_t dw, int64_t ow, const int64_t* begin, const int64_t* end, float* acc) {
  int64_t lo = 0, hi = ow;
  for (int t = 0; t < taps; ++t) lo = std::max(lo, begin[t]), hi = std::min(hi, end[t]);
  if (hi <= lo) lo = hi = ow;
  for (int t = 0; t < taps; ++t)
    for (int64_t o = begin[t]; o < std::min(lo, end[t]); ++o)
      one_term(lb, dy, o, col, xr[o * sw + t * dw], acc + t * kGroup);
  if (lo < hi) {
    const float* rows[kGroup / kLanes];
    for (int j = 0; j < lb; ++j) rows[j] = dy[j] + lo * col;
    accumulate_row(lb, taps, rows, col, xr + lo * sw, sw, dw, hi - lo, acc);
  }
  for (int t = 0; t < taps; ++t)
    for (int64_t o = std::max(hi, begin[t]); o < end[t]; ++o)
      one_term(lb, dy, o, col, xr[o * sw + t * dw], acc + t * kGroup);
}

// The bias terms: bias[lane] = the sum of dy[y][o][lane] over the image's pixels in row-major order.
template <int LB>
DOPPEL_FMA void bias_sums(const float* const* dy, int64_t row, int64_t col, int64_t oh, int64_t ow, float* bias) {
  __m256 b[LB];
  for (int j = 0; j < LB; ++j) b[j] = _mm256_setzero_ps();
  for (int64_t y = 0; y < oh; ++y)
    for (int64_t o = 0; o < ow; ++o)
      for (int j = 0; j < LB; ++j) b[j] = _mm256_add_ps(b[j], _mm256_loadu_ps(dy[j] + y * row + o * col));
  for (int j = 0; j < LB; ++j) _mm256_storeu_ps(bias + j * kLanes, b[j]);
}

DOPPEL_FMA void bias_sums(int lb, const float* const* dy, int64_t row, int64_t col, int64_t oh, int64_t ow,
                          float* bias) {
  switch (lb) {
    case 1:
      return bias_sums<1>(dy, row, col, oh, ow, bias);
    case 2:
      return bias_sums<2>(dy, row, col, oh, ow, bias);
    case 3:
      return bias_sums<3>(dy, row, col, oh, ow, bias);
    default:
      return bias_sums<4>(dy, row, col, oh, ow, bias);
  }
}

// rows[i][0..8) -> out[k * stride + i] for k < 8: eight channels' runs of 8 pixels to the pixels'
// 8 lanes.
DOPPEL_FMA void transpose8(const float* const* rows, float* out, int64_t stride) {
  __m256 r[8], t[8], s[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(rows[i]);
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 2; ++i) {
      s[4 * h + 2 * i] = _mm256_shuffle_ps(t[4 * h + i], t[4 * h + 2 + i], _MM_SHUFFLE(1, 0, 1, 0));
      s[4 * h + 2 * i + 1] = _mm256_shuffle_ps(t[4 * h + i], t[4 * h + 2 + i], _MM_SHUFFLE(3, 2, 3, 2));
    }
  for (int k = 0; k < 4; ++k) {
    _mm256_storeu_ps(out + k * stride, _mm256_permute2f128_ps(s[k], s[4 + k], 0x20));
    _mm256_storeu_ps(out + (4 + k) * stride, _mm256_permute2f128_ps(s[k], s[4 + k], 0x31));
  }
}

// Everything a work item (one image, kGroup output channels) reads.
struct Problem {
  ActivationView x, gy;
  FewChannelConv conv;
  int64_t groups = 0, taps = 0;  // output-channel groups; cin * kh * kw
  // Kernel column t reads input pixels only at output columns [col_begin[t], col_end[t]) (the others
  // would read padding: those terms are left out, as the reference and oneDNN's kernels do).
  std::vector<int64_t> col_begin, col_end;
  float* partial = nullptr;  // [batch][groups][taps + 1][kGroup]: each image's sums (bias last)
};

// The output gradient's channels [c0, c0 + nc) of image n, channels-last into pack
// ([oh * ow][kGroup], lanes from nc on zero).
DOPPEL_FMA void pack_gradient(const ActivationView& gy, int64_t n, int64_t c0, int64_t nc, float* pack) {
  const int64_t oh = gy.h, ow = gy.w;
  if (nc % kLanes) std::fill(pack, pack + oh * ow * kGroup, 0.f);
  const float* src[kGroup];
  for (int64_t l = 0; l < nc; ++l) {
    const int64_t c = c0 + l;
    src[l] = gy.data + n * gy.s_n + (c / gy.block) * gy.s_block + c % gy.block;
  }
  for (int64_t y = 0; y < oh; ++y) {
    int64_t o0 = 0;
    if (gy.s_w == 1)  // whole lane vectors by 8x8 transposes
      for (; o0 + 8 <= ow; o0 += 8)
        for (int64_t l0 = 0; l0 + kLanes <= nc; l0 += kLanes) {
          const float* rows[8];
          for (int i = 0; i < 8; ++i) rows[i] = src[l0 + i] + y * gy.s_h + o0;
          transpose8(rows, pack + (y * ow + o0) * kGroup + l0, kGroup);
        }
    for (int64_t l = 0; l < nc; ++l) {
      const int64_t o1 = gy.s_w == 1 && l < nc / kLanes * kLanes ? o0 : 0;
      for (int64_t o = o1; o < ow; ++o) pack[(y * ow + o) * kGroup + l] = src[l][y * gy.s_h + o * gy.s_w];
    }
  }
}

// Item (n, g)'s sums into its partial block. `pack`: room for the output gradient's rows when its
// lanes are not 8 contiguous channels ([oh * ow][kGroup]).
DOPPEL_FMA void run_item(const Problem& p, int64_t n, int64_t g, float* pack) {
  const ActivationView &x = p.x, &gy = p.gy;
  const FewChannelConv& cv = p.conv;
  const int64_t c0 = g * kGroup, nc = std::min(kGroup, cv.cout - c0), oh = gy.h, ow = gy.w;
  const int lb = int((nc + kLanes - 1) / kLanes);
  const float* dy[kGroup / kLanes] = {};
  int64_t row, col;
  if (gy.block % kLanes == 0) {  // blocked with whole 8-channel lanes: read in place
    for (int j = 0; j < lb; ++j) {
      const int64_t c = c0 + j * kLanes;
      dy[j] = gy.data + n * gy.s_n + (c / gy.block) * gy.s_block + c % gy.block;
    }
    row = gy.s_h, col = gy.s_w;
  } else {
    pack_gradient(gy, n, c0, nc, pack);
    for (int j = 0; j < lb; ++j) dy[j] = pack + j * kLanes;
    row = ow * kGroup, col = kGroup;
  }
  float* acc = p.partial + (n * p.groups + g) * (p.taps + 1) * kGroup;
  std::fill(acc, acc + p.taps * kGroup, 0.f);
  bias_sums(lb, dy, row, col, oh, ow, acc + p.taps * kGroup);
  const int64_t sw = cv.stride_w * x.s_w, dw = cv.dilation_w * x.s_w;  // in floats
  for (int64_t ci = 0; ci < x.channels; ++ci) {
    const float* src = x.data + n * x.s_n + (ci / x.block) * x.s_block + ci % x.block;
    for (int64_t y = 0; y < oh; ++y) {
      const float* rows[kGroup / kLanes];
      for (int j = 0; j < lb; ++j) rows[j] = dy[j] + y * row;
      for (int64_t r = 0; r < cv.kh; ++r) {
        const int64_t iy = y * cv.stride_h + r * cv.dilation_h - cv.pad_t;
        if (iy < 0 || iy >= x.h) continue;  // padding: no terms
        float* a = acc + (ci * cv.kh + r) * cv.kw * kGroup;
        for (int64_t t0 = 0; t0 < cv.kw; t0 += kMaxTaps)
          row_terms(lb, int(std::min<int64_t>(kMaxTaps, cv.kw - t0)), rows, col,
                    src + iy * x.s_h + (t0 * cv.dilation_w - cv.pad_l) * x.s_w, sw, dw, ow, &p.col_begin[size_t(t0)],
                    &p.col_end[size_t(t0)], a + t0 * kGroup);
      }
    }
  }
}

}  // namespace

bool few_channel_weight_grad_applies(int64_t cin) { return vector_isa::avx2_fma() && cin >= 1 && cin < 8; }

void few_channel_weight_grad(const ActivationView& x, const ActivationView& gy, const FewChannelConv& conv,
                             float* grad_weight, float* grad_bias) {
  DOPPEL_INTERNAL_ASSERT(x.batch == gy.batch && x.batch > 0 && gy.channels == conv.cout &&
                         few_channel_weight_grad_applies(x.channels));
  report_implementation("doppel few-channel weight gradient");
  Problem p{.x = x, .gy = gy, .conv = conv};
  p.groups = (conv.cout + kGroup - 1) / kGroup;
  p.taps = x.channels * conv.kh * conv.kw;
  for (int64_t t = 0; t < conv.kw; ++t) {  // output columns o with 0 <= o * stride + t * dilation - pad < w
    const int64_t first = conv.pad_l - t * conv.dilation_w, past = x.w + conv.pad_l - t * conv.dilation_w;
    const auto ceil_div = [&](int64_t v) { return v <= 0 ? 0 : (v + conv.stride_w - 1) / conv.stride_w; };
    p.col_begin.push_back(std::min(gy.w, ceil_div(first)));
    p.col_end.push_back(std::max(p.col_begin.back(), std::min(gy.w, ceil_div(past))));
  }
  const int64_t items = gy.batch * p.groups, slot = (p.taps + 1) * kGroup;
  const Tensor partial = make_tensor({items * slot}, DType::Float32, kCPU);
  p.partial = partial.data_ptr<float>();
  const bool packed = gy.block % kLanes != 0;  // plain, or blocks of fewer than 8 channels
  parallel_for(0, items, 1, [&](int64_t i0, int64_t i1) {
    std::vector<float> pack(packed ? size_t(gy.h * gy.w * kGroup) : 0);
    for (int64_t i = i0; i < i1; ++i) run_item(p, i / p.groups, i % p.groups, pack.data());
  });
  // The images' sums in batch order.
  parallel_for(0, p.groups * (p.taps + 1), 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t g = k / (p.taps + 1), t = k % (p.taps + 1), c0 = g * kGroup;
      const int64_t nc = std::min(kGroup, conv.cout - c0);
      float s[kGroup];
      const float* first = p.partial + k * kGroup;
      std::copy(first, first + kGroup, s);
      for (int64_t n = 1; n < gy.batch; ++n) {
        const float* v = p.partial + n * p.groups * slot + k * kGroup;
        for (int64_t l = 0; l < kGroup; ++l) s[l] += v[l];
      }
      for (int64_t l = 0; l < nc; ++l)
        if (t < p.taps) {
          if (grad_weight) grad_weight[(c0 + l) * p.taps + t] = s[l];
        } else if (grad_bias) {
          grad_bias[c0 + l] = s[l];
        }
    }
  });
}

}  // namespace doppel::onednn
