// The observers of observer.h and PyTorch's qparams formula.
#include "doppel/quantize/observer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "doppel/core/error.h"

namespace doppel::quantization {

namespace {

// The finite-or-infinite (non-NaN) min and max of `v`; (+inf, -inf) when every value is NaN.
std::pair<float, float> min_max_of(const float* v, size_t n, size_t stride) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (size_t i = 0; i < n; ++i) {
    const float x = v[i * stride];
    if (std::isnan(x)) continue;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  return {lo, hi};
}

bool seen(const std::pair<float, float>& r) { return r.first <= r.second; }

class MinMaxObserver final : public Observer {
 public:
  using Observer::Observer;
  void observe(const Tensor& x) override {
    const std::vector<float> v = x.to_vector<float>();
    const int64_t axis = spec_.ch_axis;
    if (axis < 0) {
      merge(0, min_max_of(v.data(), v.size(), 1));
      return;
    }
    DOPPEL_CHECK_SHAPE(axis < x.dim(), "MinMaxObserver: ch_axis {} is out of range for a tensor of shape {}", axis,
                       shape_str(x.shape()));
    const int64_t channels = x.size(axis);
    int64_t inner = 1;
    for (int64_t d = axis + 1; d < x.dim(); ++d) inner *= x.size(d);
    const int64_t outer = channels ? int64_t(v.size()) / (channels * inner) : 0;
    if (ranges_.empty())
      ranges_.assign(size_t(channels),
                     {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()});
    DOPPEL_CHECK_SHAPE(int64_t(ranges_.size()) == channels,
                       "MinMaxObserver: saw {} channels along axis {} before, now a tensor of shape {}", ranges_.size(),
                       axis, shape_str(x.shape()));
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t c = 0; c < channels; ++c)
        merge(size_t(c), min_max_of(v.data() + (o * channels + c) * inner, size_t(inner), 1));
  }
  std::vector<std::pair<float, float>> range() const override { return ranges_; }

 private:
  void merge(size_t c, std::pair<float, float> r) {
    if (ranges_.size() <= c)
      ranges_.resize(c + 1, {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()});
    ranges_[c] = {std::min(ranges_[c].first, r.first), std::max(ranges_[c].second, r.second)};
  }
  std::vector<std::pair<float, float>> ranges_;
};

class MovingAverageMinMaxObserver final : public Observer {
 public:
  using Observer::Observer;
  void observe(const Tensor& x) override {
    const std::vector<float> v = x.to_vector<float>();
    const auto r = min_max_of(v.data(), v.size(), 1);
    if (!seen(r)) return;
    if (!seen(range_)) {
      range_ = r;
      return;
    }
    const float c = float(spec_.averaging_constant);
    range_ = {range_.first + c * (r.first - range_.first), range_.second + c * (r.second - range_.second)};
  }
  std::vector<std::pair<float, float>> range() const override { return {range_}; }

 private:
  std::pair<float, float> range_{std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
};

class HistogramObserver final : public Observer {
 public:
  explicit HistogramObserver(ObserverSpec spec) : Observer(spec), counts_(size_t(std::max<int64_t>(spec.bins, 1))) {
    DOPPEL_CHECK(spec.percentile > 50 && spec.percentile <= 100,
                 "HistogramObserver: percentile {} must be in (50, 100] (the upper cut; the lower is 100 - it)",
                 spec.percentile);
  }
  void observe(const Tensor& x) override {
    const std::vector<float> v = x.to_vector<float>();
    const auto r = min_max_of(v.data(), v.size(), 1);
    if (!seen(r)) return;
    DOPPEL_CHECK(std::isfinite(r.first) && std::isfinite(r.second),
                 "HistogramObserver: the values hold an infinity (range [{}, {}]); a histogram needs finite values",
                 r.first, r.second);
    if (!seen(range_)) {
      range_ = r;
    } else if (r.first < range_.first || r.second > range_.second) {
      rebin({std::min(r.first, range_.first), std::max(r.second, range_.second)});
    }
    for (float value : v)
      if (!std::isnan(value)) counts_[bin_of(value)] += 1;
  }
  std::vector<std::pair<float, float>> range() const override {
    if (!seen(range_)) return {range_};
    double total = 0;
    for (double c : counts_) total += c;
    const double cut = (100.0 - spec_.percentile) / 100.0 * total;
    return {{float(value_at(cut)), float(value_at(total - cut))}};
  }

 private:
  double width() const { return (double(range_.second) - double(range_.first)) / double(counts_.size()); }
  size_t bin_of(double x) const {
    const double w = width();
    if (w <= 0) return 0;
    return size_t(std::clamp<double>(std::floor((x - range_.first) / w), 0, double(counts_.size() - 1)));
  }
  // The value below which `rank` of the counted values lie (linear within a bin).
  double value_at(double rank) const {
    const double w = width();
    double below = 0;
    for (size_t b = 0; b < counts_.size(); ++b) {
      if (below + counts_[b] >= rank && counts_[b] > 0)
        return range_.first + w * (double(b) + (rank - below) / counts_[b]);
      below += counts_[b];
    }
    return range_.second;
  }
  // Moves each old bin's count to the new bin holding its centre.
  void rebin(std::pair<float, float> wider) {
    std::vector<double> old(counts_.size(), 0);
    std::swap(old, counts_);
    const double w = width();
    const float lo = range_.first;
    range_ = wider;
    for (size_t b = 0; b < old.size(); ++b)
      if (old[b] > 0) counts_[bin_of(lo + w * (double(b) + 0.5))] += old[b];
  }
  std::vector<double> counts_;
  std::pair<float, float> range_{std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
};

}  // namespace

std::pair<int32_t, int32_t> quant_range(DType dtype, bool reduce_range) {
  DOPPEL_CHECK_DTYPE(dtype == DType::Int8 || dtype == DType::UInt8,
                     "quantize: quantized values are int8 or uint8, got {}", dtype_name(dtype));
  const int32_t shift = reduce_range ? 1 : 0;
  if (dtype == DType::Int8) return {-128 >> shift, 127 >> shift};
  return {0, 255 >> shift};
}

void qparams_from_range(float lo, float hi, const ObserverSpec& spec, float& scale, int32_t& zero_point) {
  const auto [qmin, qmax] = quant_range(spec.dtype, spec.reduce_range);
  const float min_neg = std::min(lo, 0.0f), max_pos = std::max(hi, 0.0f);
  const float eps = std::numeric_limits<float>::epsilon();
  if (spec.scheme == QScheme::symmetric) {
    scale = std::max(std::max(-min_neg, max_pos) / (float(qmax - qmin) / 2.0f), eps);
    zero_point = spec.dtype == DType::UInt8 ? (qmin + qmax + 1) / 2 : 0;
    return;
  }
  scale = std::max((max_pos - min_neg) / float(qmax - qmin), eps);
  zero_point = std::clamp(qmin - int32_t(std::nearbyint(min_neg / scale)), qmin, qmax);
}

Tensor QParams::scale_tensor() const {
  Tensor t = per_channel() ? make_tensor({int64_t(scale.size())}, DType::Float32) : make_tensor({}, DType::Float32);
  std::memcpy(t.data_ptr<float>(), scale.data(), scale.size() * sizeof(float));
  return t;
}

Tensor QParams::zero_point_tensor() const {
  Tensor t = per_channel() ? make_tensor({int64_t(zero_point.size())}, DType::Int32) : make_tensor({}, DType::Int32);
  std::memcpy(t.data_ptr<int32_t>(), zero_point.data(), zero_point.size() * sizeof(int32_t));
  return t;
}

Observer::Observer(ObserverSpec spec) : spec_(spec) { quant_range(spec.dtype, spec.reduce_range); }
Observer::~Observer() = default;

QParams Observer::qparams(const std::string& what) const {
  const auto ranges = range();
  DOPPEL_CHECK(!ranges.empty(),
               "quantize: {} has observed no values yet (calibrate with a few batches before converting)", what);
  QParams q{.dtype = spec_.dtype, .axis = spec_.ch_axis};
  for (const auto& [lo, hi] : ranges) {
    DOPPEL_CHECK(seen({lo, hi}),
                 "quantize: {} has observed no values yet (calibrate with a few batches before converting)", what);
    DOPPEL_CHECK(std::isfinite(lo) && std::isfinite(hi),
                 "quantize: {} saw an infinite range [{}, {}]; quantized values need a finite one (use the histogram "
                 "observer, or remove the infinities)",
                 what, lo, hi);
    q.scale.push_back(0);
    q.zero_point.push_back(0);
    qparams_from_range(lo, hi, spec_, q.scale.back(), q.zero_point.back());
  }
  return q;
}

std::unique_ptr<Observer> make_observer(const ObserverSpec& spec) {
  DOPPEL_CHECK(spec.ch_axis < 0 || spec.kind == ObserverKind::min_max,
               "quantize: per-channel observation (ch_axis {}) is kept by the min_max observer only", spec.ch_axis);
  switch (spec.kind) {
    case ObserverKind::min_max:
      return std::make_unique<MinMaxObserver>(spec);
    case ObserverKind::moving_average_min_max:
      return std::make_unique<MovingAverageMinMaxObserver>(spec);
    case ObserverKind::histogram:
      return std::make_unique<HistogramObserver>(spec);
  }
  throw ValueError(fmt::format("quantize: unknown observer kind {}", int(spec.kind)));
}

}  // namespace doppel::quantization
