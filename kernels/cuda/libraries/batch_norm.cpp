// Host glue of batch_norm and batch_norm_backward (norms.cu) on [N, C, ...] inputs. The op is
// functional: the new running statistics are outputs (the eager wrapper writes them back). The
// input and grad_out are made contiguous; weight, bias, running and saved statistics are cast to
// the statistics' dtype where they have another; results in other dtypes (the new running
// statistics in theirs, the parameter gradients in the weight's) are cast into the outputs.
#include "cuda/libraries/library_common.h"
#include "cuda/libraries/norm_kernels.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/nn.h"

namespace doppel::cuda {

void cuda_batch_norm_kernels();  // registration.cpp

namespace {

using namespace nn_attrs;

struct Channels {
  int64_t N, C, S;
};
Channels channels_of(const Tensor& x) {
  const int64_t N = x.size(0), C = x.size(1);
  return {N, C, N == 0 || C == 0 ? 0 : x.numel() / (N * C)};
}

// A buffer for output `t` in the statistics' dtype: `t` itself when it has it.
Tensor stats_buffer(const Tensor& t, DType st) { return t.dtype() == st ? t : make_tensor(t.shape(), st, t.device()); }

void batch_norm_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_cuda(c.in(kBatchNormInput));
  const Channels ch = channels_of(x);
  if (ch.C == 0) return;
  const auto a = BatchNormAttrs::of(c.attrs);
  const bool training = a.training;
  const DType st = norm_stats_dtype(x.dtype());
  const Tensor w = contiguous_as(optional_input(c, kBatchNormWeight), st);
  const Tensor b = contiguous_as(optional_input(c, kBatchNormBias), st);
  const Tensor rm = contiguous_as(optional_input(c, kBatchNormRunningMean), st);
  const Tensor rv = contiguous_as(optional_input(c, kBatchNormRunningVar), st);
  const bool running = out[kBatchNormNewMean].numel() > 0;
  const Tensor new_mean = running ? stats_buffer(out[kBatchNormNewMean], st) : Tensor();
  const Tensor new_var = running ? stats_buffer(out[kBatchNormNewVar], st) : Tensor();
  {
    const DeviceGuard guard(x.device().index);
    launch_batch_norm(x.dtype(), x.raw_data(), data_or_null(w), data_or_null(b), data_or_null(rm), data_or_null(rv),
                      out[kBatchNormOut].raw_data(), out[kBatchNormSaveMean].raw_data(),
                      out[kBatchNormSaveInvstd].raw_data(), running ? new_mean.raw_data() : nullptr,
                      running ? new_var.raw_data() : nullptr, ch.N, ch.C, ch.S, training, a.momentum, a.eps,
                      stream_of(x));
  }
  if (running && !new_mean.is_same(out[kBatchNormNewMean])) store_into(new_mean, out[kBatchNormNewMean]);
  if (running && !new_var.is_same(out[kBatchNormNewVar])) store_into(new_var, out[kBatchNormNewVar]);
}

void batch_norm_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = BatchNormBackwardAttrs::of(c.attrs);
  const Shape mask = a.output_mask;
  const Tensor x = contiguous_cuda(c.in(kNormBwInput));
  const Channels ch = channels_of(x);
  if (ch.C == 0) return;
  const DType st = norm_stats_dtype(x.dtype());
  const Tensor g = contiguous_cuda(c.in(kNormBwGrad));
  const Tensor mean = contiguous_as(c.in(kNormBwMean), st), invstd = contiguous_as(c.in(kNormBwRstd), st);
  const Tensor w = contiguous_as(optional_input(c, kNormBwWeight), st);
  const Tensor gw = mask[1] ? stats_buffer(out[1], st) : Tensor(), gb = mask[2] ? stats_buffer(out[2], st) : Tensor();
  {
    const DeviceGuard guard(x.device().index);
    launch_batch_norm_backward(x.dtype(), g.raw_data(), x.raw_data(), mean.raw_data(), invstd.raw_data(),
                               data_or_null(w), mask[0] ? out[0].raw_data() : nullptr,
                               gw.defined() ? gw.raw_data() : nullptr, gb.defined() ? gb.raw_data() : nullptr, ch.N,
                               ch.C, ch.S, a.training, stream_of(x));
  }
  if (gw.defined() && !gw.is_same(out[1])) store_into(gw, out[1]);
  if (gb.defined() && !gb.is_same(out[2])) store_into(gb, out[2]);
}

}  // namespace

void cuda_batch_norm_kernels() {
  register_kernel(OpId::batch_norm, Backend::CUDA, {batch_norm_kernel, all_library_float});
  register_kernel(OpId::batch_norm_backward, Backend::CUDA, {batch_norm_backward_kernel, all_library_float});
}

}  // namespace doppel::cuda
