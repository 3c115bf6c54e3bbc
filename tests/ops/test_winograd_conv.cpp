// Winograd F(2×2, 3×3) and F(4×4, 3×3) convolution (kernels/cpu/onednn/winograd_conv.h): against the
// plain convolution in float64 (the reference kernel), on channel counts below, at and past the
// transforms' 64 lanes and oneDNN's 8-channel blocks, odd sizes whose last tiles hang over the
// output, padding 0, 1 and 2, with and without bias, residual and ReLU, and chunks of tiles that
// split images, doppel's products and oneDNN's; each output's bits must not depend on the batch
// around it, the chunk, the layout (channels-last, nChw8c, nChw4c), the thread count or the vector
// ISA. Through blocked_conv2d, channels-last (inference graphs) and in the CPU's block (training
// graphs): it runs where it applies (AVX2), set_winograd_convolutions(false) gives the direct
// convolution, and NaN or infinities in any operand take the direct convolution (a NaN would
// spread over a whole tile).
#include <catch2/catch_test_macros.hpp>
#include <cmath>
#include <string>

#include "cpu/onednn/winograd_conv.h"
#include "cpu/vector_isa.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/kernels/implementation_report.h"
#include "doppel/kernels/onednn_audit.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/parallel.h"
#include "support/implementation_names.h"
#include "support/test_util.h"
#include "support/winograd_off.h"

namespace doppel {
namespace {

using onednn::WinogradConv;
using onednn::WinogradGeometry;
using testing::make_input;

struct Case {
  int64_t n, cin, cout, h, w, pad;
  bool bias, residual, relu;
};

struct Operands {
  Tensor x, w, bias, residual;  // x, residual: plain NCHW float32
};

Operands operands(const Case& k, uint64_t seed) {
  Operands o{make_input({k.n, k.cin, k.h, k.w}, DType::Float32, seed),
             make_input({k.cout, k.cin, 3, 3}, DType::Float32, seed + 1), Tensor(), Tensor()};
  if (k.bias) o.bias = make_input({k.cout}, DType::Float32, seed + 2);
  const int64_t oh = k.h + 2 * k.pad - 2, ow = k.w + 2 * k.pad - 2;
  if (k.residual) o.residual = make_input({k.n, k.cout, oh, ow}, DType::Float32, seed + 3);
  return o;
}

Tensor channels_last(const Tensor& t) { return contiguous(permute(t, {0, 2, 3, 1})); }

// The plan's output, plain NCHW.
Tensor run_plan(const WinogradConv& plan, const Case& k, const Operands& o) {
  const Tensor x = channels_last(o.x);
  const int64_t oh = k.h + 2 * k.pad - 2, ow = k.w + 2 * k.pad - 2;
  Tensor y = k.residual ? channels_last(o.residual) : make_tensor({k.n, oh, ow, k.cout}, DType::Float32, kCPU);
  plan.run(x.data_ptr<float>(), o.w, true, k.bias ? o.bias.data_ptr<float>() : nullptr, k.residual,
           y.data_ptr<float>());
  return contiguous(permute(y, {0, 3, 1, 2}));
}

// The plan's output in nChw<block>c (x and the residual in blocks too), plain NCHW.
Tensor run_plan_blocked(const WinogradConv& plan, const Case& k, const Operands& o, int64_t block) {
  const Tensor x = dispatch1(OpId::to_blocked, {o.x}, ToBlockedAttrs{.block = block}.pack());
  const int64_t oh = k.h + 2 * k.pad - 2, ow = k.w + 2 * k.pad - 2;
  Tensor y = k.residual ? dispatch1(OpId::to_blocked, {o.residual}, ToBlockedAttrs{.block = block}.pack())
                        : make_tensor({k.n, k.cout / block, oh, ow, block}, DType::Float32, kCPU);
  plan.run(x.data_ptr<float>(), o.w, true, k.bias ? o.bias.data_ptr<float>() : nullptr, k.residual,
           y.data_ptr<float>());
  return dispatch1(OpId::from_blocked, {y}, FromBlockedAttrs{.channels = k.cout}.pack());
}

std::unique_ptr<WinogradConv> plan_for(const Case& k, int m, int64_t chunk, int64_t batch, int64_t block = 0) {
  const WinogradGeometry g{batch, k.cin, k.cout, k.h, k.w, k.h + 2 * k.pad - 2, k.w + 2 * k.pad - 2,
                           k.pad, k.pad, block};
  auto plan = WinogradConv::make(g, m, k.relu, chunk);
  REQUIRE(plan);
  return plan;
}

// |got - want| within `rel` of the output's rounding scale: Σ|x·w| over the window (+ |bias| +
// |residual|), in float64.
void check_close(const Tensor& got, const Case& k, const Operands& o, double rel) {
  const DType f64 = DType::Float64;
  Tensor want = conv2d(o.x.to(f64), o.w.to(f64), k.bias ? o.bias.to(f64) : Tensor(), {1, 1}, {k.pad, k.pad});
  Tensor scale =
      conv2d(abs(o.x.to(f64)), abs(o.w.to(f64)), k.bias ? abs(o.bias.to(f64)) : Tensor(), {1, 1}, {k.pad, k.pad});
  if (k.residual) want = add(want, o.residual.to(f64)), scale = add(scale, abs(o.residual.to(f64)));
  if (k.relu) want = relu(want);
  const std::vector<double> g = got.to(f64).to_vector<double>(), w = want.to_vector<double>(),
                            s = scale.to_vector<double>();
  REQUIRE(g.size() == w.size());
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i << ": " << g[i] << " vs " << w[i] << " (scale " << s[i] << ")");
    REQUIRE(std::abs(g[i] - w[i]) <= rel * s[i]);
  }
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(contiguous(a).raw_data(), contiguous(b).raw_data(), a.nbytes()) == 0;
}

const std::vector<Case> kCases = {
    // n, cin, cout, h, w, pad, bias, residual, relu
    {1, 32, 64, 14, 14, 1, true, false, true},  // the small CNN's second convolution
    {2, 5, 7, 9, 11, 1, true, false, false},    // fewer channels than a vector, odd sizes
    {1, 70, 65, 6, 5, 1, false, true, true},    // channel tails past the 64 lanes, residual, no bias
    {2, 16, 24, 8, 10, 0, true, true, false},   // no padding
    {1, 8, 9, 5, 7, 2, false, false, true},     // padding 2: tiles start two pixels out
    {1, 64, 64, 17, 19, 1, true, true, true},   // ResNet's residual convolution, ragged tiles
    {3, 12, 8, 3, 3, 1, true, false, false},    // one tile per image
};

TEST_CASE("Winograd convolution: F(2x2,3x3) and F(4x4,3x3) against the float64 convolution", "[ops][winograd]") {
  uint64_t seed = 700;
  for (const Case& k : kCases) {
    const Operands o = operands(k, seed += 10);
    for (const int m : {2, 4})
      for (const int64_t chunk : {int64_t(0), int64_t(3)}) {  // 3: chunks that split images, a tail
        INFO("case n " << k.n << " cin " << k.cin << " cout " << k.cout << " " << k.h << "x" << k.w << " pad " << k.pad
                       << ", m " << m << ", chunk " << chunk);
        // The transforms' rounding: F(4x4) multiplies by up to 8 (Aᵀ) and 5 (Bᵀ) on the way.
        check_close(run_plan(*plan_for(k, m, chunk, k.n), k, o), k, o, m == 2 ? 2e-6 : 2e-5);
      }
  }
}

TEST_CASE("Winograd convolution: an output's bits do not depend on the batch, chunk, layout, threads or vector ISA",
          "[ops][winograd]") {
  const Case k{3, 24, 40, 11, 9, 1, true, true, true};
  const Operands o = operands(k, 901);
  for (const int m : {2, 4}) {
    INFO("m " << m);
    const Tensor whole = run_plan(*plan_for(k, m, 5, k.n), k, o);
    for (int64_t i = 0; i < k.n; ++i) {  // each image alone, other chunk sizes
      Case one = k;
      one.n = 1;
      const Operands oi{narrow(o.x, 0, i, 1), o.w, o.bias, narrow(o.residual, 0, i, 1)};
      for (const int64_t chunk : {int64_t(0), int64_t(2), int64_t(7)})
        CHECK(same_bits(run_plan(*plan_for(one, m, chunk, 1), one, oi), narrow(whole, 0, i, 1)));
    }
    for (const int64_t block : {int64_t(8), int64_t(4)})  // nChw8c (training graphs), nChw4c
      CHECK(same_bits(run_plan_blocked(*plan_for(k, m, 5, k.n, block), k, o, block), whole));
    const int threads = get_num_threads();
    for (const int t : {1, 2}) {
      set_num_threads(t);
      CHECK(same_bits(run_plan(*plan_for(k, m, 5, k.n), k, o), whole));
    }
    set_num_threads(threads);
    for (const auto isa : {vector_isa::Isa::Portable, vector_isa::Isa::Avx2, vector_isa::Isa::Avx512}) {
      if (!vector_isa::supported(isa)) continue;
      INFO("ISA " << int(isa));
      vector_isa::ForcedIsa forced(isa);
      CHECK(same_bits(run_plan(*plan_for(k, m, 5, k.n), k, o), whole));
    }
  }
}

// blocked_conv2d of x (residual r) channels-last (block 0) or in blocks of `block`, and the
// implementation the profiler would show.
struct Blocked {
  Tensor y;
  std::string impl;
};
Blocked blocked_conv(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& r, bool relu,
                     int64_t block = 0) {
  const int64_t cout = w.size(0), in_block = block ? block : x.size(1), out_block = block ? block : cout;
  std::vector<Tensor> inputs = {dispatch1(OpId::to_blocked, {x}, ToBlockedAttrs{.block = in_block}.pack()), w, bias};
  if (r.defined()) inputs.push_back(dispatch1(OpId::to_blocked, {r}, ToBlockedAttrs{.block = out_block}.pack()));
  const Attrs attrs = BlockedConv2dAttrs{.stride = {1, 1},
                                         .padding = {1, 1},
                                         .dilation = {1, 1},
                                         .activation = int64_t(relu ? FusedActivation::relu : FusedActivation::none),
                                         .alpha = 0,
                                         .beta = 0,
                                         .block = out_block}
                          .pack();
  std::string impl;
  Tensor y;
  {
    const testing::ReportImplementations report(&impl);
    y = dispatch1(OpId::blocked_conv2d, inputs, attrs);
  }
  return {dispatch1(OpId::from_blocked, {y}, FromBlockedAttrs{.channels = cout}.pack()), impl};
}

TEST_CASE("Winograd convolution: doppel's products up to 128x128 channels, oneDNN's above", "[ops][winograd]") {
  if (!vector_isa::avx2_fma()) SKIP("this CPU has no AVX2 and FMA: oneDNN's products run");
  for (const auto& [cin, cout, own] : {std::tuple<int64_t, int64_t, bool>{128, 128, true},
                                       {32, 64, true},
                                       {256, 128, false},
                                       {64, 60, false}}) {  // 60: not whole 8-channel vectors
    INFO(cin << " -> " << cout);
    const Case k{1, cin, cout, 6, 6, 1, false, false, false};
    const Operands o = operands(k, 950);
    std::string impl;
    Tensor y;
    {
      const testing::ReportImplementations report(&impl);
      y = run_plan(*plan_for(k, 2, 0, 1), k, o);
    }
    CHECK((impl.find("doppel avx2 6x16 products") != std::string::npos) == own);
    check_close(y, k, o, 2e-6);
  }
}

TEST_CASE("Winograd convolution in blocked_conv2d: where it runs, the switch, and NaN or infinities",
          "[ops][winograd][layout]") {
  // ResNet's 64-channel convolution at 16x16 and the CNN's 32 -> 64 at 14x14 (F(4x4) with doppel's
  // products, on AVX2 + FMA), and 32 -> 64 at 12x12 (F(2x2)).
  // Channels-last (inference graphs) and nChw<b>c in the CPU's block (training graphs).
  for (const int64_t block : {int64_t(0), onednn_channel_block()})
    for (const auto& [cin, hw, tile] : {std::tuple<int64_t, int64_t, std::string>{64, 16, "F(4x4,3x3)"},
                                        {32, 14, "F(4x4,3x3)"},
                                        {32, 12, "F(2x2,3x3)"}}) {
      INFO(cin << " channels at " << hw << "x" << hw << ", block " << block);
      const Tensor x = make_input({2, cin, hw, hw}, DType::Float32, 41),
                   w = make_input({64, cin, 3, 3}, DType::Float32, 42);
      const Tensor b = make_input({64}, DType::Float32, 43), r = make_input({2, 64, hw, hw}, DType::Float32, 44);
      const bool applies = onednn_channel_block() == 8;  // measured, and enabled, on AVX2 only
      reset_onednn_reference_primitives();
      const Blocked fast = blocked_conv(x, w, b, r, true, block);
      CHECK(onednn_reference_primitives().empty());
      CHECK((fast.impl.find("winograd " + tile) != std::string::npos) == applies);
      const Blocked direct = [&] {
        const testing::WinogradOff off;
        return blocked_conv(x, w, b, r, true, block);
      }();
      CHECK(direct.impl.find("winograd") == std::string::npos);
      const std::vector<double> f = fast.y.to(DType::Float64).to_vector<double>(),
                                d = direct.y.to(DType::Float64).to_vector<double>();
      // Rounding of sums of 9·cin products of magnitude ~1 (inputs in [-2, 2]).
      const double tol = 4e-5 * double(9 * cin);
      for (size_t i = 0; i < f.size(); ++i) REQUIRE(std::abs(f[i] - d[i]) <= tol);

      // NaN, +inf and -inf in the input (no activation: the kernel itself must decline), then in
      // the weight, the bias and the residual (with ReLU): the direct convolution's answer.
      for (int where = 0; where < 4; ++where) {
        INFO("non-finite operand " << where);
        Tensor xs = clone(x), ws = clone(w), bs = clone(b), rs = clone(r);
        Tensor& t = where == 0 ? xs : where == 1 ? ws : where == 2 ? bs : rs;
        float* p = t.data_ptr<float>();
        p[3] = std::nanf("");
        p[t.numel() / 2] = INFINITY;
        p[t.numel() - 2] = -INFINITY;
        const bool relu = where != 0;
        const Blocked got = blocked_conv(xs, ws, bs, rs, relu, block);
        CHECK(got.impl.find("winograd") == std::string::npos);
        const Blocked want = [&] {
          const testing::WinogradOff off;
          return blocked_conv(xs, ws, bs, rs, relu, block);
        }();
        CHECK(same_bits(got.y, want.y));
      }
    }
}

// blocked_conv2d_backward's input gradient (x, gy, w plain; the call's operands in blocks of
// `block`), plain, and the implementations the profiler would show.
Blocked blocked_conv_data_grad(const Tensor& gy, const Tensor& x, const Tensor& w, int64_t pad, int64_t block) {
  const Tensor gyb = dispatch1(OpId::to_blocked, {gy}, ToBlockedAttrs{.block = block}.pack()),
               xb = dispatch1(OpId::to_blocked, {x}, ToBlockedAttrs{.block = block}.pack());
  const Attrs attrs =
      BlockedConv2dBackwardAttrs{.stride = {1, 1}, .padding = {pad, pad}, .dilation = {1, 1}, .output_mask = {1, 0, 0}}
          .pack();
  std::string impl;
  Tensor gx;
  {
    const testing::ReportImplementations report(&impl);
    gx = dispatch(OpId::blocked_conv2d_backward, {gyb, xb, w}, attrs)[0];
  }
  return {dispatch1(OpId::from_blocked, {gx}, FromBlockedAttrs{.channels = x.size(1)}.pack()), impl};
}

TEST_CASE("Winograd convolution: a training graph's input gradient, against float64", "[ops][winograd]") {
  // The CNN's 32 -> 64 at 14x14 (its input gradient: 64 -> 32, F(4x4)), odd sizes, padding 0 and 2.
  for (const auto& [n, cin, cout, hw, pad] : {std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>{2, 32, 64, 14, 1},
                                              {1, 32, 64, 9, 0},
                                              {1, 40, 64, 11, 2}}) {
    INFO(cin << " -> " << cout << " at " << hw << "x" << hw << ", padding " << pad);
    const int64_t oh = hw + 2 * pad - 2;
    const Tensor x = make_input({n, cin, hw, hw}, DType::Float32, 61),
                 w = make_input({cout, cin, 3, 3}, DType::Float32, 62),
                 gy = make_input({n, cout, oh, oh}, DType::Float32, 63);
    const int64_t block = onednn_channel_block();
    const Blocked fast = blocked_conv_data_grad(gy, x, w, pad, block);
    CHECK((fast.impl.find("winograd") != std::string::npos) == (block == 8 && vector_isa::avx2_fma()));
    const DType f64 = DType::Float64;
    const ConvolutionBackwardAttrs plain{.stride = {1, 1},
                                         .padding = {pad, pad},
                                         .dilation = {1, 1},
                                         .groups = 1,
                                         .transposed = false,
                                         .output_padding = {0, 0},
                                         .output_mask = {1, 0, 0}};
    const Tensor want = dispatch(OpId::convolution_backward, {gy.to(f64), x.to(f64), w.to(f64)}, plain.pack())[0];
    const Tensor scale =
        dispatch(OpId::convolution_backward, {abs(gy.to(f64)), x.to(f64), abs(w.to(f64))}, plain.pack())[0];
    const std::vector<double> g = fast.y.to(f64).to_vector<double>(), e = want.to_vector<double>(),
                              sc = scale.to_vector<double>();
    REQUIRE(g.size() == e.size());
    for (size_t i = 0; i < g.size(); ++i) {
      INFO("element " << i << ": " << g[i] << " vs " << e[i] << " (scale " << sc[i] << ")");
      REQUIRE(std::abs(g[i] - e[i]) <= 2e-5 * sc[i]);
    }
    // The switch, and NaN or infinities in the output gradient: oneDNN's pass, bit for bit.
    const Blocked direct = [&] {
      const testing::WinogradOff off;
      return blocked_conv_data_grad(gy, x, w, pad, block);
    }();
    CHECK(direct.impl.find("winograd") == std::string::npos);
    Tensor gs = clone(gy);
    gs.data_ptr<float>()[5] = std::nanf("");
    gs.data_ptr<float>()[gs.numel() - 3] = INFINITY;
    const Blocked got = blocked_conv_data_grad(gs, x, w, pad, block);
    CHECK(got.impl.find("winograd") == std::string::npos);
    const testing::WinogradOff off;
    CHECK(same_bits(got.y, blocked_conv_data_grad(gs, x, w, pad, block).y));
  }
}

}  // namespace
}  // namespace doppel
