// Specs and value tests of max_pool2d, avg_pool2d and adaptive_avg_pool2d.
#include <cmath>
#include <limits>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kFloat = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};

// Averages of up to ~16 O(1) values rounded once; max is exact.
Tolerance pool_tolerance(DType dt) {
  switch (dt) {
    case DType::Float64:
      return {1e-12, 1e-12};
    case DType::Float32:
      return {1e-5, 1e-5};
    case DType::BFloat16:
      return {1.6e-2, 1e-2};
    case DType::Float16:
      return {2e-3, 2e-3};
    default:
      return {0, 0};
  }
}

Tensor in(IntList shape, DType dt, uint64_t seed) { return make_input(shape, dt, seed); }
Tensor f32(IntList shape, uint64_t seed) { return make_input(shape, DType::Float32, seed); }

Attrs max_attrs(IntList k, IntList s, IntList p, IntList d, bool ceil) {
  return MaxPoolAttrs{.kernel_size = k, .stride = s, .padding = p, .dilation = d, .ceil_mode = ceil}.pack();
}
Attrs avg_attrs(IntList k, IntList s, IntList p, bool ceil, bool include, std::optional<int64_t> div = {}) {
  return AvgPoolAttrs{.kernel_size = k,
                      .stride = s,
                      .padding = p,
                      .ceil_mode = ceil,
                      .count_include_pad = include,
                      .divisor_override = div}
      .pack();
}

std::vector<Sample> max_samples(DType dt) {
  return {{"2x2", {in({2, 3, 8, 8}, dt, 1)}, max_attrs({2, 2}, {}, {0, 0}, {1, 1}, false)},
          {"3-d input padded", {in({3, 7, 9}, dt, 2)}, max_attrs({3, 3}, {2, 2}, {1, 1}, {1, 1}, false)},
          {"floor leftover", {in({1, 2, 8, 8}, dt, 3)}, max_attrs({3}, {2}, {0}, {1}, false)},
          {"ceil", {in({1, 2, 8, 8}, dt, 4)}, max_attrs({3}, {2}, {0}, {1}, true)},
          {"ceil pad dilation", {in({2, 2, 10, 9}, dt, 5)}, max_attrs({3, 2}, {2, 3}, {1, 1}, {2, 1}, true)},
          {"asymmetric", {in({1, 3, 6, 11}, dt, 6)}, max_attrs({2, 3}, {1, 2}, {1, 0}, {1, 1}, false)},
          {"empty batch", {in({0, 3, 4, 4}, dt, 7)}, max_attrs({2}, {}, {0}, {1}, false)},
          {"large", {in({4, 16, 32, 32}, dt, 8)}, max_attrs({3, 3}, {2, 2}, {1, 1}, {1, 1}, false)}};
}

std::vector<Sample> avg_samples(DType dt) {
  return {{"2x2", {in({2, 3, 8, 8}, dt, 1)}, avg_attrs({2, 2}, {}, {0, 0}, false, true)},
          {"padded include", {in({2, 3, 7, 8}, dt, 2)}, avg_attrs({3, 3}, {2, 2}, {1, 1}, false, true)},
          {"padded exclude", {in({2, 3, 7, 8}, dt, 3)}, avg_attrs({3, 3}, {2, 2}, {1, 1}, false, false)},
          {"ceil include", {in({1, 2, 8, 8}, dt, 4)}, avg_attrs({3}, {2}, {1}, true, true)},
          {"ceil exclude", {in({1, 2, 8, 8}, dt, 5)}, avg_attrs({3}, {2}, {1}, true, false)},
          {"ceil no pad", {in({1, 2, 9, 7}, dt, 6)}, avg_attrs({2, 2}, {2, 2}, {0, 0}, true, true)},
          {"floor leftover", {in({1, 2, 8, 9}, dt, 7)}, avg_attrs({3, 2}, {2, 3}, {0, 1}, false, false)},
          {"divisor override", {in({2, 3, 6, 6}, dt, 8)}, avg_attrs({3}, {1}, {1}, false, true, 3)},
          {"3-d input", {in({3, 6, 5}, dt, 9)}, avg_attrs({2}, {1}, {1}, false, false)},
          {"empty batch", {in({0, 3, 4, 4}, dt, 10)}, avg_attrs({2}, {}, {0}, false, true)},
          {"large", {in({4, 16, 32, 32}, dt, 11)}, avg_attrs({3, 3}, {2, 2}, {1, 1}, false, false)}};
}

std::vector<Sample> adaptive_samples(DType dt) {
  auto a = [](IntList o) { return AdaptivePoolAttrs{.output_size = o}.pack(); };
  return {{"divisible", {in({2, 3, 8, 8}, dt, 1)}, a({4, 4})}, {"not divisible", {in({2, 3, 7, 9}, dt, 2)}, a({3, 4})},
          {"global", {in({2, 5, 6, 7}, dt, 3)}, a({1})},       {"upsampling", {in({1, 2, 3, 3}, dt, 4)}, a({5, 4})},
          {"3-d input", {in({3, 6, 6}, dt, 5)}, a({2, 3})},    {"empty batch", {in({0, 3, 4, 4}, dt, 6)}, a({2, 2})},
          {"large", {in({4, 16, 28, 28}, dt, 7)}, a({7, 7})}};
}

std::vector<ErrorSample> common_errors(OpId op, const Attrs& ok) {
  const char* name = op == OpId::max_pool2d ? "max_pool2d" : op == OpId::avg_pool2d ? "avg_pool2d" : "adaptive";
  return {{"2-d input", {f32({4, 4}, 1)}, ok, ErrorKind::Shape, name},
          {"empty channels", {f32({1, 0, 4, 4}, 1)}, ok, ErrorKind::Shape, "empty"},
          {"int dtype", {make_input({1, 1, 4, 4}, DType::Int32, 1)}, ok, ErrorKind::DType, "int32"}};
}

}  // namespace

DOPPEL_OP_SPEC(max_pool2d_spec) {
  return OpSpec{.op = OpId::max_pool2d,
                .dtypes = kFloat,
                .samples = max_samples,
                .errors =
                    [] {
                      auto e = common_errors(OpId::max_pool2d, max_attrs({2}, {}, {0}, {1}, false));
                      e.push_back({"padding over half kernel",
                                   {f32({1, 1, 6, 6}, 1)},
                                   max_attrs({2}, {}, {2}, {1}, false),
                                   ErrorKind::Value,
                                   "padding"});
                      e.push_back({"zero stride",
                                   {f32({1, 1, 6, 6}, 1)},
                                   max_attrs({2}, {0}, {0}, {1}, false),
                                   ErrorKind::Value,
                                   "stride"});
                      e.push_back({"zero dilation",
                                   {f32({1, 1, 6, 6}, 1)},
                                   max_attrs({2}, {}, {0}, {0}, false),
                                   ErrorKind::Value,
                                   "dilation"});
                      e.push_back({"output too small",
                                   {f32({1, 1, 2, 2}, 1)},
                                   max_attrs({3}, {}, {0}, {1}, false),
                                   ErrorKind::Shape,
                                   "too small"});
                      e.push_back({"kernel list of 3",
                                   {f32({1, 1, 6, 6}, 1)},
                                   max_attrs({2, 2, 2}, {}, {0}, {1}, false),
                                   ErrorKind::Value,
                                   "kernel_size"});
                      return e;
                    },
                .tolerance = pool_tolerance,
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(avg_pool2d_spec) {
  return OpSpec{.op = OpId::avg_pool2d,
                .dtypes = kFloat,
                .samples = avg_samples,
                .errors =
                    [] {
                      auto e = common_errors(OpId::avg_pool2d, avg_attrs({2}, {}, {0}, false, true));
                      e.push_back({"padding over half kernel",
                                   {f32({1, 1, 6, 6}, 1)},
                                   avg_attrs({3}, {}, {2}, false, true),
                                   ErrorKind::Value,
                                   "padding"});
                      e.push_back({"zero divisor",
                                   {f32({1, 1, 6, 6}, 1)},
                                   avg_attrs({2}, {}, {0}, false, true, 0),
                                   ErrorKind::Value,
                                   "divisor_override"});
                      e.push_back({"output too small",
                                   {f32({1, 1, 2, 2}, 1)},
                                   avg_attrs({3}, {}, {0}, false, true),
                                   ErrorKind::Shape,
                                   "too small"});
                      return e;
                    },
                .tolerance = pool_tolerance,
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(adaptive_avg_pool2d_spec) {
  return OpSpec{
      .op = OpId::adaptive_avg_pool2d,
      .dtypes = kFloat,
      .samples = adaptive_samples,
      .errors =
          [] {
            auto e = common_errors(OpId::adaptive_avg_pool2d, AdaptivePoolAttrs{.output_size = {2, 2}}.pack());
            e.push_back({"negative output",
                         {f32({1, 1, 6, 6}, 1)},
                         AdaptivePoolAttrs{.output_size = {-1, 2}}.pack(),
                         ErrorKind::Value,
                         "output_size"});
            return e;
          },
      .tolerance = pool_tolerance,
      .gradgradcheck = true};
}

// ---- The backward ops: (grad_out, input) with the forward's attributes.

namespace {

// One backward sample per forward sample: grad_out gets the forward output's shape.
std::vector<Sample> backward_samples(OpId fwd_op, const std::vector<Sample>& fwd, DType dt) {
  std::vector<Sample> r;
  uint64_t seed = 100;
  for (const Sample& s : fwd) {
    const Shape out = dispatch1(fwd_op, s.inputs, s.attrs).shape();
    r.push_back({s.name, {in(out, dt, seed++), s.inputs[0]}, s.attrs});
  }
  return r;
}

// Sums of up to ~16 window contributions per input element, rounded once.
Tolerance pool_backward_tolerance(DType dt) {
  Tolerance t = pool_tolerance(dt);
  if (dt == DType::Float32) t = {1e-5, 1e-5};
  return t;
}

std::vector<ErrorSample> backward_errors(OpId op, const Attrs& ok) {
  return {{"grad_out shape", {f32({1, 2, 3, 3}, 1), f32({1, 2, 8, 8}, 2)}, ok, ErrorKind::Shape, "grad_out"},
          {"grad_out dtype",
           {make_input({1, 2, 4, 4}, DType::Float64, 1), f32({1, 2, 8, 8}, 2)},
           ok,
           ErrorKind::DType,
           "grad_out"},
          {"2-d input", {f32({2, 2}, 1), f32({4, 4}, 2)}, ok, ErrorKind::Shape, std::string(op_name(op))}};
}

}  // namespace

DOPPEL_OP_SPEC(max_pool2d_backward_spec) {
  return OpSpec{
      .op = OpId::max_pool2d_backward,
      .dtypes = kFloat,
      .samples = [](DType dt) { return backward_samples(OpId::max_pool2d, max_samples(dt), dt); },
      .errors = [] { return backward_errors(OpId::max_pool2d_backward, max_attrs({2}, {}, {0}, {1}, false)); },
      .tolerance = pool_backward_tolerance};
}

DOPPEL_OP_SPEC(avg_pool2d_backward_spec) {
  return OpSpec{
      .op = OpId::avg_pool2d_backward,
      .dtypes = kFloat,
      .samples = [](DType dt) { return backward_samples(OpId::avg_pool2d, avg_samples(dt), dt); },
      .errors = [] { return backward_errors(OpId::avg_pool2d_backward, avg_attrs({2}, {}, {0}, false, true)); },
      .tolerance = pool_backward_tolerance,
      .gradgradcheck = true};
}

DOPPEL_OP_SPEC(adaptive_avg_pool2d_backward_spec) {
  return OpSpec{
      .op = OpId::adaptive_avg_pool2d_backward,
      .dtypes = kFloat,
      .samples = [](DType dt) { return backward_samples(OpId::adaptive_avg_pool2d, adaptive_samples(dt), dt); },
      .errors =
          [] {
            return backward_errors(OpId::adaptive_avg_pool2d_backward, AdaptivePoolAttrs{.output_size = {4, 4}}.pack());
          },
      .tolerance = pool_backward_tolerance,
      .gradgradcheck = true};
}

// ---- Value tests: the reference kernel against independent window formulas in double.

namespace {

template <typename F>
Tensor on_reference(F&& fn) {
  ForceBackendGuard g(Backend::Reference);
  return fn();
}

// Output size by PyTorch's documented formula (nn.MaxPool2d): floor or ceil of
// (in + 2p - d(k-1) - 1) / s + 1, where in ceil mode a window starting in the right padding is
// dropped.
int64_t documented_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil) {
  const double v = double(in + 2 * p - d * (k - 1) - 1) / double(s) + 1;
  int64_t o = int64_t(ceil ? std::ceil(v) : std::floor(v));
  if (ceil && (o - 1) * s >= in + p) --o;
  return o;
}

struct Win {
  int64_t k[2], s[2], p[2], d[2];
  bool ceil;
};

// Max and average over each window; `mode`: 0 max, 1 avg counting padding (clipped to the
// padded input), 2 avg over valid elements only.
Tensor naive_pool(const Tensor& x, const Win& w, int mode) {
  const auto xv = x.to_vector<double>();
  const int64_t P = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = documented_size(H, w.k[0], w.s[0], w.p[0], w.d[0], w.ceil),
                OW = documented_size(W, w.k[1], w.s[1], w.p[1], w.d[1], w.ceil);
  std::vector<double> y;
  for (int64_t q = 0; q < P; ++q)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double best = -std::numeric_limits<double>::infinity(), sum = 0;
        int64_t valid = 0, padded = 0;
        for (int64_t kh = 0; kh < w.k[0]; ++kh)
          for (int64_t kw = 0; kw < w.k[1]; ++kw) {
            const int64_t ih = oh * w.s[0] - w.p[0] + kh * w.d[0], iw = ow * w.s[1] - w.p[1] + kw * w.d[1];
            if (ih < H + w.p[0] && iw < W + w.p[1]) ++padded;  // inside the padded input
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const double v = xv[size_t((q * H + ih) * W + iw)];
            best = std::max(best, v);
            sum += v;
            ++valid;
          }
        y.push_back(mode == 0 ? best : sum / double(mode == 1 ? padded : valid));
      }
  return tensor(y, {x.size(0), x.size(1), OH, OW});
}

}  // namespace

TEST_CASE("pooling: ceil_mode output sizes follow PyTorch's formula", "[ops][pooling]") {
  const Tensor x5 = f32({1, 1, 5, 5}, 1);
  CHECK(max_pool2d(x5, {2}, {2}).shape() == Shape{1, 1, 2, 2});
  CHECK(max_pool2d(x5, {2}, {2}, {0}, {1}, true).shape() == Shape{1, 1, 3, 3});
  // With padding 1 the ceil division gives 4, but the 4th window would start in the right
  // padding, so it is dropped: 3 (as torch.nn.MaxPool2d(2, 2, 1, ceil_mode=True) on 5x5).
  CHECK(max_pool2d(x5, {2}, {2}, {1}, {1}, true).shape() == Shape{1, 1, 3, 3});
  CHECK(pool_output_size(5, 2, 1, 2, 1, true) == 3);
  CHECK(pool_output_size(8, 3, 0, 2, 1, false) == 3);
  CHECK(pool_output_size(8, 3, 0, 2, 1, true) == 4);
  // A window whose arithmetic overflows int64 (found by the model fuzzer) is no output, not UB.
  CHECK(pool_output_size(7, (int64_t(1) << 35) + 2, 0, 1, (int64_t(1) << 31) + 1, false) == 0);
  CHECK(pool_output_size(7, 2, std::numeric_limits<int64_t>::max() / 2 + 1, 1, 1, false) == 0);
  CHECK(avg_pool2d(f32({2, 6, 6}, 1), {3}, {2}, {1}, true).shape() == Shape{2, 4, 4});
  CHECK(adaptive_avg_pool2d(f32({2, 3, 7, 9}, 1), {3, 4}).shape() == Shape{2, 3, 3, 4});
}

TEST_CASE("pooling: hand-computed values", "[ops][pooling]") {
  const Tensor x = tensor(std::vector<float>{1, 2, 3, 4}, {1, 1, 2, 2});
  CHECK(avg_pool2d(x, {2}).to_vector<float>() == std::vector<float>{2.5f});
  CHECK(max_pool2d(x, {2}).to_vector<float>() == std::vector<float>{4.0f});
  // k=2, s=1, p=1: 3x3 windows; the corner window holds one element and three pads.
  CHECK(avg_pool2d(x, {2}, {1}, {1}, false, true).to_vector<float>() ==
        std::vector<float>{0.25f, 0.75f, 0.5f, 1.0f, 2.5f, 1.5f, 0.75f, 1.75f, 1.0f});
  CHECK(avg_pool2d(x, {2}, {1}, {1}, false, false).to_vector<float>() ==
        std::vector<float>{1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4});
  CHECK(avg_pool2d(x, {2}, {1}, {1}, false, true, 2).to_vector<float>()[4] == 5.0f);
  CHECK(max_pool2d(x, {2}, {1}, {1}).to_vector<float>() == std::vector<float>{1, 2, 2, 3, 4, 4, 3, 4, 4});
  CHECK(adaptive_avg_pool2d(x, {1}).to_vector<float>() == std::vector<float>{2.5f});
  // Adaptive windows of 3 -> 2 overlap: [0, 2) and [1, 3).
  const Tensor r = tensor(std::vector<float>{1, 2, 3}, {1, 1, 1, 3});
  CHECK(adaptive_avg_pool2d(r, {1, 2}).to_vector<float>() == std::vector<float>{1.5f, 2.5f});
  // NaN propagates through max pooling (reference semantics, as PyTorch).
  const Tensor n = tensor(std::vector<float>{1, std::nanf(""), 3, 4}, {1, 1, 2, 2});
  CHECK(std::isnan(on_reference([&] { return max_pool2d(n, {2}); }).item<float>()));
}

TEST_CASE("pooling: reference and default backend match the window formulas", "[ops][pooling]") {
  const Win wins[] = {{{2, 2}, {2, 2}, {0, 0}, {1, 1}, false}, {{3, 3}, {2, 2}, {1, 1}, {1, 1}, false},
                      {{3, 3}, {2, 2}, {1, 1}, {1, 1}, true},  {{3, 2}, {2, 3}, {1, 1}, {2, 1}, true},
                      {{2, 3}, {1, 2}, {1, 0}, {1, 1}, false}, {{3, 3}, {2, 2}, {0, 0}, {1, 1}, false}};
  uint64_t seed = 300;
  for (const Win& w : wins) {
    const Tensor x = make_input({2, 3, 8, 9}, DType::Float64, seed++);
    const IntList k(w.k, 2), s(w.s, 2), p(w.p, 2), d(w.d, 2);
    const Tensor xf = x.to(DType::Float32);
    const Tensor emax = naive_pool(x, w, 0);
    DOPPEL_REQUIRE_CLOSE(on_reference([&] { return max_pool2d(x, k, s, p, d, w.ceil); }), emax, Tolerance{});
    DOPPEL_REQUIRE_CLOSE(max_pool2d(xf, k, s, p, d, w.ceil), emax.to(DType::Float32), Tolerance{});
    if (w.d[0] != 1 || w.d[1] != 1) continue;  // avg_pool2d has no dilation
    for (bool include : {true, false}) {
      const Tensor eavg = naive_pool(x, w, include ? 1 : 2);
      DOPPEL_REQUIRE_CLOSE(on_reference([&] { return avg_pool2d(x, k, s, p, w.ceil, include); }), eavg,
                           (Tolerance{1e-12, 1e-12}));
      DOPPEL_REQUIRE_CLOSE(avg_pool2d(xf, k, s, p, w.ceil, include), eavg.to(DType::Float32), (Tolerance{1e-6, 1e-6}));
    }
  }
}

TEST_CASE("adaptive_avg_pool2d: matches the floor/ceil window formula", "[ops][pooling]") {
  for (auto [oh, ow] : {std::pair<int64_t, int64_t>{3, 4}, {4, 3}, {2, 9}, {1, 1}, {5, 11}}) {
    const Tensor x = make_input({2, 2, 8, 9}, DType::Float64, uint64_t(oh * 100 + ow));
    const auto xv = x.to_vector<double>();
    std::vector<double> e;
    for (int64_t q = 0; q < 4; ++q)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          const int64_t h0 = int64_t(std::floor(double(i * 8) / double(oh))),
                        h1 = int64_t(std::ceil(double((i + 1) * 8) / double(oh)));
          const int64_t w0 = int64_t(std::floor(double(j * 9) / double(ow))),
                        w1 = int64_t(std::ceil(double((j + 1) * 9) / double(ow)));
          double s = 0;
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) s += xv[size_t((q * 8 + h) * 9 + w)];
          e.push_back(s / double((h1 - h0) * (w1 - w0)));
        }
    const Tensor et = tensor(e, {2, 2, oh, ow});
    DOPPEL_REQUIRE_CLOSE(on_reference([&] { return adaptive_avg_pool2d(x, {oh, ow}); }), et, (Tolerance{1e-12, 1e-12}));
    DOPPEL_REQUIRE_CLOSE(adaptive_avg_pool2d(x.to(DType::Float32), {oh, ow}), et.to(DType::Float32),
                         (Tolerance{1e-6, 1e-6}));
  }
}

}  // namespace doppel::testing
