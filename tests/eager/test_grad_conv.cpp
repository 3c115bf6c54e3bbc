// Gradients of convolution and pooling against independent double-precision loops, PyTorch's
// tie and ceil_mode rules for pooling, and the oneDNN backward paths being taken for float32.
#include <cmath>
#include <limits>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "support/gradcheck.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

struct Conv2dCase {
  Shape x, w;
  int64_t sh, sw, ph, pw, dh, dw, groups;
  bool bias;
};

struct Grads {
  std::vector<double> x, w, b;
};

// d(sum(conv2d(x, w, b) * G))/d(x, w, b) by the 7-loop definition of the forward convolution.
Grads naive_conv2d_grads(const Conv2dCase& k, const std::vector<double>& x, const std::vector<double>& w,
                         const std::vector<double>& G, int64_t OH, int64_t OW) {
  const int64_t N = k.x[0], C = k.x[1], H = k.x[2], W = k.x[3], OC = k.w[0], KH = k.w[2], KW = k.w[3];
  const int64_t cin_g = C / k.groups, cout_g = OC / k.groups;
  Grads g{std::vector<double>(x.size()), std::vector<double>(w.size()), std::vector<double>(size_t(OC))};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oc = 0; oc < OC; ++oc)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const double go = G[size_t(((n * OC + oc) * OH + oh) * OW + ow)];
          g.b[size_t(oc)] += go;
          for (int64_t icl = 0; icl < cin_g; ++icl)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = oh * k.sh - k.ph + kh * k.dh, iw = ow * k.sw - k.pw + kw * k.dw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const int64_t ic = (oc / cout_g) * cin_g + icl;
                const size_t xi = size_t(((n * C + ic) * H + ih) * W + iw);
                const size_t wi = size_t(((oc * cin_g + icl) * KH + kh) * KW + kw);
                g.x[xi] += go * w[wi];
                g.w[wi] += go * x[xi];
              }
        }
  return g;
}

// The same for conv_transpose2d, by its scatter definition: input element i adds x * w to the
// output at i*s - p + k*d (weight [Cin, Cout/groups, kh, kw]).
Grads naive_conv_transpose2d_grads(const Shape& xs, const Shape& ws, int64_t s, int64_t p, int64_t d, int64_t groups,
                                   const std::vector<double>& x, const std::vector<double>& w,
                                   const std::vector<double>& G, int64_t OH, int64_t OW) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], cout_g = ws[1], KH = ws[2], KW = ws[3];
  const int64_t cin_g = C / groups, OC = cout_g * groups;
  Grads g{std::vector<double>(x.size()), std::vector<double>(w.size()), std::vector<double>(size_t(OC))};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ic = 0; ic < C; ++ic)
      for (int64_t ih = 0; ih < H; ++ih)
        for (int64_t iw = 0; iw < W; ++iw)
          for (int64_t ocl = 0; ocl < cout_g; ++ocl)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t oh = ih * s - p + kh * d, ow = iw * s - p + kw * d;
                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                const int64_t oc = (ic / cin_g) * cout_g + ocl;
                const double go = G[size_t(((n * OC + oc) * OH + oh) * OW + ow)];
                const size_t xi = size_t(((n * C + ic) * H + ih) * W + iw);
                const size_t wi = size_t(((ic * cout_g + ocl) * KH + kh) * KW + kw);
                g.x[xi] += go * w[wi];
                g.w[wi] += go * x[xi];
              }
  return g;
}

Tensor vec(const std::vector<double>& v, IntList shape) { return view(tensor(v), shape); }

// Runs backward of sum(y * G) for y = f(x, w, b) in `dt` and returns the leaves' gradients.
template <typename F>
std::vector<Tensor> grads_of(F&& f, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& G, DType dt) {
  auto leaf = [&](const Tensor& t) {
    Tensor c = to_dtype(t, dt).clone();
    c.set_requires_grad(true);
    return c;
  };
  Tensor xd = leaf(x), wd = leaf(w);
  Tensor bd = b.defined() ? leaf(b) : Tensor();
  Tensor y = f(xd, wd, bd);
  sum(y * G.to(dt)).backward();
  return {xd.grad(), wd.grad(), bd.defined() ? bd.grad() : Tensor()};
}

}  // namespace

TEST_CASE("conv grad: conv2d gradients match the direct formula", "[grad_linalg]") {
  const std::vector<Conv2dCase> cases = {
      {{2, 3, 6, 5}, {4, 3, 3, 2}, 1, 1, 0, 0, 1, 1, 1, true},
      {{2, 4, 7, 6}, {6, 2, 3, 3}, 2, 1, 1, 0, 1, 2, 2, true},     // groups, stride, padding, dilation
      {{1, 3, 8, 8}, {3, 1, 3, 3}, 2, 2, 1, 1, 1, 1, 3, false},    // depthwise
      {{4, 8, 12, 12}, {16, 8, 3, 3}, 1, 1, 1, 1, 1, 1, 1, true},  // large enough for oneDNN blocking
  };
  uint64_t seed = 1;
  for (const auto& k : cases) {
    const Tensor x = make_input(k.x, DType::Float64, seed++), w = make_input(k.w, DType::Float64, seed++);
    const Tensor b = k.bias ? make_input({k.w[0]}, DType::Float64, seed++) : Tensor();
    auto f = [&](const Tensor& xx, const Tensor& ww, const Tensor& bb) {
      return conv2d(xx, ww, bb, {k.sh, k.sw}, {k.ph, k.pw}, {k.dh, k.dw}, k.groups);
    };
    const Shape ys = f(x, w, b).shape();
    const Tensor G = make_input(ys, DType::Float64, seed++);
    const Grads e =
        naive_conv2d_grads(k, x.to_vector<double>(), w.to_vector<double>(), G.to_vector<double>(), ys[2], ys[3]);
    INFO("x " << shape_str(k.x) << " w " << shape_str(k.w));
    for (DType dt : {DType::Float64, DType::Float32}) {
      const Tolerance tol = dt == DType::Float64 ? Tolerance{1e-10, 1e-10} : Tolerance{1e-4, 1e-4};
      const auto g = grads_of(f, x, w, b, G, dt);
      DOPPEL_REQUIRE_CLOSE(g[0], vec(e.x, k.x).to(dt), tol);
      DOPPEL_REQUIRE_CLOSE(g[1], vec(e.w, k.w).to(dt), tol);
      if (k.bias) DOPPEL_REQUIRE_CLOSE(g[2], vec(e.b, {k.w[0]}).to(dt), tol);
    }
  }
}

TEST_CASE("conv grad: transposed conv2d gradients match the scatter definition", "[grad_linalg]") {
  struct Case {
    Shape x, w;
    int64_t s, p, op, d, groups;
  };
  uint64_t seed = 50;
  for (const Case& k : std::vector<Case>{{{1, 4, 3, 3}, {4, 3, 3, 3}, 2, 1, 1, 1, 1},
                                         {{2, 4, 3, 4}, {4, 2, 2, 2}, 2, 0, 0, 2, 2},
                                         {{2, 16, 7, 7}, {16, 8, 3, 3}, 2, 1, 1, 1, 1}}) {
    const Tensor x = make_input(k.x, DType::Float64, seed++), w = make_input(k.w, DType::Float64, seed++);
    auto f = [&](const Tensor& xx, const Tensor& ww, const Tensor&) {
      return conv_transpose2d(xx, ww, {}, {k.s, k.s}, {k.p, k.p}, {k.op, k.op}, k.groups, {k.d, k.d});
    };
    const Shape ys = f(x, w, {}).shape();
    const Tensor G = make_input(ys, DType::Float64, seed++);
    const Grads e = naive_conv_transpose2d_grads(k.x, k.w, k.s, k.p, k.d, k.groups, x.to_vector<double>(),
                                                 w.to_vector<double>(), G.to_vector<double>(), ys[2], ys[3]);
    INFO("x " << shape_str(k.x) << " w " << shape_str(k.w));
    for (DType dt : {DType::Float64, DType::Float32}) {
      const Tolerance tol = dt == DType::Float64 ? Tolerance{1e-10, 1e-10} : Tolerance{1e-4, 1e-4};
      const auto g = grads_of(f, x, w, {}, G, dt);
      DOPPEL_REQUIRE_CLOSE(g[0], vec(e.x, k.x).to(dt), tol);
      DOPPEL_REQUIRE_CLOSE(g[1], vec(e.w, k.w).to(dt), tol);
    }
  }
}

TEST_CASE("conv grad: conv1d and double backward through conv2d", "[grad_linalg]") {
  // conv1d is the 2-d case with height 1: compare both gradients.
  const Tensor x = make_input({2, 3, 10}, DType::Float64, 70), w = make_input({4, 3, 3}, DType::Float64, 71);
  const Tensor G = make_input({2, 4, 5}, DType::Float64, 72);
  auto f1 = [](const Tensor& a, const Tensor& b, const Tensor&) { return conv1d(a, b, {}, 2, 1, 1); };
  auto f2 = [](const Tensor& a, const Tensor& b, const Tensor&) {
    return squeeze(conv2d(unsqueeze(a, 2), unsqueeze(b, 2), {}, {1, 2}, {0, 1}), 2);
  };
  const auto g1 = grads_of(f1, x, w, {}, G, DType::Float64), g2 = grads_of(f2, x, w, {}, G, DType::Float64);
  DOPPEL_REQUIRE_CLOSE(g1[0], g2[0], (Tolerance{1e-12, 1e-12}));
  DOPPEL_REQUIRE_CLOSE(g1[1], g2[1], (Tolerance{1e-12, 1e-12}));
  // A conv -> relu -> conv chain: second derivatives flow through convolution_backward's rule.
  auto net = [](const std::vector<Tensor>& in) {
    const Tensor h = relu(conv2d(in[0], in[1], in[2], {1, 1}, {1, 1}));
    return std::vector<Tensor>{conv2d(h, in[3], {}, {2, 2})};
  };
  std::vector<Tensor> in = {grad_input(make_input({1, 2, 5, 5}, DType::Float64, 73)),
                            grad_input(make_input({3, 2, 3, 3}, DType::Float64, 74)),
                            grad_input(make_input({3}, DType::Float64, 75)),
                            grad_input(make_input({2, 3, 2, 2}, DType::Float64, 76))};
  auto r = gradgradcheck(net, in);
  INFO(r.value_or(""));
  CHECK(!r);
}

TEST_CASE("conv grad: float32 backward ops run on oneDNN", "[grad_linalg]") {
  const Tensor x = make_input({4, 8, 10, 10}, DType::Float32, 80), w = make_input({16, 8, 3, 3}, DType::Float32, 81);
  const Tensor go = make_input({4, 16, 10, 10}, DType::Float32, 82);
  for (bool transposed : {false, true}) {
    const Tensor wt = transposed ? make_input({8, 16, 3, 3}, DType::Float32, 83) : w;
    const Tensor got = transposed ? make_input({4, 16, 10, 10}, DType::Float32, 84) : go;
    const Attrs a = ConvolutionBackwardAttrs{
        .stride = {1, 1},
        .padding = {1, 1},
        .dilation = {1, 1},
        .groups = 1,
        .transposed = transposed,
        .output_padding = {0, 0},
        .output_mask = {
            1, 1, 1}}.pack();
    const OpOutputs fast = dispatch(OpId::convolution_backward, {got, x, wt}, a);
    CHECK(last_selected_backend() == Backend::OneDNN);
    OpOutputs ref;
    {
      ForceBackendGuard g(Backend::Reference);
      ref = dispatch(OpId::convolution_backward, {got, x, wt}, a);
    }
    for (int k = 0; k < 3; ++k) DOPPEL_REQUIRE_CLOSE(fast[k], ref[k], (Tolerance{1e-4, 1e-4}));
  }
  const Tensor p = make_input({4, 8, 12, 12}, DType::Float32, 85);
  // 3x3 windows: the 2x2 float32 case is the reference kernel's streaming loop (max_pool_2x2.h).
  const Attrs max_a =
      MaxPoolAttrs{.kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .dilation = {1, 1}, .ceil_mode = false}
          .pack();
  dispatch(OpId::max_pool2d_backward, {make_input({4, 8, 6, 6}, DType::Float32, 86), p}, max_a);
  CHECK(last_selected_backend() == Backend::OneDNN);
  const Attrs avg_a = AvgPoolAttrs{.kernel_size = {2, 2},
                                   .stride = {},
                                   .padding = {0, 0},
                                   .ceil_mode = false,
                                   .count_include_pad = true,
                                   .divisor_override = std::nullopt}
                          .pack();
  dispatch(OpId::avg_pool2d_backward, {make_input({4, 8, 6, 6}, DType::Float32, 87), p}, avg_a);
  CHECK(last_selected_backend() == Backend::OneDNN);
  dispatch(OpId::adaptive_avg_pool2d_backward, {make_input({4, 8, 3, 3}, DType::Float32, 88), p},
           AdaptivePoolAttrs{.output_size = {3, 3}}.pack());
  CHECK(last_selected_backend() == Backend::OneDNN);
}

TEST_CASE("pool grad: max_pool2d gives a tie's gradient to the first maximum", "[grad_linalg]") {
  for (DType dt : {DType::Float64, DType::Float32}) {
    INFO(dtype_name(dt));
    // Constant input, overlapping 3x3 windows with stride 1: each window's first element wins.
    Tensor x = ones({1, 1, 4, 4}, {dt}).set_requires_grad(true);
    sum(max_pool2d(x, {3, 3}, {1, 1})).backward();
    CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    // Two equal maxima in one window: the first in row-major order gets it.
    Tensor y = tensor(std::vector<double>{1, 3, 3, 2}).to(dt).reshape({1, 1, 2, 2}).set_requires_grad(true);
    (max_pool2d(y, {2, 2}) * 5.0).sum().backward();
    CHECK(y.grad().to_vector<double>() == std::vector<double>{0, 5, 0, 0});
    // With padding, each window picks its first element inside the input (padding never wins).
    Tensor z = tensor(std::vector<double>{-1, -1, -1, -1}).to(dt).reshape({1, 1, 2, 2}).set_requires_grad(true);
    sum(max_pool2d(z, {2, 2}, {1, 1}, {1, 1})).backward();
    // Windows (3x3 of them) each pick their first valid element.
    CHECK(z.grad().to_vector<double>() == std::vector<double>{4, 2, 2, 1});
  }
}

TEST_CASE("pool grad: ceil_mode windows match PyTorch's clipped windows", "[grad_linalg]") {
  const Tensor x0 = make_input({1, 2, 5, 7}, DType::Float64, 90);
  const std::vector<double> xv = x0.to_vector<double>();
  const int64_t H = 5, W = 7, k = 3, s = 2, p = 1;
  const int64_t OH = 3, OW = 4;  // ceil((5 + 2 - 3) / 2) + 1 = 3, ceil((7 + 2 - 3) / 2) + 1 = 4
  const Tensor G = make_input({1, 2, OH, OW}, DType::Float64, 91);
  const std::vector<double> gv = G.to_vector<double>();
  for (DType dt : {DType::Float64, DType::Float32}) {
    const Tolerance tol = dt == DType::Float64 ? Tolerance{1e-12, 1e-12} : Tolerance{1e-5, 1e-5};
    for (int mode = 0; mode < 3; ++mode) {  // 0 max, 1 avg counting padding, 2 avg over valid elements
      INFO(dtype_name(dt) << " mode " << mode);
      std::vector<double> e(xv.size());
      for (int64_t c = 0; c < 2; ++c)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            const double g = gv[size_t((c * OH + oh) * OW + ow)];
            const int64_t h0 = oh * s - p, w0 = ow * s - p;
            // PyTorch: the window is first clipped to the padded input (that count is the divisor
            // with count_include_pad), then to the input.
            const int64_t h1 = std::min(h0 + k, H + p), w1 = std::min(w0 + k, W + p);
            const int64_t padded = (h1 - h0) * (w1 - w0);
            const int64_t hs = std::max<int64_t>(h0, 0), ws = std::max<int64_t>(w0, 0);
            const int64_t he = std::min(h1, H), we = std::min(w1, W);
            if (mode == 0) {
              size_t best = 0;
              double bv = -std::numeric_limits<double>::infinity();
              for (int64_t ih = hs; ih < he; ++ih)
                for (int64_t iw = ws; iw < we; ++iw)
                  if (xv[size_t((c * H + ih) * W + iw)] > bv) {
                    bv = xv[size_t((c * H + ih) * W + iw)];
                    best = size_t((c * H + ih) * W + iw);
                  }
              e[best] += g;
            } else {
              const double div = mode == 1 ? double(padded) : double((he - hs) * (we - ws));
              for (int64_t ih = hs; ih < he; ++ih)
                for (int64_t iw = ws; iw < we; ++iw) e[size_t((c * H + ih) * W + iw)] += g / div;
            }
          }
      Tensor x = to_dtype(x0, dt).clone();
      x.set_requires_grad(true);
      const Tensor y = mode == 0 ? max_pool2d(x, {k, k}, {s, s}, {p, p}, {1, 1}, true)
                                 : avg_pool2d(x, {k, k}, {s, s}, {p, p}, true, mode == 1);
      REQUIRE(y.shape() == Shape{1, 2, OH, OW});
      sum(y * G.to(dt)).backward();
      DOPPEL_REQUIRE_CLOSE(x.grad(), vec(e, {1, 2, H, W}).to(dt), tol);
    }
  }
}

TEST_CASE("pool grad: adaptive_avg_pool2d and max_pool2d double backward", "[grad_linalg]") {
  // Non-divisible adaptive windows overlap: gradcheck and gradgradcheck of a pool chain.
  auto f = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{adaptive_avg_pool2d(max_pool2d(in[0] * in[0], {2, 2}, {1, 1}), {3, 2})};
  };
  std::vector<Tensor> in = {grad_input(make_input({1, 2, 6, 5}, DType::Float64, 95))};
  auto r = gradcheck(f, in);
  INFO(r.value_or(""));
  CHECK(!r);
  auto rr = gradgradcheck(f, in);
  INFO(rr.value_or(""));
  CHECK(!rr);
}

}  // namespace doppel::testing
