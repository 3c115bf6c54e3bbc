#pragma once
// Small helpers shared by the reference and oneDNN normalization kernels: reading small
// per-channel tensors as doubles, writing them back, and the batch-norm statistics that both
// backends derive the same way from (mean, biased variance).
#include <cmath>
#include <vector>

#include "doppel/core/tensor.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "doppel/kernels/op_def.h"

namespace doppel::registration::nn_detail {

// All values of a (small) tensor as doubles; `fill` of length n when t is undefined.
inline std::vector<double> read_doubles(const Tensor& t, int64_t n, double fill) {
  if (!t.defined()) return std::vector<double>(size_t(n), fill);
  Tensor d = make_tensor(t.shape(), DType::Float64, t.device());
  copy_strided(d, t);
  const double* p = d.data_ptr<double>();
  return std::vector<double>(p, p + d.numel());
}

// Writes v into a contiguous output of any floating dtype.
inline void write_doubles(const Tensor& out, const std::vector<double>& v) {
  if (out.numel() == 0) return;
  Tensor src = from_blob(const_cast<double*>(v.data()), out.shape(), contiguous_strides(out.shape()), DType::Float64,
                         out.device());
  copy_strided(out, src);
}

// Fills save_mean, save_invstd and the new running statistics of batch_norm from the
// per-channel mean and biased variance the normalization used. `count` is the number of values
// per channel (for the unbiased variance, as PyTorch uses for running_var).
inline void finish_batch_norm_stats(const OpCall& c, std::span<const Tensor> out, const std::vector<double>& mean,
                                    const std::vector<double>& var, int64_t count) {
  using namespace nn_attrs;
  const auto a = BatchNormAttrs::of(c.attrs);
  const bool training = a.training;
  const double eps = a.eps, m = a.momentum;
  const size_t C = mean.size();
  std::vector<double> invstd(C);
  for (size_t k = 0; k < C; ++k) invstd[k] = 1.0 / std::sqrt(var[k] + eps);
  write_doubles(out[kBatchNormSaveMean], mean);
  write_doubles(out[kBatchNormSaveInvstd], invstd);
  if (out[kBatchNormNewMean].numel() == 0) return;  // no running statistics given
  std::vector<double> rm = read_doubles(c.in(kBatchNormRunningMean), 0, 0);
  std::vector<double> rv = read_doubles(c.in(kBatchNormRunningVar), 0, 0);
  if (training) {
    const double unbias = double(count) / double(count - 1);
    for (size_t k = 0; k < C; ++k) {
      rm[k] = (1 - m) * rm[k] + m * mean[k];
      rv[k] = (1 - m) * rv[k] + m * var[k] * unbias;
    }
  }
  write_doubles(out[kBatchNormNewMean], rm);
  write_doubles(out[kBatchNormNewVar], rv);
}

}  // namespace doppel::registration::nn_detail
