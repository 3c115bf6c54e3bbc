// Host glue of layer_norm and layer_norm_backward (norms.cu): the input and grad_out made
// contiguous; weight, bias and the statistics cast to the statistics' dtype (float32, float64
// for float64 inputs) by the CUDA cast kernel where they have another dtype; the parameter
// gradients computed in that dtype and cast into the outputs' dtype (the weight's).
#include "cuda/libraries/library_common.h"
#include "cuda/libraries/norm_kernels.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/nn.h"

namespace doppel::cuda {

void cuda_layer_norm_kernels();  // registration.cpp

namespace {

using namespace nn_attrs;

void layer_norm_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = LayerNormAttrs::of(c.attrs);
  const int64_t K = numel_of(a.normalized_shape);
  const Tensor x = contiguous_cuda(c.in(0));
  if (K == 0 || x.numel() == 0) return;
  const DType st = norm_stats_dtype(x.dtype());
  const Tensor w = contiguous_as(optional_input(c, 1), st), b = contiguous_as(optional_input(c, 2), st);
  const DeviceGuard guard(x.device().index);
  // mean and rstd are contiguous outputs of the statistics' dtype, one value per row.
  launch_layer_norm(x.dtype(), x.raw_data(), data_or_null(w), data_or_null(b), out[0].raw_data(), out[1].raw_data(),
                    out[2].raw_data(), x.numel() / K, K, a.eps, stream_of(x));
}

void layer_norm_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = LayerNormBackwardAttrs::of(c.attrs);
  const Shape mask = a.output_mask;
  const int64_t K = numel_of(a.normalized_shape);
  const Tensor x = contiguous_cuda(c.in(kNormBwInput));
  const int64_t rows = K == 0 ? 0 : x.numel() / K;
  const DType st = norm_stats_dtype(x.dtype());
  // Parameter gradients are sums over rows; with no rows they are zeros.
  Tensor gw = mask[1] ? make_tensor({K}, st, x.device()) : Tensor();
  Tensor gb = mask[2] ? make_tensor({K}, st, x.device()) : Tensor();
  if (rows > 0) {
    const Tensor g = contiguous_cuda(c.in(kNormBwGrad));
    const Tensor mean = contiguous_as(c.in(kNormBwMean), st), rstd = contiguous_as(c.in(kNormBwRstd), st);
    const Tensor w = contiguous_as(optional_input(c, kNormBwWeight), st);
    const DeviceGuard guard(x.device().index);
    launch_layer_norm_backward(x.dtype(), g.raw_data(), x.raw_data(), mean.raw_data(), rstd.raw_data(), data_or_null(w),
                               mask[0] ? out[0].raw_data() : nullptr, gw.defined() ? gw.raw_data() : nullptr,
                               gb.defined() ? gb.raw_data() : nullptr, rows, K, stream_of(x));
  } else {
    for (const Tensor& t : {gw, gb})
      if (t.defined() && t.numel() > 0) DOPPEL_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, t.nbytes(), stream_of(x)));
  }
  // The outputs have the normalized shape (K elements, contiguous) in the weight's dtype.
  if (gw.defined() && K > 0) store_into(gw, make_view(out[1], {K}, {1}, out[1].storage_offset()));
  if (gb.defined() && K > 0) store_into(gb, make_view(out[2], {K}, {1}, out[2].storage_offset()));
}

}  // namespace

void cuda_layer_norm_kernels() {
  register_kernel(OpId::layer_norm, Backend::CUDA, {layer_norm_kernel, all_library_float});
  register_kernel(OpId::layer_norm_backward, Backend::CUDA, {layer_norm_backward_kernel, all_library_float});
}

}  // namespace doppel::cuda
