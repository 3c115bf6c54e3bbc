// Host glue of the CUDA transformer kernels (transformer.cu): inputs made contiguous (cos/sin and
// the attention mask broadcast first), the weights and statistics in the accumulation dtype, and
// the attention's scratch rows. Attention operands are materialised over the output's batch dims
// (key/value keep fewer heads under enable_gqa: the kernel maps them), and the gradients of
// broadcast operands are summed back by the CUDA sum kernel. Key and value with different head
// counts have no CUDA kernel (supports() says so).
#include <algorithm>
#include <array>

#include "cuda/libraries/library_common.h"
#include "cuda/transformer/transformer_kernels.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "doppel/kernels/op_attrs/reduction.h"
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

// The batch dims key or value is materialised with: the output's batch, except under enable_gqa
// a heads dim (the last) that divides the query's, which the kernel maps (no repeat_kv copy).
Shape kv_batch(IntList batch, const Tensor& t, bool gqa) {
  Shape b(batch);
  if (gqa && !b.empty() && t.dim() >= 3) {
    const int64_t h = t.shape()[size_t(t.dim() - 3)];
    if (h > 0 && h != b.back() && b.back() % h == 0) b.back() = h;
  }
  return b;
}

// t broadcast to batch + its own matrix dims, contiguous.
Tensor materialised(const Tensor& t, IntList batch) {
  Shape s(batch);
  s.push_back(t.shape()[size_t(t.dim() - 2)]);
  s.push_back(t.shape().back());
  return broadcast_to(t, s);
}

// Sums `full` (a gradient over the materialised batch) into `out`, of the input's shape: over
// the dims the input broadcast (missing or of size 1), by the CUDA sum kernel.
void sum_into(const Tensor& full, const Tensor& out) {
  const int64_t lead = full.dim() - out.dim();
  Shape dims, kept;
  for (int64_t d = 0; d < full.dim(); ++d) {
    const bool reduce = d < lead || (out.shape()[size_t(d - lead)] == 1 && full.shape()[size_t(d)] != 1);
    if (reduce) dims.push_back(d);
    kept.push_back(reduce ? 1 : full.shape()[size_t(d)]);
  }
  if (dims.empty()) {
    cuda::store_into(full, out);
    return;
  }
  const Tensor view = make_view(out, kept, contiguous_strides(kept), out.storage_offset());
  const Tensor tmp = make_tensor(kept, full.dtype(), full.device());
  cuda::run_cuda_op(OpId::sum, std::vector<Tensor>{full}, ReduceAttrs{.dims = dims, .keepdim = true}.pack(),
                    std::vector<Tensor>{tmp});
  cuda::store_into(tmp, view);
}

// Query, key, value from input `q` on, the mask at input `mask`: floating, one dtype (inference
// checked), key and value with the same heads.
bool sdpa_supports_call(const OpCall& c, IntList batch, bool gqa, size_t q, size_t mask) {
  const Tensor m = optional_input(c, mask);
  if (!cuda::library_float(c.in(q).dtype()) ||
      (m.defined() && m.dtype() != DType::Bool && m.dtype() != c.in(q).dtype()))
    return false;
  return kv_batch(batch, c.in(q + 1), gqa) == kv_batch(batch, c.in(q + 2), gqa);
}

cuda::SdpaDims dims_of(IntList batch, IntList kvb, const Tensor& q, const Tensor& k, const Tensor& v,
                       std::optional<double> scale, bool causal, double p) {
  cuda::SdpaDims d;
  d.nb = numel_of(batch);
  d.H = batch.empty() ? 1 : std::max<int64_t>(batch.back(), 1);
  d.rep = batch.empty() ? 1 : d.H / std::max<int64_t>(kvb.back(), 1);
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

Shape batch_of(const Shape& out_shape) { return Shape(out_shape.begin(), out_shape.end() - 2); }

bool sdpa_supports(const OpCall& c) {
  std::array<OutputMeta, 2> meta;
  op_def(c.op).infer(c, meta);
  return sdpa_supports_call(c, batch_of(meta[kSdpaOut].shape), SdpaAttrs::of(c.attrs).enable_gqa, kSdpaQuery,
                            kSdpaMask);
}

void sdpa_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = SdpaAttrs::of(c.attrs);
  const Shape batch = batch_of(out[kSdpaOut].shape());
  const Shape kvb = kv_batch(batch, c.in(kSdpaKey), a.enable_gqa);
  const Tensor q = materialised(c.in(kSdpaQuery), batch), k = materialised(c.in(kSdpaKey), kvb),
               v = materialised(c.in(kSdpaValue), kvb);
  cuda::SdpaDims d = dims_of(batch, kvb, q, k, v, a.scale, a.is_causal, a.dropout_p);
  d.seed = uint64_t(a.seed);
  d.offset = uint64_t(a.offset);
  const int64_t rng[2] = {a.seed, a.offset};
  const cuda::DeviceGuard guard(q.device().index);
  DOPPEL_CUDA_CHECK(
      cudaMemcpyAsync(out[kSdpaRng].raw_data(), rng, sizeof rng, cudaMemcpyHostToDevice, cuda::stream_of(q)));
  // The pageable source must outlive the copy.
  DOPPEL_CUDA_CHECK(cudaStreamSynchronize(cuda::stream_of(q)));
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
  return sdpa_supports_call(c, batch_of(c.in(kSdpaBwGrad).shape()), SdpaBackwardAttrs::of(c.attrs).enable_gqa,
                            kSdpaBwQuery, kSdpaBwMask);
}

void sdpa_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = SdpaBackwardAttrs::of(c.attrs);
  const Tensor g = contiguous_cuda(c.in(kSdpaBwGrad));
  const Shape batch = batch_of(g.shape());
  const Shape kvb = kv_batch(batch, c.in(kSdpaBwKey), a.enable_gqa);
  const Tensor q = materialised(c.in(kSdpaBwQuery), batch), k = materialised(c.in(kSdpaBwKey), kvb),
               v = materialised(c.in(kSdpaBwValue), kvb);
  cuda::SdpaDims d = dims_of(batch, kvb, q, k, v, a.scale, a.is_causal, a.dropout_p);
  int64_t rng[2] = {0, 0};
  const cuda::DeviceGuard guard(q.device().index);
  const Tensor r = contiguous_cuda(c.in(kSdpaBwRng));
  DOPPEL_CUDA_CHECK(cudaMemcpyAsync(rng, r.raw_data(), sizeof rng, cudaMemcpyDeviceToHost, cuda::stream_of(q)));
  DOPPEL_CUDA_CHECK(cudaStreamSynchronize(cuda::stream_of(q)));
  d.seed = uint64_t(rng[0]);
  d.offset = uint64_t(rng[1]);
  const DType acc = nn_attrs::norm_stats_dtype(q.dtype());
  // Gradients over the materialised batch: query's in its dtype, key's and value's accumulated
  // atomically in `acc` from zero.
  const Tensor dq = make_tensor(q.shape(), q.dtype(), q.device());
  const Tensor dk = make_tensor(k.shape(), acc, k.device()), dv = make_tensor(v.shape(), acc, v.device());
  for (const Tensor& t : {dq, dk, dv})
    if (t.numel() > 0) DOPPEL_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, t.nbytes(), cuda::stream_of(q)));
  if (g.numel() > 0) {
    const Tensor mask = full_mask(c, kSdpaBwMask, batch, d);
    d.mask_bool = mask.defined() && mask.dtype() == DType::Bool;
    const int64_t chunk = chunk_rows(d, 2);
    const Tensor scratch =
        cuda::workspace(size_t(chunk * 2 * std::max<int64_t>(d.S, 1)) * element_size(acc), q.device());
    cuda::launch_sdpa_backward(q.dtype(), g.raw_data(), q.raw_data(), k.raw_data(), v.raw_data(), data_or_null(mask),
                               dq.raw_data(), dk.raw_data(), dv.raw_data(), scratch.raw_data(), chunk, d,
                               cuda::stream_of(q));
  }
  for (int i = 0; i < 3; ++i) {
    const Tensor& full = i == 0 ? dq : i == 1 ? dk : dv;
    if (out[size_t(i)].numel() > 0) sum_into(full, out[size_t(i)]);
  }
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
