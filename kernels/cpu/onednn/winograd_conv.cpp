// Winograd convolution F(m×m, 3×3) of channels-last float32 activations (see winograd_conv.h).
#include "cpu/onednn/winograd_conv.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "cpu/onednn/onednn_common.h"
#include "cpu/onednn/weight_cache.h"
#include "cpu/vector_isa.h"
#include "doppel/kernels/implementation_report.h"
#include "doppel/kernels/parallel.h"
#include "doppel/kernels/winograd.h"

namespace doppel::onednn {

using dnnl::memory;

namespace {

constexpr int64_t kLanes = 64;  // channels transformed at a time

// Calls f when it goes out of scope.
template <class F>
struct OnExit {
  F f;
  ~OnExit() { f(); }
};
alignas(64) constexpr float kZeros[kLanes] = {};

// The 1-D transforms of F(m, 3) on L lanes: input o = Bᵀ d (N = m + 2 rows), output y = Aᵀ s
// (m rows of N), weight o = G g (float64). Written out so that no product by a zero or a one is
// computed (the same arithmetic in every vector-ISA copy: this file builds with -ffp-contract=off).
template <int M>
struct Transform;

template <>
struct Transform<2> {
  static constexpr int N = 4;
  static void input(const std::array<const float*, 4>& d, const std::array<float*, 4>& o, int64_t L) {
    const float *d0 = d[0], *d1 = d[1], *d2 = d[2], *d3 = d[3];
    float *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3];
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) {
      o0[l] = d0[l] - d2[l];
      o1[l] = d1[l] + d2[l];
      o2[l] = d2[l] - d1[l];
      o3[l] = d1[l] - d3[l];
    }
  }
  static void output(const std::array<const float*, 4>& s, const std::array<float*, 2>& y, int64_t L) {
    const float *s0 = s[0], *s1 = s[1], *s2 = s[2], *s3 = s[3];
    float *y0 = y[0], *y1 = y[1];
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) {
      y0[l] = (s0[l] + s1[l]) + s2[l];
      y1[l] = (s1[l] - s2[l]) - s3[l];
    }
  }
  static constexpr double G[N][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
};

template <>
struct Transform<4> {
  static constexpr int N = 6;
  static void input(const std::array<const float*, 6>& d, const std::array<float*, 6>& o, int64_t L) {
    const float *d0 = d[0], *d1 = d[1], *d2 = d[2], *d3 = d[3], *d4 = d[4], *d5 = d[5];
    float *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3], *o4 = o[4], *o5 = o[5];
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) {
      const float a = d4[l] - d2[l], b = 2.f * (d3[l] - d1[l]);
      o0[l] = (4.f * d0[l] - 5.f * d2[l]) + d4[l];
      o1[l] = (d3[l] + d4[l]) - 4.f * (d1[l] + d2[l]);
      o2[l] = (d4[l] - d3[l]) + 4.f * (d1[l] - d2[l]);
      o3[l] = a + b;
      o4[l] = a - b;
      o5[l] = (4.f * d1[l] - 5.f * d3[l]) + d5[l];
    }
  }
  static void output(const std::array<const float*, 6>& s, const std::array<float*, 4>& y, int64_t L) {
    const float *s0 = s[0], *s1 = s[1], *s2 = s[2], *s3 = s[3], *s4 = s[4], *s5 = s[5];
    float *y0 = y[0], *y1 = y[1], *y2 = y[2], *y3 = y[3];
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) {
      const float a = s1[l] + s2[l], b = s1[l] - s2[l], c = s3[l] + s4[l], e = s3[l] - s4[l];
      y0[l] = (s0[l] + a) + c;
      y1[l] = b + 2.f * e;
      y2[l] = a + 4.f * c;
      y3[l] = (b + 8.f * e) + s5[l];
    }
  }
  static constexpr double G[N][3] = {{0.25, 0, 0},
                                     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                     {0, 0, 1}};
};

// What one chunk's transforms read and write.
struct Chunk {
  const WinogradGeometry* g;
  int64_t tiles_y, tiles_x, stride;  // stride: tiles per point's block in V and P (the full chunk)
  float *v, *p;                      // transformed inputs [point][tile][cin], products [point][tile][cout]
};

// Tiles [r0, r1) of the chunk starting at tile t0: each input window, transformed, into V.
template <int M>
void transform_inputs(const Chunk& k, const float* x, int64_t t0, int64_t r0, int64_t r1) {
  using T = Transform<M>;
  constexpr int N = T::N;
  const WinogradGeometry& g = *k.g;
  alignas(64) float t[N][N][kLanes];
  alignas(64) float win[N][N][kLanes];  // a blocked input's window, its channels gathered
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t tile = t0 + r, tx = tile % k.tiles_x, ty = tile / k.tiles_x % k.tiles_y,
                  n = tile / (k.tiles_x * k.tiles_y);
    const int64_t iy0 = ty * M - g.pad_t, ix0 = tx * M - g.pad_l;
    std::array<std::array<const float*, N>, N> pixel{};  // null: outside the input (zeros)
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < N; ++j) {
        const int64_t iy = iy0 + i, ix = ix0 + j;
        if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w)
          pixel[i][j] = x + n * g.h * g.w * g.cin + (iy * g.w + ix) * (g.block ? g.block : g.cin);
      }
    for (int64_t c0 = 0; c0 < g.cin; c0 += kLanes) {
      const int64_t L = std::min(kLanes, g.cin - c0);
      if (g.block)  // nChw<b>c: the window's channels [c0, c0 + L) gathered from their blocks
        for (int i = 0; i < N; ++i)
          for (int j = 0; j < N; ++j)
            if (pixel[i][j])
              for (int64_t b = 0; b < L; b += g.block)
                std::copy_n(pixel[i][j] + (c0 + b) * g.h * g.w, g.block, win[i][j] + b);
      for (int j = 0; j < N; ++j) {  // the columns: t = Bᵀ d
        std::array<const float*, N> in;
        std::array<float*, N> out;
        for (int i = 0; i < N; ++i) {
          in[i] = !pixel[i][j] ? kZeros : g.block ? win[i][j] : pixel[i][j] + c0;
          out[i] = t[i][j];
        }
        T::input(in, out, L);
      }
      for (int i = 0; i < N; ++i) {  // the rows: V = t B
        std::array<const float*, N> in;
        std::array<float*, N> out;
        for (int j = 0; j < N; ++j) in[j] = t[i][j], out[j] = k.v + ((i * N + j) * k.stride + r) * g.cin + c0;
        T::input(in, out, L);
      }
    }
  }
}

// Tiles [r0, r1) of the chunk starting at tile t0: each tile's products transformed back, then the
// bias, the residual (y's prior contents) and the ReLU, written where the tile lies in y.
template <int M>
void transform_outputs(const Chunk& k, const float* bias, bool residual, bool relu, float* y, int64_t t0, int64_t r0,
                       int64_t r1) {
  using T = Transform<M>;
  constexpr int N = T::N;
  const WinogradGeometry& g = *k.g;
  alignas(64) float s[M][N][kLanes];
  alignas(64) float o[M][M][kLanes];
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t tile = t0 + r, tx = tile % k.tiles_x, ty = tile / k.tiles_x % k.tiles_y,
                  n = tile / (k.tiles_x * k.tiles_y);
    for (int64_t c0 = 0; c0 < g.cout; c0 += kLanes) {
      const int64_t L = std::min(kLanes, g.cout - c0);
      for (int j = 0; j < N; ++j) {  // the columns: s = Aᵀ P
        std::array<const float*, N> in;
        std::array<float*, M> out;
        for (int i = 0; i < N; ++i) in[i] = k.p + ((i * N + j) * k.stride + r) * g.cout + c0;
        for (int i = 0; i < M; ++i) out[i] = s[i][j];
        T::output(in, out, L);
      }
      for (int i = 0; i < M; ++i) {  // the rows: o = s A
        std::array<const float*, N> in;
        std::array<float*, M> out;
        for (int j = 0; j < N; ++j) in[j] = s[i][j];
        for (int j = 0; j < M; ++j) out[j] = o[i][j];
        T::output(in, out, L);
      }
      for (int i = 0; i < M; ++i) {
        const int64_t oy = ty * M + i;
        if (oy >= g.oh) break;
        for (int j = 0; j < M; ++j) {
          const int64_t ox = tx * M + j;
          if (ox >= g.ow) break;
          // Channels-last: the L lanes in one run; nChw<b>c: a run per block.
          const int64_t run = g.block ? g.block : L;
          for (int64_t l0 = 0; l0 < L; l0 += run) {
            float* __restrict dst =
                y + n * g.oh * g.ow * g.cout +
                (g.block ? (oy * g.ow + ox) * g.block + (c0 + l0) * g.oh * g.ow : (oy * g.ow + ox) * g.cout + c0);
            const float* __restrict v = o[i][j] + l0;
            const float* __restrict b = bias ? bias + c0 + l0 : kZeros;
#pragma omp simd
            for (int64_t l = 0; l < run; ++l) {
              float u = v[l] + b[l];
              if (residual) u += dst[l];
              dst[l] = relu ? std::max(u, 0.f) : u;
            }
          }
        }
      }
    }
  }
}

// U[point][o][i] = (G g Gᵀ)[point] of each 3×3 kernel g = w[o, i], in float64, rounded once, at
// u[point * s.point + o * s.o + i * s.i]; with `flipped`, g = w[i, o] turned by 180° (w a [cin,
// cout, 3, 3] forward weight: the plan computes its input gradient).
struct WeightStrides {
  int64_t point, o, i;
};
template <int M>
void transform_weights(const float* w, int64_t cout, int64_t cin, bool flipped, float* u, WeightStrides s) {
  using T = Transform<M>;
  constexpr int N = T::N;
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t i = 0; i < cin; ++i) {
      const float* k = flipped ? w + (i * cout + o) * 9 : w + (o * cin + i) * 9;
      double gk[N][3] = {};  // G g
      for (int a = 0; a < N; ++a)
        for (int c = 0; c < 3; ++c)
          for (int b = 0; b < 3; ++b) gk[a][c] += T::G[a][b] * double(flipped ? k[8 - (b * 3 + c)] : k[b * 3 + c]);
      for (int a = 0; a < N; ++a)
        for (int b = 0; b < N; ++b) {
          double v = 0;
          for (int c = 0; c < 3; ++c) v += gk[a][c] * T::G[b][c];
          u[(a * N + b) * s.point + o * s.o + i * s.i] = float(v);
        }
    }
}

// One row's term k: a += v[k]·x, and b += v[k]·y with two column vectors.
template <int NV>
[[gnu::target("avx2,fma"), gnu::always_inline]] inline void row_term(const float* v, __m256 x, __m256 y, __m256& a,
                                                                     __m256& b) {
  const __m256 w = _mm256_broadcast_ss(v);
  a = _mm256_fmadd_ps(w, x, a);
  if (NV == 2) b = _mm256_fmadd_ps(w, y, b);
}

// P[r][c0 + c] = Σ_k V[r][k] U[k][c0 + c] over k in order, one fused multiply-add per term, for
// 6 rows and 16 columns (NV = 2) or 8 (NV = 1): V rows `cin` apart, U and P rows `cout` apart. The
// accumulators are named variables: an array of them is spilled to the stack on every term.
template <int NV>
[[gnu::target("avx2,fma")]] inline void product_6rows(const float* v, const float* u, float* p, int64_t cin,
                                                      int64_t cout) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
  for (int64_t k = 0; k < cin; ++k) {
    const float* uk = u + k * cout;
    const __m256 x = _mm256_loadu_ps(uk), y = NV == 2 ? _mm256_loadu_ps(uk + 8) : x;
    row_term<NV>(v + k, x, y, a0, b0);
    row_term<NV>(v + cin + k, x, y, a1, b1);
    row_term<NV>(v + 2 * cin + k, x, y, a2, b2);
    row_term<NV>(v + 3 * cin + k, x, y, a3, b3);
    row_term<NV>(v + 4 * cin + k, x, y, a4, b4);
    row_term<NV>(v + 5 * cin + k, x, y, a5, b5);
  }
  const __m256 as[6] = {a0, a1, a2, a3, a4, a5}, bs[6] = {b0, b1, b2, b3, b4, b5};
  for (int r = 0; r < 6; ++r) {
    _mm256_storeu_ps(p + r * cout, as[r]);
    if (NV == 2) _mm256_storeu_ps(p + r * cout + 8, bs[r]);
  }
}

// One point's product of `tiles` rows, P [tiles][cout] = V [tiles][cin] · U [cin][cout] (cout a
// multiple of 8): 6 rows by 16 columns of accumulators, each column block's U in cache across the
// rows; the last rows through 6-row scratch copies (zero rows past the end). Every element is the
// same sum in the same order whatever the row count, so a tile's bits do not depend on its chunk.
// `scratch`: 6 · (cin + cout) floats.
[[gnu::target("avx2,fma")]] void small_products(const float* v, const float* u, float* p, int64_t tiles, int64_t cin,
                                                int64_t cout, float* scratch) {
  const int64_t whole = tiles / 6 * 6, rest = tiles - whole;
  float *v_tail = scratch, *p_tail = scratch + 6 * cin;
  if (rest) {
    std::copy(v + whole * cin, v + tiles * cin, v_tail);
    std::fill(v_tail + rest * cin, v_tail + 6 * cin, 0.f);
  }
  for (int64_t c0 = 0; c0 < cout; c0 += 16) {
    const bool two = c0 + 16 <= cout;
    for (int64_t r0 = 0; r0 < whole; r0 += 6)
      two ? product_6rows<2>(v + r0 * cin, u + c0, p + r0 * cout + c0, cin, cout)
          : product_6rows<1>(v + r0 * cin, u + c0, p + r0 * cout + c0, cin, cout);
    if (rest)
      two ? product_6rows<2>(v_tail, u + c0, p_tail + c0, cin, cout)
          : product_6rows<1>(v_tail, u + c0, p_tail + c0, cin, cout);
  }
  if (rest) std::copy(p_tail, p_tail + rest * cout, p + whole * cout);
}

// Whether doppel's products run (small_products) rather than oneDNN's 1×1 convolutions. Measured
// (bench/winograd_conv_bench.cpp, AVX2 Zen 3, 1 thread, batch 1 and 8, F(2×2) and F(4×4)): up to
// 128×128 channels the whole convolution took 0.46-0.95× the time with doppel's products
// (ResNet-18's 64@56² and 128@28², the small CNN's 32→64@14²: oneDNN's per-call cost dominates
// products of a few dozen tiles); from 256 channels it took 0.76-0.99× (256@14²) and 0.26-0.96×
// (512@7²) the time with oneDNN's, whose weights are blocked for the cache.
bool own_products(const WinogradGeometry& g) {
  return vector_isa::avx2_fma() && g.cout % 8 == 0 && g.cin * g.cout <= 128 * 128;
}

}  // namespace

struct WinogradConv::Product {
  dnnl::convolution_forward prim;
  memory::desc src_md, w_md, dst_md;
  std::string impl;
  std::unique_ptr<BoundArgsPool> bound = std::make_unique<BoundArgsPool>();
};

namespace {

// The 1×1 convolution of `tiles` pixels [tile][cin] into [tile][cout], reading its weights in
// `weights` (format_tag::any: the layout oneDNN picks); null when oneDNN offers only its reference
// implementation.
std::shared_ptr<WinogradConv::Product> make_product(int64_t tiles, int64_t cin, int64_t cout,
                                                    const memory::desc& weights) {
  // Made for one thread: each thread runs whole products (run()), and a product's blocking (its
  // order of accumulation) then does not depend on the thread count.
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const OnExit restore{[threads] { omp_set_num_threads(threads); }};
  auto p = std::make_shared<WinogradConv::Product>();
  p->src_md = memory::desc({1, cin, 1, tiles}, memory::data_type::f32, memory::format_tag::nhwc);
  p->dst_md = memory::desc({1, cout, 1, tiles}, memory::data_type::f32, memory::format_tag::nhwc);
  dnnl::primitive_attr attr = onednn::attr();
  attr.set_fpmath_mode(dnnl::fpmath_mode::strict);
  try {
    dnnl::convolution_forward::primitive_desc pd(engine(), dnnl::prop_kind::forward_inference,
                                                 dnnl::algorithm::convolution_direct, p->src_md, weights, p->dst_md,
                                                 {1, 1}, {0, 0}, {0, 0}, attr);
    if (reference_implementation(pd)) return nullptr;
    p->w_md = pd.weights_desc();
    p->impl = pd.impl_info_str();
    p->prim = dnnl::convolution_forward(pd);
  } catch (const dnnl::error&) {
    return nullptr;
  }
  return p;
}

// Tiles per chunk: the chunk's transformed inputs and products about 1 MiB, 32 to 128 tiles; a
// whole number of images where an image has fewer tiles (chunks then start at an image).
int64_t default_chunk(int n, int64_t cin, int64_t cout, int64_t image_tiles) {
  const int64_t bytes = int64_t(n) * n * (cin + cout) * int64_t(sizeof(float));
  const int64_t chunk = std::clamp<int64_t>((int64_t(1) << 20) / bytes / 8 * 8, 32, 128);
  return image_tiles < chunk ? chunk / image_tiles * image_tiles : chunk;
}

}  // namespace

std::unique_ptr<WinogradConv> WinogradConv::make(const WinogradGeometry& g, int m, bool relu, int64_t chunk,
                                                 bool flipped) {
  DOPPEL_INTERNAL_ASSERT(m == 2 || m == 4);
  DOPPEL_INTERNAL_ASSERT(g.block == 0 || (g.block <= kLanes && g.cin % g.block == 0 && g.cout % g.block == 0));
  std::unique_ptr<WinogradConv> w(new WinogradConv());
  w->g_ = g;
  w->m_ = m;
  w->relu_ = relu;
  w->flipped_ = flipped;
  w->tiles_y_ = (g.oh + m - 1) / m;
  w->tiles_x_ = (g.ow + m - 1) / m;
  const int64_t tiles = g.batch * w->tiles_y_ * w->tiles_x_;
  // Not the batch: an output's bits must not depend on it (the tail may run another kernel).
  w->chunk_ = chunk > 0 ? chunk : default_chunk(m + 2, g.cin, g.cout, w->tiles_y_ * w->tiles_x_);
  if (own_products(g)) {
    w->own_products_ = true;
    w->slot_bytes_ = (g.cin * g.cout * int64_t(sizeof(float)) + 63) / 64 * 64;
    w->packed_md_ = memory::desc({w->points() * w->slot_bytes_ / int64_t(sizeof(float))}, memory::data_type::f32,
                                 memory::format_tag::a);
    return w;
  }
  if (flipped) return nullptr;  // oneDNN's products' weight key does not tell a flipped copy apart
  const memory::desc w_any({g.cout, g.cin, 1, 1}, memory::data_type::f32, memory::format_tag::any);
  w->full_ = make_product(w->chunk_, g.cin, g.cout, w_any);
  if (!w->full_) return nullptr;
  if (const int64_t rest = tiles % w->chunk_; rest != 0) {
    // The last chunk's product: the first of rest, rest + 1, ... tiles (up to 16 more: zeros past
    // its tiles) that oneDNN computes as the full chunk's product does, with the same kernel on
    // the same weight layout (it has only its reference kernel for some tile counts); else the
    // full chunk's product.
    for (int64_t rows = rest; rows < std::min(w->chunk_, rest + 17) && !w->tail_; ++rows) {
      auto tail = make_product(rows, g.cin, g.cout, w->full_->w_md);
      if (tail && tail->impl == w->full_->impl) w->tail_ = std::move(tail), w->tail_rows_ = rows;
    }
  }
  w->slot_bytes_ = (int64_t(w->full_->w_md.get_size()) + 63) / 64 * 64;
  w->packed_md_ = memory::desc({w->points() * w->slot_bytes_ / int64_t(sizeof(float))}, memory::data_type::f32,
                               memory::format_tag::a);
  return w;
}

Tensor WinogradConv::transformed_weights(const Tensor& w) const {
  const int64_t points = this->points(), cin = g_.cin, cout = g_.cout;
  const float* wp = w.data_ptr<float>();
  auto transform = [&](float* u, WeightStrides st) {
    if (m_ == 2)
      transform_weights<2>(wp, cout, cin, flipped_, u, st);
    else
      transform_weights<4>(wp, cout, cin, flipped_, u, st);
  };
  Tensor packed = make_tensor({points * slot_bytes_ / int64_t(sizeof(float))}, DType::Float32, kCPU);
  if (own_products_) {  // [point][cin][cout], the layout small_products reads
    transform(packed.data_ptr<float>(), {slot_bytes_ / int64_t(sizeof(float)), 1, cout});
    return packed;
  }
  Tensor plain = make_tensor({points, cout, cin}, DType::Float32, kCPU);
  float* up = plain.data_ptr<float>();
  transform(up, {cout * cin, cin, 1});
  const memory::desc plain_md({cout, cin, 1, 1}, memory::data_type::f32, memory::format_tag::oihw);
  const dnnl::reorder re = make_reorder(plain_md, full_->w_md);
  auto* bytes = static_cast<char*>(packed.raw_data());
  for (int64_t a = 0; a < points; ++a)
    execute(re, {{DNNL_ARG_FROM, dnnl::memory(plain_md, engine(), up + a * cout * cin)},
                 {DNNL_ARG_TO, dnnl::memory(full_->w_md, engine(), bytes + a * slot_bytes_)}});
  return packed;
}

// A chunk of `count` tiles' products (transformed inputs v, products p) on oneDNN's 1×1
// convolutions: the full chunk's, or the tail's with zero tiles past `count` (make()).
void WinogradConv::run_onednn_products(float* v, float* p, const char* packed, int64_t count) const {
  const bool tail = count < chunk_ && tail_;
  const Product& prod = tail ? *tail_ : *full_;
  const int64_t points = this->points();
  if (const int64_t rows = tail ? tail_rows_ : chunk_; rows > count)
    for (int64_t a = 0; a < points; ++a)
      std::memset(v + (a * chunk_ + count) * g_.cin, 0, size_t((rows - count) * g_.cin) * sizeof(float));
  // The points' products, each on one thread (oneDNN runs a primitive on the calling thread
  // inside a parallel region); a worker thread's scratchpad comes from the allocator.
  parallel_for(0, points, 1, [&](int64_t a0, int64_t a1) {
    const auto args = prod.bound->take();
    for (int64_t a = a0; a < a1; ++a) {
      args->set(DNNL_ARG_SRC, prod.src_md, v + a * chunk_ * g_.cin);
      args->set(DNNL_ARG_WEIGHTS, prod.w_md, packed + a * slot_bytes_);
      args->set(DNNL_ARG_DST, prod.dst_md, p + a * chunk_ * g_.cout);
      args->execute(prod.prim);
    }
  });
}

void WinogradConv::run(const float* x, const Tensor& w, bool w_cacheable, const float* bias, bool residual,
                       float* y) const {
  // The profiler sees one implementation, not each point's product.
  std::string* const sink = implementation_sink();
  if (sink) [[unlikely]] {
    report_implementation(m_ == 4 ? "winograd F(4x4,3x3)" : "winograd F(2x2,3x3)");
    report_implementation(own_products_ ? "doppel avx2 6x16 products" : full_->impl);
  }
  implementation_sink() = nullptr;
  const OnExit restore{[sink] { implementation_sink() = sink; }};
  const PrepackedWeight u(
      w, packed_md_, packed_md_, std::nullopt, w_cacheable,
      [this](const Tensor& weight) { return transformed_weights(weight); },
      // The flipped copy of a weight has its own key (a forward plan of the same shape may share w).
      own_products_ ? memory::desc({points(), g_.cin, g_.cout}, memory::data_type::f32,
                                   flipped_ ? memory::format_tag::acb : memory::format_tag::abc)
                    : full_->w_md);
  const auto* packed = static_cast<const char*>(u.memory().get_data_handle());
  const int64_t points = this->points(), tiles = g_.batch * tiles_y_ * tiles_x_;
  const Tensor v = make_tensor({points * chunk_ * g_.cin}, DType::Float32, kCPU);
  const Tensor p = make_tensor({points * chunk_ * g_.cout}, DType::Float32, kCPU);
  const Chunk k{&g_, tiles_y_, tiles_x_, chunk_, v.data_ptr<float>(), p.data_ptr<float>()};
  const int m = m_;
  const bool relu = relu_;
  const int64_t grain = std::max<int64_t>(1, 4096 / (g_.cin + g_.cout));
  for (int64_t t0 = 0; t0 < tiles; t0 += chunk_) {
    const int64_t count = std::min(chunk_, tiles - t0);
    parallel_for(0, count, grain, [&](int64_t r0, int64_t r1) {
      vector_isa::run([=] {
        if (m == 2)
          transform_inputs<2>(k, x, t0, r0, r1);
        else
          transform_inputs<4>(k, x, t0, r0, r1);
      });
    });
    if (own_products_) {
      const int64_t cin = g_.cin, cout = g_.cout, stride = chunk_;
      parallel_for(0, points, 1, [&](int64_t a0, int64_t a1) {
        std::vector<float> scratch(size_t(6 * (cin + cout)));
        for (int64_t a = a0; a < a1; ++a)
          small_products(k.v + a * stride * cin, reinterpret_cast<const float*>(packed + a * slot_bytes_),
                         k.p + a * stride * cout, count, cin, cout, scratch.data());
      });
    } else {
      run_onednn_products(k.v, k.p, packed, count);
    }
    parallel_for(0, count, grain, [&](int64_t r0, int64_t r1) {
      vector_isa::run([=] {
        if (m == 2)
          transform_outputs<2>(k, bias, residual, relu, y, t0, r0, r1);
        else
          transform_outputs<4>(k, bias, residual, relu, y, t0, r0, r1);
      });
    });
  }
}

// Measured on AVX2 (AMD Zen 3, 1 thread, bench/winograd_conv_bench.cpp, bench/README.md), against
// brgconv:avx2 at batch 1 and 8: F(4×4) ran ResNet-18's 64@56², 128@28² and 256@14² convolutions in
// 0.42-0.64× the time, F(2×2) its 512@7² ones in 0.74-0.82× (F(4×4) pads 7 to 8: 1.04× at batch 1,
// 0.43× at batch 8; the rule does not look at the batch, see winograd_conv.h) and the small CNN's
// 32→64@14² in 0.76-0.85× (F(4×4) 0.65-1.10×); with 16 input channels F(2×2) lost (1.17-1.40×) and
// F(4×4) broke even, and so did 32→32@7² (1.03-1.85×). With doppel's products (own_products) the
// small CNN's 32→64@14² took F(4×4) in 0.54-0.57× the direct convolution's time against F(2×2)'s
// 0.64-0.65× (batch 1 and 8).
int WinogradConv::worthwhile_tile(const WinogradGeometry& g) {
  // 64->32 @14² (a training graph's input gradient of the CNN's 32->64): F(4x4) 0.61x, F(2x2) 0.69-0.70x
  // at batch 8 and 64.
  if (g.cin < 32 || g.cout < 32 || (g.cin < 64 && g.cout < 64)) return 0;
  return g.oh >= 14 && g.ow >= 14 && (g.cin >= 64 || own_products(g)) ? 4 : 2;
}

}  // namespace doppel::onednn

namespace doppel {
namespace {
std::atomic<bool>& winograd_switch() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("DOPPEL_WINOGRAD");
    return !(v && std::string_view(v) == "0");
  }()};
  return on;
}
}  // namespace

void set_winograd_convolutions(bool enabled) { winograd_switch().store(enabled); }
bool winograd_convolutions() { return winograd_switch().load(); }

}  // namespace doppel
