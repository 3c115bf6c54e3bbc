// nn layers' forward against independent computations: double loops written here or hand
// numbers (never the op the layer calls).
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <cmath>

#include "doppel/nn/nn.h"
#include "support/test_util.h"

namespace doppel::testing {

using Catch::Matchers::WithinAbs;

namespace {

Tensor from(const std::vector<double>& v, IntList shape) { return tensor(v, shape); }

// Naive [N, Cin, H, W] x [Cout, Cin/g, kh, kw] convolution with stride/padding/dilation/groups.
std::vector<double> naive_conv2d(const std::vector<double>& x, const std::vector<double>& w,
                                 const std::vector<double>& b, int64_t n, int64_t cin, int64_t h, int64_t wd,
                                 int64_t cout, int64_t kh, int64_t kw, int64_t s, int64_t p, int64_t d, int64_t g,
                                 int64_t& oh, int64_t& ow) {
  oh = (h + 2 * p - d * (kh - 1) - 1) / s + 1;
  ow = (wd + 2 * p - d * (kw - 1) - 1) / s + 1;
  const int64_t cpg = cin / g, opg = cout / g;
  std::vector<double> y(size_t(n * cout * oh * ow));
  for (int64_t in = 0; in < n; ++in)
    for (int64_t co = 0; co < cout; ++co)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = b.empty() ? 0.0 : b[size_t(co)];
          const int64_t grp = co / opg;
          for (int64_t ci = 0; ci < cpg; ++ci)
            for (int64_t a = 0; a < kh; ++a)
              for (int64_t c = 0; c < kw; ++c) {
                const int64_t yy = i * s - p + a * d, xx = j * s - p + c * d;
                if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                acc += x[size_t(((in * cin + grp * cpg + ci) * h + yy) * wd + xx)] *
                       w[size_t(((co * cpg + ci) * kh + a) * kw + c)];
              }
          y[size_t(((in * cout + co) * oh + i) * ow + j)] = acc;
        }
  return y;
}

}  // namespace

TEST_CASE("nn::Linear matches a double loop", "[nn_module]") {
  nn::Linear fc(5, 3, true, DType::Float64);
  Tensor x = make_input({2, 4, 5}, DType::Float64, 7);
  Tensor y = fc(x);
  REQUIRE(y.shape() == Shape{2, 4, 3});
  const auto xv = x.to_vector<double>(), wv = fc.weight.to_vector<double>(), bv = fc.bias.to_vector<double>();
  std::vector<double> ref(24);
  for (int r = 0; r < 8; ++r)
    for (int o = 0; o < 3; ++o) {
      double acc = bv[size_t(o)];
      for (int i = 0; i < 5; ++i) acc += xv[size_t(r * 5 + i)] * wv[size_t(o * 5 + i)];
      ref[size_t(r * 3 + o)] = acc;
    }
  DOPPEL_REQUIRE_CLOSE(y, from(ref, {2, 4, 3}), (Tolerance{1e-12, 1e-12}));
  nn::Linear nobias(5, 3, false);
  CHECK(nobias.parameters().size() == 1);
  CHECK(nobias.str() == "Linear(in_features=5, out_features=3, bias=false)");
  CHECK_THROWS_AS(fc(make_input({2, 4}, DType::Float64, 1)), ShapeError);
}

TEST_CASE("nn::Conv1d and Conv2d on hand cases and a naive loop", "[nn_module]") {
  // Conv1d: a difference filter over 1..5 with padding 1 and bias 0.5.
  nn::Conv1d c1(nn::Conv1dOptions{.in = 1, .out = 1, .kernel = 3, .padding = 1, .dtype = DType::Float64});
  {
    NoGradGuard ng;
    copy_(c1.weight, from({1, 0, -1}, {1, 1, 3}));
    copy_(c1.bias, from({0.5}, {1}));
  }
  Tensor y1 = c1(from({1, 2, 3, 4, 5}, {1, 1, 5}));
  CHECK(y1.to_vector<double>() == std::vector<double>{-1.5, -1.5, -1.5, -1.5, 4.5});

  // Conv2d: a 3x3 ones kernel (box sum) over a 3x3 ramp, stride 2, padding 1.
  nn::Conv2d box(nn::Conv2dOptions{
      .in = 1, .out = 1, .kernel = 3, .stride = 2, .padding = 1, .bias = false, .dtype = DType::Float64});
  {
    NoGradGuard ng;
    copy_(box.weight, ones({1, 1, 3, 3}, {.dtype = DType::Float64}));
  }
  Tensor y2 = box(from({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3}));
  // Windows centred on (0,0), (0,2), (2,0), (2,2).
  CHECK(y2.to_vector<double>() == std::vector<double>{12, 16, 24, 28});

  // A grouped, dilated conv against the naive loop.
  nn::Conv2d conv(nn::Conv2dOptions{.in = 4,
                                    .out = 6,
                                    .kernel = {3, 2},
                                    .stride = 1,
                                    .padding = 2,
                                    .dilation = 2,
                                    .groups = 2,
                                    .dtype = DType::Float64});
  Tensor x = make_input({2, 4, 5, 6}, DType::Float64, 9);
  int64_t oh = 0, ow = 0;
  // kernel {3, 2} is non-square, so run the loop with kh=3, kw=2.
  const auto ref = naive_conv2d(x.to_vector<double>(), conv.weight.to_vector<double>(), conv.bias.to_vector<double>(),
                                2, 4, 5, 6, 6, 3, 2, 1, 2, 2, 2, oh, ow);
  DOPPEL_REQUIRE_CLOSE(conv(x), from(ref, {2, 6, oh, ow}), (Tolerance{1e-12, 1e-12}));
}

TEST_CASE("nn::ConvTranspose2d matches a scatter loop", "[nn_module]") {
  nn::ConvTranspose2d ct(nn::ConvTranspose2dOptions{
      .in = 2, .out = 3, .kernel = 3, .stride = 2, .padding = 1, .output_padding = 1, .dtype = DType::Float64});
  Tensor x = make_input({1, 2, 3, 3}, DType::Float64, 4);
  Tensor y = ct(x);
  // Hout = (H - 1) * stride - 2 * padding + kernel + output_padding = 4 - 2 + 3 + 1 = 6.
  REQUIRE(y.shape() == Shape{1, 3, 6, 6});
  const auto xv = x.to_vector<double>(), wv = ct.weight.to_vector<double>(), bv = ct.bias.to_vector<double>();
  std::vector<double> ref(108);
  for (int co = 0; co < 3; ++co)
    for (int k = 0; k < 36; ++k) ref[size_t(co * 36 + k)] = bv[size_t(co)];
  for (int ci = 0; ci < 2; ++ci)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j)
        for (int co = 0; co < 3; ++co)
          for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b) {
              const int oy = i * 2 - 1 + a, ox = j * 2 - 1 + b;
              if (oy < 0 || oy >= 6 || ox < 0 || ox >= 6) continue;
              ref[size_t((co * 6 + oy) * 6 + ox)] +=
                  xv[size_t((ci * 3 + i) * 3 + j)] * wv[size_t(((ci * 3 + co) * 3 + a) * 3 + b)];
            }
  DOPPEL_REQUIRE_CLOSE(y, from(ref, {1, 3, 6, 6}), (Tolerance{1e-12, 1e-12}));
}

TEST_CASE("nn::BatchNorm normalizes with batch statistics and tracks running ones", "[nn_module]") {
  nn::BatchNorm2d bn(2, 1e-5, 0.1, true, true, DType::Float64);
  {
    NoGradGuard ng;
    copy_(bn.weight, from({2.0, 0.5}, {2}));
    copy_(bn.bias, from({1.0, -1.0}, {2}));
  }
  Tensor x = make_input({3, 2, 2, 2}, DType::Float64, 12);
  const auto xv = x.to_vector<double>();
  std::vector<double> bmean(2), bvar(2), ref(xv.size());
  for (int c = 0; c < 2; ++c) {
    std::vector<double> vals;
    for (int n = 0; n < 3; ++n)
      for (int k = 0; k < 4; ++k) vals.push_back(xv[size_t((n * 2 + c) * 4 + k)]);
    for (double v : vals) bmean[size_t(c)] += v / 12;
    for (double v : vals) bvar[size_t(c)] += (v - bmean[size_t(c)]) * (v - bmean[size_t(c)]) / 12;  // biased
    const double g = c == 0 ? 2.0 : 0.5, b = c == 0 ? 1.0 : -1.0;
    for (int n = 0; n < 3; ++n)
      for (int k = 0; k < 4; ++k) {
        const size_t i = size_t((n * 2 + c) * 4 + k);
        ref[i] = (xv[i] - bmean[size_t(c)]) / std::sqrt(bvar[size_t(c)] + 1e-5) * g + b;
      }
  }
  DOPPEL_REQUIRE_CLOSE(bn(x), from(ref, {3, 2, 2, 2}), (Tolerance{1e-10, 1e-10}));
  CHECK(bn.num_batches_tracked.item<int64_t>() == 1);
  const auto rm = bn.running_mean.to_vector<double>(), rv = bn.running_var.to_vector<double>();
  for (int c = 0; c < 2; ++c) {
    CHECK_THAT(rm[size_t(c)], WithinAbs(0.1 * bmean[size_t(c)], 1e-12));
    CHECK_THAT(rv[size_t(c)], WithinAbs(0.9 + 0.1 * bvar[size_t(c)] * 12.0 / 11.0, 1e-12));  // unbiased
  }
  // Eval uses the running statistics and leaves them alone.
  bn.eval();
  Tensor ye = bn(x);
  const auto yev = ye.to_vector<double>();
  CHECK_THAT(yev[0], WithinAbs((xv[0] - rm[0]) / std::sqrt(rv[0] + 1e-5) * 2.0 + 1.0, 1e-12));
  CHECK(bn.num_batches_tracked.item<int64_t>() == 1);
  CHECK(bn.running_mean.to_vector<double>() == rm);

  // momentum = nullopt: cumulative average of the batch means.
  nn::BatchNorm1d cum(3, 1e-5, std::nullopt, false, true, DType::Float64);
  CHECK(cum.parameters().empty());
  Tensor a = make_input({4, 3}, DType::Float64, 1), b = make_input({4, 3, 5}, DType::Float64, 2);
  cum(a);
  cum(b);
  CHECK(cum.num_batches_tracked.item<int64_t>() == 2);
  const Tensor expect = (mean(a, {0}) + mean(b, {0, 2})) * 0.5;
  DOPPEL_REQUIRE_CLOSE(cum.running_mean, expect, (Tolerance{1e-12, 1e-12}));
  CHECK_THROWS_AS(cum(make_input({4, 3, 2, 2}, DType::Float64, 3)), ShapeError);
  CHECK_THROWS_AS(cum(make_input({4, 2}, DType::Float64, 3)), ShapeError);

  // Without running statistics, eval still normalizes with the batch's.
  nn::BatchNorm1d none(3, 1e-5, 0.1, false, false, DType::Float64);
  CHECK(none.state_dict().empty());
  none.eval();
  Tensor yn = none(a);
  DOPPEL_REQUIRE_CLOSE(mean(yn, {0}), zeros({3}, {.dtype = DType::Float64}), (Tolerance{0, 1e-12}));
}

TEST_CASE("nn::LayerNorm and GroupNorm match double loops", "[nn_module]") {
  nn::LayerNorm ln(std::vector<int64_t>{2, 3}, 1e-5, true, true, DType::Float64);
  nn::GroupNorm gn(2, 4, 1e-5, true, DType::Float64);
  {
    NoGradGuard ng;
    copy_(ln.weight, make_input({2, 3}, DType::Float64, 1));
    copy_(ln.bias, make_input({2, 3}, DType::Float64, 2));
    copy_(gn.weight, make_input({4}, DType::Float64, 3));
    copy_(gn.bias, make_input({4}, DType::Float64, 4));
  }
  const auto normalize = [](const std::vector<double>& v, size_t begin, size_t count, double eps) {
    double m = 0, var = 0;
    for (size_t i = 0; i < count; ++i) m += v[begin + i] / double(count);
    for (size_t i = 0; i < count; ++i) var += (v[begin + i] - m) * (v[begin + i] - m) / double(count);
    std::vector<double> out(count);
    for (size_t i = 0; i < count; ++i) out[i] = (v[begin + i] - m) / std::sqrt(var + eps);
    return out;
  };
  Tensor x = make_input({4, 2, 3}, DType::Float64, 5);
  const auto xv = x.to_vector<double>(), w = ln.weight.to_vector<double>(), b = ln.bias.to_vector<double>();
  std::vector<double> ref;
  for (size_t r = 0; r < 4; ++r) {
    const auto z = normalize(xv, r * 6, 6, 1e-5);
    for (size_t i = 0; i < 6; ++i) ref.push_back(z[i] * w[i] + b[i]);
  }
  DOPPEL_REQUIRE_CLOSE(ln(x), from(ref, {4, 2, 3}), (Tolerance{1e-10, 1e-10}));

  Tensor g = make_input({2, 4, 3}, DType::Float64, 6);
  const auto gv = g.to_vector<double>(), gw = gn.weight.to_vector<double>(), gb = gn.bias.to_vector<double>();
  std::vector<double> gref;
  for (size_t n = 0; n < 2; ++n)
    for (size_t grp = 0; grp < 2; ++grp) {
      const auto z = normalize(gv, (n * 2 + grp) * 6, 6, 1e-5);  // a group = 2 channels x 3
      for (size_t i = 0; i < 6; ++i) {
        const size_t c = grp * 2 + i / 3;
        gref.push_back(z[i] * gw[c] + gb[c]);
      }
    }
  DOPPEL_REQUIRE_CLOSE(gn(g), from(gref, {2, 4, 3}), (Tolerance{1e-10, 1e-10}));
  CHECK_THROWS_AS(nn::GroupNorm(3, 4), ValueError);
}

TEST_CASE("nn::InstanceNorm1d/2d match double loops and track running statistics as PyTorch", "[nn_module]") {
  const double eps = 1e-5;
  const Tolerance tol{1e-10, 1e-10};
  nn::InstanceNorm2d in2(3, eps, 0.1, /*affine=*/true, /*track_running_stats=*/true, DType::Float64);
  {
    NoGradGuard ng;
    copy_(in2.weight, make_input({3}, DType::Float64, 1));
    copy_(in2.bias, make_input({3}, DType::Float64, 2));
  }
  const Tensor x = make_input({2, 3, 2, 4}, DType::Float64, 3);
  const auto xv = x.to_vector<double>(), w = in2.weight.to_vector<double>(), b = in2.bias.to_vector<double>();
  // Per (sample, channel) over its 8 spatial values; the running statistics average the
  // instances' means and unbiased variances over the batch: r = 0.9 r + 0.1 batch_average.
  std::vector<double> ref, mean_avg(3, 0.0), var_avg(3, 0.0);
  for (size_t n = 0; n < 2; ++n)
    for (size_t c = 0; c < 3; ++c) {
      const size_t begin = (n * 3 + c) * 8;
      double m = 0, var = 0;
      for (size_t i = 0; i < 8; ++i) m += xv[begin + i] / 8;
      for (size_t i = 0; i < 8; ++i) var += (xv[begin + i] - m) * (xv[begin + i] - m) / 8;
      for (size_t i = 0; i < 8; ++i) ref.push_back((xv[begin + i] - m) / std::sqrt(var + eps) * w[c] + b[c]);
      mean_avg[c] += m / 2;
      var_avg[c] += var * 8 / 7 / 2;
    }
  DOPPEL_REQUIRE_CLOSE(in2(x), from(ref, {2, 3, 2, 4}), tol);
  std::vector<double> rm, rv;
  for (size_t c = 0; c < 3; ++c) {
    rm.push_back(0.1 * mean_avg[c]);
    rv.push_back(0.9 + 0.1 * var_avg[c]);
  }
  DOPPEL_REQUIRE_CLOSE(in2.running_mean, from(rm, {3}), tol);
  DOPPEL_REQUIRE_CLOSE(in2.running_var, from(rv, {3}), tol);
  // eval: the running statistics normalize; an unbatched [C, H, W] input is one sample.
  in2.eval();
  std::vector<double> eval_ref;
  for (size_t i = 0; i < 24; ++i) {
    const size_t c = i / 8;
    eval_ref.push_back((xv[i] - rm[c]) / std::sqrt(rv[c] + eps) * w[c] + b[c]);
  }
  DOPPEL_REQUIRE_CLOSE(in2(select(x, 0, 0)), from(eval_ref, {3, 2, 4}), tol);

  // 1-d without affine or running statistics: every row of an unbatched [C, L] input.
  nn::InstanceNorm1d in1(2, eps, 0.1, false, false, DType::Float64);
  CHECK(!in1.weight.defined());
  CHECK(!in1.running_mean.defined());
  const Tensor u = make_input({2, 5}, DType::Float64, 4);
  const auto uv = u.to_vector<double>();
  std::vector<double> uref;
  for (size_t c = 0; c < 2; ++c) {
    double m = 0, var = 0;
    for (size_t i = 0; i < 5; ++i) m += uv[c * 5 + i] / 5;
    for (size_t i = 0; i < 5; ++i) var += (uv[c * 5 + i] - m) * (uv[c * 5 + i] - m) / 5;
    for (size_t i = 0; i < 5; ++i) uref.push_back((uv[c * 5 + i] - m) / std::sqrt(var + eps));
  }
  DOPPEL_REQUIRE_CLOSE(in1(u), from(uref, {2, 5}), tol);
  CHECK_THROWS_AS(in1(make_input({2}, DType::Float64, 5)), ShapeError);
  CHECK_THROWS_AS(in2(make_input({1, 2, 2, 2}, DType::Float64, 6)), ShapeError);  // 2 channels, affine wants 3
  CHECK_THROWS_AS(nn::InstanceNorm1d(0), ValueError);
}

TEST_CASE("nn padding modules pad the last dims as PyTorch's (hand values)", "[nn_module]") {
  const Tolerance exact{0, 0};
  const Tensor row = from({1, 2, 3}, {1, 1, 3});
  DOPPEL_REQUIRE_CLOSE(nn::ConstantPad1d(2, 3.5)(row), from({3.5, 3.5, 1, 2, 3, 3.5, 3.5}, {1, 1, 7}), exact);
  DOPPEL_REQUIRE_CLOSE(nn::ReflectionPad1d({2, 1})(from({1, 2, 3, 4}, {1, 4})), from({3, 2, 1, 2, 3, 4, 3}, {1, 7}),
                       exact);
  DOPPEL_REQUIRE_CLOSE(nn::ReplicationPad1d({1, 2})(row), from({1, 1, 2, 3, 3, 3}, {1, 1, 6}), exact);
  DOPPEL_REQUIRE_CLOSE(nn::CircularPad1d(1)(row), from({3, 1, 2, 3, 1}, {1, 1, 5}), exact);
  // {left, right, top, bottom}
  DOPPEL_REQUIRE_CLOSE(nn::ZeroPad2d({1, 0, 0, 1})(from({1, 2, 3, 4}, {1, 1, 2, 2})),
                       from({0, 1, 2, 0, 3, 4, 0, 0, 0}, {1, 1, 3, 3}), exact);
  DOPPEL_REQUIRE_CLOSE(nn::ReflectionPad2d(1)(from({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 3, 3})),
                       from({5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5, 8, 7, 8, 9, 8, 5, 4, 5, 6, 5}, {1, 5, 5}),
                       exact);
  DOPPEL_REQUIRE_CLOSE(nn::ReplicationPad3d(1)(from({7}, {1, 1, 1, 1, 1})),
                       full({1, 1, 3, 3, 3}, 7.0, {.dtype = DType::Float64}), exact);
  CHECK(nn::ConstantPad3d({1, 0, 0, 2, 3, 0}, -1.0)(zeros({1, 2, 2, 2})).shape() == Shape{1, 5, 4, 3});
  CHECK(nn::ConstantPad2d(1, 0.5).padding == std::vector<int64_t>{1, 1, 1, 1});
  CHECK_THROWS_AS(nn::ReflectionPad1d({1, 2, 3}), ValueError);
}

TEST_CASE("nn::Dropout: identity in eval, scaled mask in training, reproducible by seed", "[nn_module]") {
  nn::Dropout drop(0.25);
  Tensor x = ones({4000});
  drop.eval();
  CHECK(drop(x).is_same(x));
  drop.train();
  manual_seed(9);
  const auto a = drop(x).to_vector<float>();
  manual_seed(9);
  const auto b = drop(x).to_vector<float>();
  CHECK(a == b);
  int zeros_seen = 0;
  for (float v : a) {
    if (v == 0.0f)
      ++zeros_seen;
    else
      CHECK_THAT(v, WithinAbs(1.0 / 0.75, 1e-6));
  }
  CHECK(zeros_seen > 850);
  CHECK(zeros_seen < 1150);
  CHECK(drop(x).to_vector<float>() != a);  // the generator advanced
  CHECK_THROWS_AS(nn::Dropout(1.5), ValueError);
}

TEST_CASE("nn::Embedding looks up rows and skips the padding row's gradient", "[nn_module]") {
  nn::Embedding emb(5, 3, 0, DType::Float64);
  Tensor idx = tensor(std::vector<int64_t>{4, 0, 4, 2}, {2, 2});
  Tensor y = emb(idx);
  REQUIRE(y.shape() == Shape{2, 2, 3});
  const auto w = emb.weight.to_vector<double>(), yv = y.to_vector<double>();
  const int64_t rows[] = {4, 0, 4, 2};
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 3; ++c) CHECK(yv[size_t(r * 3 + c)] == w[size_t(rows[r] * 3 + c)]);
  sum(y).backward();
  const auto g = emb.weight.grad().to_vector<double>();
  for (int c = 0; c < 3; ++c) {
    CHECK(g[size_t(0 * 3 + c)] == 0.0);  // padding_idx
    CHECK(g[size_t(4 * 3 + c)] == 2.0);
    CHECK(g[size_t(2 * 3 + c)] == 1.0);
    CHECK(g[size_t(1 * 3 + c)] == 0.0);
  }
  CHECK_THROWS_AS(nn::Embedding(5, 3, 5), IndexError);
}

TEST_CASE("nn pooling layers and Flatten on a hand case", "[nn_module]") {
  std::vector<double> v(16);
  for (int i = 0; i < 16; ++i) v[size_t(i)] = double((i * 7) % 16);  // 0 7 14 5 / 12 3 10 1 / 8 15 6 13 / 4 11 2 9
  Tensor x = from(v, {1, 1, 4, 4});
  CHECK(nn::MaxPool2d(2)(x).to_vector<double>() == std::vector<double>{12, 14, 15, 13});
  CHECK(nn::AvgPool2d(2)(x).to_vector<double>() == std::vector<double>{5.5, 7.5, 9.5, 7.5});
  // Stride 1, padding 1, 3x3 max at the top-left corner sees rows 0-1, cols 0-1.
  Tensor m = nn::MaxPool2d(3, 1, 1)(x);
  REQUIRE(m.shape() == Shape{1, 1, 4, 4});
  CHECK(m.to_vector<double>()[0] == 12);
  // count_include_pad=false averages only real elements.
  CHECK(nn::AvgPool2d(2, 2, 1, false, false)(x).to_vector<double>()[0] == 0.0);
  CHECK_THAT(nn::AvgPool2d(2, 2, 1, false, true)(x).to_vector<double>()[1], WithinAbs((7 + 14) / 4.0, 1e-12));
  CHECK(nn::AdaptiveAvgPool2d(1)(x).to_vector<double>() == std::vector<double>{7.5});
  CHECK(nn::AdaptiveAvgPool2d({2, 1})(x).to_vector<double>() == std::vector<double>{6.5, 8.5});
  CHECK(nn::Flatten()(x).shape() == Shape{1, 16});
  CHECK(nn::Flatten(0, 2)(x).shape() == Shape{4, 4});
}

TEST_CASE("nn activation modules match std:: math", "[nn_module]") {
  const std::vector<double> v = {-2.5, -0.7, 0.3, 1.9};
  Tensor x = from(v, {4});
  const auto each = [&](nn::Module&& m, auto f) {
    const auto y = m(x).to_vector<double>();
    for (size_t i = 0; i < v.size(); ++i) CHECK_THAT(y[i], WithinAbs(f(v[i]), 1e-12));
  };
  each(nn::ReLU(), [](double a) { return a > 0 ? a : 0.0; });
  each(nn::Sigmoid(), [](double a) { return 1 / (1 + std::exp(-a)); });
  each(nn::Tanh(), [](double a) { return std::tanh(a); });
  each(nn::SiLU(), [](double a) { return a / (1 + std::exp(-a)); });
  each(nn::LeakyReLU(0.1), [](double a) { return a > 0 ? a : 0.1 * a; });
  each(nn::ELU(0.5), [](double a) { return a > 0 ? a : 0.5 * (std::exp(a) - 1); });
  each(nn::GELU(), [](double a) { return 0.5 * a * (1 + std::erf(a / std::sqrt(2.0))); });
  each(nn::GELU("tanh"),
       [](double a) { return 0.5 * a * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (a + 0.044715 * a * a * a))); });
  each(nn::Softplus(2.0), [](double a) { return std::log1p(std::exp(2 * a)) / 2; });
  each(nn::Identity(), [](double a) { return a; });
  double z = 0;
  for (double a : v) z += std::exp(a);
  each(nn::Softmax(0), [&](double a) { return std::exp(a) / z; });
  each(nn::LogSoftmax(-1), [&](double a) { return a - std::log(z); });
  CHECK_THROWS_AS(nn::GELU("fast"), ValueError);
}

TEST_CASE("nn losses as modules match hand values", "[nn_module]") {
  Tensor a = from({1.0, -2.0, 3.0, 0.5}, {2, 2}), b = from({0.5, 0.0, 1.0, 2.0}, {2, 2});
  CHECK_THAT(nn::MSELoss()(a, b).item<double>(), WithinAbs((0.25 + 4 + 4 + 2.25) / 4, 1e-12));
  CHECK_THAT(nn::MSELoss(Reduction::Sum)(a, b).item<double>(), WithinAbs(10.5, 1e-12));
  CHECK(nn::L1Loss(Reduction::None)(a, b).to_vector<double>() == std::vector<double>{0.5, 2, 2, 1.5});
  // SmoothL1 with beta 1: 0.5 d^2 / beta below beta, |d| - 0.5 beta above.
  CHECK_THAT(nn::SmoothL1Loss()(a, b).item<double>(), WithinAbs((0.125 + 1.5 + 1.5 + 1.0) / 4, 1e-12));

  Tensor logits = from({1.0, 2.0, 0.5, -1.0, 0.0, 3.0}, {2, 3});
  Tensor target = tensor(std::vector<int64_t>{1, 2});
  const double l0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(0.5)) - 2.0;
  const double l1 = std::log(std::exp(-1.0) + std::exp(0.0) + std::exp(3.0)) - 3.0;
  CHECK_THAT(nn::CrossEntropyLoss()(logits, target).item<double>(), WithinAbs((l0 + l1) / 2, 1e-12));
  CHECK_THAT(nn::CrossEntropyLoss(Reduction::Mean, 2)(logits, target).item<double>(), WithinAbs(l0, 1e-12));
  CHECK_THAT(nn::NLLLoss(Reduction::Sum)(logits, target).item<double>(), WithinAbs(-2.0 - 3.0, 1e-12));

  Tensor z = from({0.5, -1.0}, {2}), t = from({1.0, 0.0}, {2});
  const auto sp = [](double u) { return std::log1p(std::exp(u)); };  // -log(sigmoid(-u))
  CHECK_THAT(nn::BCEWithLogitsLoss()(z, t).item<double>(), WithinAbs((sp(-0.5) + sp(-1.0)) / 2, 1e-12));
  nn::BCEWithLogitsLoss weighted(Reduction::Sum, from({3.0}, {1}));
  CHECK(weighted.state_dict().size() == 1);
  CHECK_THAT(weighted(z, t).item<double>(), WithinAbs(3 * sp(-0.5) + sp(-1.0), 1e-12));
  CHECK(nn::MSELoss(Reduction::None).str() == "MSELoss(reduction='none')");
}

}  // namespace doppel::testing
