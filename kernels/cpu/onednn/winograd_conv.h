#pragma once
// Winograd convolution F(m×m, 3×3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015) of channels-last float32 activations: the 3×3 stride-1 convolutions that make up
// most of a ResNet's inference. The output is cut into m×m tiles; each tile's (m+2)×(m+2) input
// window is transformed (Bᵀ d B), each of its (m+2)² transformed points is multiplied by that
// point's Cin×Cout matrix of transformed weights (G g Gᵀ, computed in float64 and prepacked once per
// weight version, weight_cache.h), and the products are transformed back (Aᵀ M A) with the bias, the
// residual and the ReLU applied on the way out. A tile costs (m+2)² products of Cin×Cout where the
// direct convolution pays 9·m²: m = 2 needs 16 for 36 (2.25× fewer), m = 4 36 for 144 (4×).
//
// Up to 128×128 channels (with AVX2 + FMA) the products are doppel's own: one point's product of a
// chunk of tiles in 6-tile by 16-channel register blocks, weights [point][cin][cout], each element
// one fused multiply-add per input channel in order (oneDNN's per-call cost dominates products of a
// few dozen tiles). Above that they run as oneDNN 1×1 convolutions (one per transformed point, a
// chunk of tiles as its pixels: brgconv_1x1 reads the packed weights directly; oneDNN's batched
// matmul repacks them on every call on AVX2). Each output pixel's value depends only on its tile,
// never on which other tiles share its chunk, the batch size or the thread count: every product
// runs on one thread (oneDNN's are made for one), and oneDNN's last chunk's product has the full
// chunk's kernel and weight layout (padded with zero tiles to a tile count oneDNN runs that way,
// else the full chunk's product), so each output is accumulated in one order. The rounding differs from the direct
// convolution's (another sum, of transformed terms): within 2e-6 (m = 2) and 2e-5 (m = 4) of Σ|x·w| in the tests
// (tests/ops/test_winograd_conv.cpp).
//
// NaN and infinities would spread across a whole tile (∞ − ∞ in the transforms), so the caller runs
// the direct convolution when any operand holds one.
#include <cstdint>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>

#include "doppel/core/tensor.h"

namespace doppel::onednn {

// A 3×3, stride 1, dilation 1, groups 1 convolution of [batch, h, w, cin] channels-last input into
// [batch, oh, ow, cout], zero-padded by pad_t rows above and pad_l columns left (the rows and
// columns past the input's end are zeros too). With `block` set, input and output are
// nChw<block>c instead ([batch, c / block, h, w, block]; cin and cout multiples of block, at most
// 64): the training graphs' layout on AVX2.
struct WinogradGeometry {
  int64_t batch = 0, cin = 0, cout = 0, h = 0, w = 0, oh = 0, ow = 0, pad_t = 0, pad_l = 0;
  int64_t block = 0;  // 0: channels-last
};

class WinogradConv {
 public:
  // The plan for tile size m (2 or 4), `chunk` tiles at a time (0: about 1 MiB of transformed
  // inputs and products); nullptr where its products would be oneDNN's and oneDNN has no
  // optimized 1×1 product for it. `flipped`: run() is given a forward convolution's [cin, cout,
  // 3, 3] weight and convolves with it turned by 180° (x: that convolution's output gradient, y:
  // its input gradient, padded by 2 - its padding); doppel's products only (else nullptr).
  static std::unique_ptr<WinogradConv> make(const WinogradGeometry& g, int m, bool relu, int64_t chunk = 0,
                                            bool flipped = false);
  // The tile size worth running for this geometry (measured on AVX2: bench/winograd_conv_bench.cpp),
  // 0 where the direct convolution is faster.
  static int worthwhile_tile(const WinogradGeometry& g);

  // y = act(conv(x, w) + bias [+ y's prior contents, when residual]). x: the input's channels-last
  // float32 bytes; w: the [cout, cin, 3, 3] float32 weight (its transformed copy is cached per
  // version when `w_cacheable`); bias: cout floats or null; y: the output's channels-last bytes.
  void run(const float* x, const Tensor& w, bool w_cacheable, const float* bias, bool residual, float* y) const;

  struct Product;  // a oneDNN 1×1 convolution over a chunk of tiles (above 128×128 channels)

 private:
  WinogradConv() = default;
  Tensor transformed_weights(const Tensor& w) const;
  void run_onednn_products(float* v, float* p, const char* packed, int64_t count) const;

  // The transformed points of a tile: its input window, (m + 2)².
  int64_t points() const { return int64_t(m_ + 2) * (m_ + 2); }

  WinogradGeometry g_;
  int m_ = 2;  // tile
  bool relu_ = false;
  int64_t tiles_y_ = 0, tiles_x_ = 0, chunk_ = 0;  // tiles per chunk
  int64_t slot_bytes_ = 0;                         // one point's packed weights, 64-byte aligned
  std::shared_ptr<Product> full_, tail_;           // tail_: the last chunk's (tail_rows_ tiles), when shorter
  int64_t tail_rows_ = 0;
  // The products are doppel's register-blocked AVX2 + FMA loop (small_products) instead of
  // oneDNN's: weights [point][cin][cout].
  bool own_products_ = false;
  bool flipped_ = false;          // w is a forward weight to turn and transpose (make())
  dnnl::memory::desc packed_md_;  // all points' packed weights, as bytes
};

}  // namespace doppel::onednn
