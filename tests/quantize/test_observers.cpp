// Observers (quantize/observer.h) against hand-computed ranges and PyTorch's qparams formula
// evaluated here in double: min/max per tensor and per channel, moving average, the percentile
// histogram, reduce_range, the uint8 symmetric zero point, NaN ignored, infinite and empty ranges.
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <cmath>
#include <limits>

#include "doppel/doppel.h"
#include "doppel/quantize/observer.h"

namespace doppel {
namespace {

using Catch::Approx;
using quantization::make_observer;
using quantization::ObserverKind;
using quantization::ObserverSpec;
using quantization::QScheme;

Tensor values(std::vector<float> v, Shape shape = {}) {
  if (shape.empty()) shape = {int64_t(v.size())};
  return tensor(v, shape);
}

TEST_CASE("quantize observers: min/max uint8 affine per tensor over two batches", "[quantize]") {
  auto obs = make_observer({.kind = ObserverKind::min_max});
  obs->observe(values({-1.0f, 0.5f, 2.0f}));
  obs->observe(values({3.0f, std::nanf("")}));  // NaN is ignored
  const auto q = obs->qparams();
  REQUIRE(q.scale.size() == 1);
  // [-1, 3]: scale 4 / 255, zero point 0 - round(-1 / scale) = round(63.75) = 64.
  CHECK(q.scale[0] == Approx(4.0 / 255.0).epsilon(1e-7));
  CHECK(q.zero_point[0] == 64);
  CHECK(q.dtype == DType::UInt8);
  CHECK(!q.per_channel());
  CHECK(q.scale_tensor().dim() == 0);
}

TEST_CASE("quantize observers: a positive range still contains 0; int8 affine and reduce_range", "[quantize]") {
  auto u8 = make_observer({.kind = ObserverKind::min_max});
  u8->observe(values({2.0f, 5.1f}));
  // [0, 5.1]: scale 5.1 / 255 = 0.02, zero point 0.
  CHECK(u8->qparams().scale[0] == Approx(0.02).epsilon(1e-6));
  CHECK(u8->qparams().zero_point[0] == 0);
  auto s8 = make_observer({.kind = ObserverKind::min_max, .dtype = DType::Int8});
  s8->observe(values({-2.55f, 0.0f}));
  // [-2.55, 0]: scale 0.01, zero point -128 - round(-255) = 127.
  CHECK(s8->qparams().scale[0] == Approx(0.01).epsilon(1e-6));
  CHECK(s8->qparams().zero_point[0] == 127);
  auto reduced = make_observer({.kind = ObserverKind::min_max, .reduce_range = true});
  reduced->observe(values({0.0f, 1.27f}));
  // [0, 127]: scale 1.27 / 127 = 0.01.
  CHECK(reduced->qparams().scale[0] == Approx(0.01).epsilon(1e-6));
  CHECK(quantization::quant_range(DType::Int8, true) == std::pair<int32_t, int32_t>{-64, 63});
}

TEST_CASE("quantize observers: symmetric per channel (the weight observer)", "[quantize]") {
  auto obs = make_observer({.dtype = DType::Int8, .scheme = QScheme::symmetric, .ch_axis = 0});
  // [2, 3]: channel 0 {1, -2, 0.5}, channel 1 {0.25, 0, -0.125}.
  obs->observe(values({1.0f, -2.0f, 0.5f, 0.25f, 0.0f, -0.125f}, {2, 3}));
  const auto q = obs->qparams();
  REQUIRE(q.scale.size() == 2);
  CHECK(q.per_channel());
  CHECK(q.axis == 0);
  CHECK(q.scale[0] == Approx(2.0 / 127.5).epsilon(1e-7));
  CHECK(q.scale[1] == Approx(0.25 / 127.5).epsilon(1e-7));
  CHECK(q.zero_point == std::vector<int32_t>{0, 0});
  CHECK(q.scale_tensor().shape() == Shape{2});
  // Channels along axis 1 of [2, 2, 2]: channel c holds x[:, c, :].
  auto ax1 = make_observer({.dtype = DType::Int8, .scheme = QScheme::symmetric, .ch_axis = 1});
  ax1->observe(values({1, 2, 30, 4, -5, 6, 7, -80}, {2, 2, 2}));
  CHECK(ax1->qparams().scale[0] == Approx(6 / 127.5).epsilon(1e-7));
  CHECK(ax1->qparams().scale[1] == Approx(80 / 127.5).epsilon(1e-7));
  // uint8 symmetric: zero point 128, as PyTorch's.
  auto u8 = make_observer({.scheme = QScheme::symmetric});
  u8->observe(values({-1.0f, 1.0f}));
  CHECK(u8->qparams().zero_point[0] == 128);
}

TEST_CASE("quantize observers: moving average min/max", "[quantize]") {
  auto obs = make_observer({.kind = ObserverKind::moving_average_min_max, .averaging_constant = 0.5});
  obs->observe(values({0.0f, 1.0f}));
  obs->observe(values({-1.0f, 3.0f}));
  // (0, 1), then min 0 + 0.5 (-1 - 0) = -0.5, max 1 + 0.5 (3 - 1) = 2.
  const auto r = obs->range();
  CHECK(r[0].first == Approx(-0.5));
  CHECK(r[0].second == Approx(2.0));
}

TEST_CASE("quantize observers: the percentile histogram clips an outlier", "[quantize]") {
  std::vector<float> v;
  for (int i = 0; i < 1000; ++i) v.push_back(float(i));
  auto clip = make_observer({.kind = ObserverKind::histogram, .bins = 2048, .percentile = 99.9});
  clip->observe(values(v));
  clip->observe(values({1e6f}));  // widens the range: the first batch is re-binned
  // 1001 values; the 99.9th percentile lies among the first thousand. Bins are 1e6 / 2048 wide:
  // 0..487 | 488..975 | 976..999 | ... | 1e6, so the cut at rank 1001 - 1.001 = 999.999 falls in
  // bin 2 at (999.999 - 976) / 24 of its width: 488.28125 * 2.99996 = 1464.8.
  const auto r = clip->range();
  CHECK(r[0].second == Approx(488.28125 * (2.0 + (999.999 - 976.0) / 24.0)).epsilon(1e-5));
  auto all = make_observer({.kind = ObserverKind::histogram, .bins = 2048, .percentile = 100});
  all->observe(values(v));
  all->observe(values({1e6f}));
  CHECK(all->range()[0].second == Approx(1e6));
  CHECK(all->range()[0].first == Approx(0.0));
}

TEST_CASE("quantize observers: nothing observed, infinite ranges and bad specs are errors", "[quantize]") {
  auto empty = make_observer({});
  CHECK_THROWS_AS(empty->qparams("the observer of x"), ValueError);
  empty->observe(values({std::nanf("")}));
  CHECK_THROWS_AS(empty->qparams(), ValueError);
  auto inf = make_observer({});
  inf->observe(values({0.0f, std::numeric_limits<float>::infinity()}));
  CHECK_THROWS_AS(inf->qparams(), ValueError);
  auto hist = make_observer({.kind = ObserverKind::histogram});
  CHECK_THROWS_AS(hist->observe(values({0.0f, -std::numeric_limits<float>::infinity()})), ValueError);
  CHECK_THROWS_AS(make_observer({.dtype = DType::Float32}), DTypeError);
  CHECK_THROWS_AS(make_observer({.kind = ObserverKind::histogram, .ch_axis = 0}), ValueError);
  auto per_channel = make_observer({.ch_axis = 2});
  CHECK_THROWS_AS(per_channel->observe(values({1, 2}, {2})), ShapeError);
}

}  // namespace
}  // namespace doppel
