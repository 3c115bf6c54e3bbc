#pragma once
// Datasets: indexable collections of (data, target) examples. get() must be safe to call from
// a background thread while the caller's thread uses the dataset too (DataLoader prefetches):
// keep it const and free of shared mutable state.
#include <cstddef>

#include "doppel/core/tensor.h"

namespace doppel::data {

struct Example {
  Tensor data;
  Tensor target;  // may be undefined for unlabeled data
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  // Example i in [0, size()); IndexError otherwise.
  virtual Example get(size_t i) const = 0;
};

// Examples are the rows (dim 0) of `data` and `targets`, returned as views (no copy).
class TensorDataset : public Dataset {
 public:
  // `targets` may be undefined; otherwise data.size(0) == targets.size(0) (ShapeError).
  TensorDataset(Tensor data, Tensor targets);
  size_t size() const override;
  Example get(size_t i) const override;
  const Tensor& data() const { return data_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor data_, targets_;
};

// Row i of `t` (t[i]) as a view sharing its storage, without going through the op table (so it
// is cheap and safe on a loader thread). IndexError when i is out of range or t is 0-d.
Tensor row_view(const Tensor& t, int64_t i);

}  // namespace doppel::data
