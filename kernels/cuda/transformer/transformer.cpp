// Host glue of the CUDA transformer kernels (transformer.cu): inputs made contiguous (cos/sin and
// the attention mask broadcast first), the weights and statistics in the accumulation dtype, and
// the attention's scratch rows. The attention kernels take query, key and value whose batch dims
// are the output's (key/value heads may divide query's under enable_gqa); broadcast batch dims
// have no CUDA kernel (supports() says so).
#include <algorithm>
#include <array>

#include "cuda/libraries/library_common.h"
#include "cuda/transformer/transformer_kernels.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "doppel/kernels/op_attrs/transformer.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace transformer_attrs;
using cuda::contiguous_as;
using cuda::contiguous_cuda;
using cuda::data_or_null;
using cuda::optional_input;

constexpr int64_t kScratchValues = int64_t(1) << 24;  // attention scores kept per chunk of rows

// `t` broadcast to `shape` (numpy rules, checked by inference), contiguous on its device.
Tensor broadcast_to(const Tensor& t, IntList shape) {
  const int64_t nd = int64_t(shape.size()), lead = nd - t.dim();
  Strides st(shape.size(), 0);
  for (int64_t d = lead; d < nd; ++d)
    st[size_t(d)] = t.shape()[size_t(d - lead)] == 1 ? 0 : t.strides()[size_t(d - lead)];
  return contiguous_cuda(make_view(t, shape, st, t.storage_offset()));
}

int64_t rows_of(const Tensor& x, IntList ns) {
  const int64_t K = numel_of(ns);
  return K == 0 ? 0 : x.numel() / K;
}

void rms_norm_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = RmsNormAttrs::of(c.attrs);
  const Tensor x = contiguous_cuda(c.in(0));
  if (x.numel() == 0) return;
  const DType st = nn_attrs::norm_stats_dtype(x.dtype());
  const Tensor w = contiguous_as(optional_input(c, 1), st);
  const cuda::DeviceGuard guard(x.device().index);
  cuda::launch_rms_norm(x.dtype(), x.raw_data(), data_or_null(w), out[0].raw_data(), out[1].raw_data(),
                        rows_of(x, a.normalized_shape), numel_of(a.normalized_shape), rms_norm_eps(a.eps, x.dtype()),
                        cuda::stream_of(x));
}

void rms_norm_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = RmsNormBackwardAttrs::of(c.attrs);
  const int64_t K = numel_of(a.normalized_shape);
  const Tensor x = contiguous_cuda(c.in(kRmsBwInput));
  const int64_t rows = rows_of(x, a.normalized_shape);
  const DType st = nn_attrs::norm_stats_dtype(x.dtype());
  Tensor gw = a.output_mask[1] ? make_tensor({K}, st, x.device()) : Tensor();
  if (rows > 0) {
    const Tensor g = contiguous_cuda(c.in(kRmsBwGrad));
    const Tensor rstd = contiguous_as(c.in(kRmsBwRstd), st);
    const Tensor w = contiguous_as(optional_input(c, kRmsBwWeight), st);
    const cuda::DeviceGuard guard(x.device().index);
    cuda::launch_rms_norm_backward(x.dtype(), g.raw_data(), x.raw_data(), rstd.raw_data(), data_or_null(w),
                                   a.output_mask[0] ? out[0].raw_data() : nullptr,
                                   gw.defined() ? gw.raw_data() : nullptr, rows, K, cuda::stream_of(x));
  } else if (gw.defined() && K > 0) {
    DOPPEL_CUDA_CHECK(cudaMemsetAsync(gw.raw_data(), 0, gw.nbytes(), cuda::stream_of(x)));
  }
  if (gw.defined() && K > 0) cuda::store_into(gw, make_view(out[1], {K}, {1}, out[1].storage_offset()));
}

void apply_rotary_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_cuda(c.in(0));
  if (x.numel() == 0) return;
  const Tensor cs = broadcast_to(c.in(1), x.shape()), sn = broadcast_to(c.in(2), x.shape());
  const int64_t D = x.shape().back();
  const cuda::DeviceGuard guard(x.device().index);
  cuda::launch_apply_rotary(x.dtype(), x.raw_data(), cs.raw_data(), sn.raw_data(), out[0].raw_data(), x.numel() / D, D,
                            cuda::stream_of(x));
}

// Whether t's batch dims (all but the last two) are exactly `batch`, or under enable_gqa the
// same with a heads dim (the last) dividing batch's.
bool batch_matches(const Tensor& t, IntList batch, bool gqa) {
  if (t.dim() - 2 != int64_t(batch.size())) return false;
  for (size_t d = 0; d < batch.size(); ++d) {
    const int64_t s = t.shape()[d];
    if (s != batch[d] && !(gqa && d + 1 == batch.size() && s > 0 && batch[d] % s == 0)) return false;
  }
  return true;
}

Shape out_batch(const Tensor& grad_or_out) { return Shape(grad_or_out.shape().begin(), grad_or_out.shape().end() - 2); }

// Query, key, value from input `q` on, the mask at input `mask`.
bool sdpa_supports_shapes(const OpCall& c, IntList batch, bool gqa, size_t q, size_t mask) {
  const Tensor m = optional_input(c, mask);
  if (!cuda::library_float(c.in(q).dtype()) ||
      (m.defined() && m.dtype() != DType::Bool && m.dtype() != c.in(q).dtype()))
    return false;
  return batch_matches(c.in(q), batch, false) && batch_matches(c.in(q + 1), batch, gqa) &&
         batch_matches(c.in(q + 2), batch, gqa);
}

cuda::SdpaDims dims_of(IntList batch, const Tensor& q, const Tensor& k, const Tensor& v, bool gqa,
                       std::optional<double> scale, bool causal, double p) {
  cuda::SdpaDims d;
  d.nb = numel_of(batch);
  d.H = batch.empty() ? 1 : std::max<int64_t>(batch.back(), 1);
  d.rep = gqa && !batch.empty() ? d.H / std::max<int64_t>(k.shape()[size_t(k.dim() - 3)], 1) : 1;
  d.L = q.shape()[size_t(q.dim() - 2)];
  d.E = q.shape().back();
  d.S = k.shape()[size_t(k.dim() - 2)];
  d.Ev = v.shape().back();
  d.scale = sdpa_scale(scale, d.E);
  d.causal = causal;
  d.dropout_p = p;
  return d;
}

// The mask broadcast to [batch..., L, S], contiguous (undefined when absent).
Tensor full_mask(const OpCall& c, size_t k, IntList batch, const cuda::SdpaDims& d) {
  const Tensor m = optional_input(c, k);
  if (!m.defined()) return m;
  Shape s(batch);
  s.push_back(d.L);
  s.push_back(d.S);
  return broadcast_to(m, s);
}

int64_t chunk_rows(const cuda::SdpaDims& d, int64_t per_row) {
  return std::clamp<int64_t>(kScratchValues / std::max<int64_t>(per_row * d.S, 1), 1, std::max<int64_t>(d.nb * d.L, 1));
}

bool sdpa_supports(const OpCall& c) {
  std::array<OutputMeta, 2> meta;
  op_def(c.op).infer(c, meta);
  return sdpa_supports_shapes(c, Shape(meta[kSdpaOut].shape.begin(), meta[kSdpaOut].shape.end() - 2),
                              SdpaAttrs::of(c.attrs).enable_gqa, kSdpaQuery, kSdpaMask);
}

void sdpa_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = SdpaAttrs::of(c.attrs);
  const Shape batch = out_batch(out[kSdpaOut]);
  const Tensor q = contiguous_cuda(c.in(kSdpaQuery)), k = contiguous_cuda(c.in(kSdpaKey)),
               v = contiguous_cuda(c.in(kSdpaValue));
  cuda::SdpaDims d = dims_of(batch, q, k, v, a.enable_gqa, a.scale, a.is_causal, a.dropout_p);
  d.seed = uint64_t(a.seed);
  d.offset = uint64_t(a.offset);
  const int64_t rng[2] = {a.seed, a.offset};
  const cuda::DeviceGuard guard(q.device().index);
  DOPPEL_CUDA_CHECK(
      cudaMemcpyAsync(out[kSdpaRng].raw_data(), rng, sizeof rng, cudaMemcpyHostToDevice, cuda::stream_of(q)));
  if (out[kSdpaOut].numel() == 0) return;
  const Tensor mask = full_mask(c, kSdpaMask, batch, d);
  d.mask_bool = mask.defined() && mask.dtype() == DType::Bool;
  const int64_t chunk = chunk_rows(d, 1);
  const DType acc = nn_attrs::norm_stats_dtype(q.dtype());
  const Tensor scratch = cuda::workspace(size_t(chunk * std::max<int64_t>(d.S, 1)) * element_size(acc), q.device());
  cuda::launch_sdpa(q.dtype(), q.raw_data(), k.raw_data(), v.raw_data(), data_or_null(mask), out[kSdpaOut].raw_data(),
                    scratch.raw_data(), chunk, d, cuda::stream_of(q));
}

bool sdpa_backward_supports(const OpCall& c) {
  const auto a = SdpaBackwardAttrs::of(c.attrs);
  return sdpa_supports_shapes(c, out_batch(c.in(kSdpaBwGrad)), a.enable_gqa, kSdpaBwQuery, kSdpaBwMask);
}

void sdpa_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = SdpaBackwardAttrs::of(c.attrs);
  const Tensor g = contiguous_cuda(c.in(kSdpaBwGrad));
  const Shape batch = out_batch(g);
  const Tensor q = contiguous_cuda(c.in(kSdpaBwQuery)), k = contiguous_cuda(c.in(kSdpaBwKey)),
               v = contiguous_cuda(c.in(kSdpaBwValue));
  cuda::SdpaDims d = dims_of(batch, q, k, v, a.enable_gqa, a.scale, a.is_causal, a.dropout_p);
  int64_t rng[2] = {0, 0};
  const cuda::DeviceGuard guard(q.device().index);
  const Tensor r = contiguous_cuda(c.in(kSdpaBwRng));
  DOPPEL_CUDA_CHECK(cudaMemcpyAsync(rng, r.raw_data(), sizeof rng, cudaMemcpyDeviceToHost, cuda::stream_of(q)));
  DOPPEL_CUDA_CHECK(cudaStreamSynchronize(cuda::stream_of(q)));
  d.seed = uint64_t(rng[0]);
  d.offset = uint64_t(rng[1]);
  const DType acc = nn_attrs::norm_stats_dtype(q.dtype());
  const Tensor dk = make_tensor(k.shape(), acc, k.device()), dv = make_tensor(v.shape(), acc, v.device());
  for (const Tensor& t : {dk, dv})
    if (t.numel() > 0) DOPPEL_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, t.nbytes(), cuda::stream_of(q)));
  if (q.numel() > 0) DOPPEL_CUDA_CHECK(cudaMemsetAsync(out[0].raw_data(), 0, out[0].nbytes(), cuda::stream_of(q)));
  if (g.numel() > 0) {
    const Tensor mask = full_mask(c, kSdpaBwMask, batch, d);
    d.mask_bool = mask.defined() && mask.dtype() == DType::Bool;
    const int64_t chunk = chunk_rows(d, 2);
    const Tensor scratch =
        cuda::workspace(size_t(chunk * 2 * std::max<int64_t>(d.S, 1)) * element_size(acc), q.device());
    cuda::launch_sdpa_backward(q.dtype(), g.raw_data(), q.raw_data(), k.raw_data(), v.raw_data(), data_or_null(mask),
                               out[0].raw_data(), dk.raw_data(), dv.raw_data(), scratch.raw_data(), chunk, d,
                               cuda::stream_of(q));
  }
  if (dk.numel() > 0) cuda::store_into(dk, out[1]);
  if (dv.numel() > 0) cuda::store_into(dv, out[2]);
}

}  // namespace

void cuda_transformer_kernels() {
  register_kernel(OpId::rms_norm, Backend::CUDA, {rms_norm_kernel, cuda::all_library_float});
  register_kernel(OpId::rms_norm_backward, Backend::CUDA, {rms_norm_backward_kernel, cuda::all_library_float});
  register_kernel(OpId::apply_rotary, Backend::CUDA, {apply_rotary_kernel, cuda::all_library_float});
  register_kernel(OpId::scaled_dot_product_attention, Backend::CUDA, {sdpa_kernel, sdpa_supports});
  register_kernel(OpId::scaled_dot_product_attention_backward, Backend::CUDA,
                  {sdpa_backward_kernel, sdpa_backward_supports});
}

}  // namespace doppel::registration
