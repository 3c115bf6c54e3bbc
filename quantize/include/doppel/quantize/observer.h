#pragma once
// Observers: they watch the values a tensor takes (activations while calibrating, weights once)
// and turn the range they saw into quantization parameters (scale, zero point), PyTorch's
// torch.ao.quantization observers with their arithmetic (`_calculate_qparams`, in float32):
//   affine:    scale = (max(hi, 0) - min(lo, 0)) / (qmax - qmin),
//              zero_point = clamp(qmin - round_half_even(min(lo, 0) / scale), qmin, qmax)
//   symmetric: scale = max(-min(lo, 0), max(hi, 0)) / ((qmax - qmin) / 2),
//              zero_point = 0 (int8) or 128 (uint8)
// with scale at least float32's epsilon; [qmin, qmax] is [-128, 127] (Int8) or [0, 255] (UInt8),
// halved by reduce_range ([-64, 63], [0, 127]).
//
// Kinds (ObserverKind):
//   min_max:                the running min and max of everything seen (per tensor, or per
//                           channel along `ch_axis`: the per-channel weight observer);
//   moving_average_min_max: min += c * (batch_min - min), likewise max (c = averaging_constant),
//                           starting from the first batch's range (per tensor);
//   histogram:              a histogram of everything seen (per tensor; `bins` bins over the
//                           running range, re-binned when the range grows) whose range is cut at
//                           the `percentile`-th and (100 - percentile)-th percentiles — a simple
//                           percentile clip, not PyTorch's HistogramObserver L2 search.
// NaN values are ignored; ±Inf widen the range (and give an infinite scale: a ValueError when
// the parameters are asked for, naming the observer).
#include <memory>
#include <string>
#include <vector>

#include "doppel/core/tensor.h"

namespace doppel::quantization {

enum class ObserverKind { min_max, moving_average_min_max, histogram };
enum class QScheme { affine, symmetric };

struct ObserverSpec {
  ObserverKind kind = ObserverKind::min_max;
  DType dtype = DType::UInt8;  // Int8 or UInt8
  QScheme scheme = QScheme::affine;
  int64_t ch_axis = -1;  // >= 0: per channel along this axis (min_max only)
  bool reduce_range = false;
  double averaging_constant = 0.01;  // moving_average_min_max
  int64_t bins = 2048;               // histogram
  double percentile = 99.99;         // histogram: the upper cut (the lower one is 100 - this)
};

// Quantization parameters: one (scale, zero point) per tensor (axis = -1) or per channel.
struct QParams {
  std::vector<float> scale;
  std::vector<int32_t> zero_point;
  DType dtype = DType::UInt8;
  int64_t axis = -1;
  bool per_channel() const { return axis >= 0; }
  // Same dtype, axis and every scale and zero point.
  friend bool operator==(const QParams&, const QParams&) = default;
  // The scale and zero point as the op inputs take them: float32 / int32, 0-d per tensor, [C]
  // per channel.
  Tensor scale_tensor() const;
  Tensor zero_point_tensor() const;
};

// The quantized range [qmin, qmax] of a dtype (Int8 or UInt8; ValueError for others).
std::pair<int32_t, int32_t> quant_range(DType dtype, bool reduce_range);

// The parameters for the range [lo, hi] (PyTorch's formula above), for one tensor or channel.
void qparams_from_range(float lo, float hi, const ObserverSpec& spec, float& scale, int32_t& zero_point);

class Observer {
 public:
  explicit Observer(ObserverSpec spec);
  virtual ~Observer();
  Observer(const Observer&) = delete;
  Observer& operator=(const Observer&) = delete;

  const ObserverSpec& spec() const { return spec_; }
  // Folds the values of `x` (any float dtype, CPU) into what the observer has seen.
  virtual void observe(const Tensor& x) = 0;
  // The (lo, hi) range the parameters are computed from, one pair per channel (or one); a
  // ValueError naming `what` when nothing was observed yet.
  virtual std::vector<std::pair<float, float>> range() const = 0;
  QParams qparams(const std::string& what = "observer") const;

 protected:
  ObserverSpec spec_;
};

// The observer of this spec's kind; ValueError for a per-channel spec of a per-tensor kind.
std::unique_ptr<Observer> make_observer(const ObserverSpec& spec);

}  // namespace doppel::quantization
