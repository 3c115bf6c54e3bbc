// Host glue of the CUDA reductions (sum mean prod amax amin argmax argmin var std logsumexp),
// softmax, log_softmax and their backward ops: the dims to reduce, the row geometry and plan
// (reduce_geometry.h), a workspace for split rows, and the launch on the input's stream.
#include <array>
#include <atomic>

#include "cpu/arg_reduce_dims.h"
#include "cuda/common/cuda_common.h"
#include "cuda/reduce_index/area_registration.h"
#include "cuda/reduce_index/reduce_geometry.h"
#include "doppel/core/error.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/reduction.h"

namespace doppel::registration {
namespace {

using cuda::ReduceOp;

// The multiprocessor count of `device`, asked once per device.
int sm_count(int device) {
  static std::array<std::atomic<int>, 64> cache{};
  DOPPEL_INTERNAL_ASSERT(device >= 0 && device < int(cache.size()));
  int n = cache[size_t(device)].load(std::memory_order_relaxed);
  if (n == 0) {
    DOPPEL_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    cache[size_t(device)].store(n, std::memory_order_relaxed);
  }
  return n;
}

void check_launched(bool ok, const OpCall& c, DType dtype) {
  DOPPEL_CHECK_DTYPE(ok, "{}: the CUDA kernel does not take dtype {}", c.name(), dtype_name(dtype));
}

// Reduces c.in(0) over `dims` (sorted, wrapped) into the contiguous output.
void reduce_into(const OpCall& c, const Tensor& out, ReduceOp op, IntList dims, int64_t correction) {
  const Tensor& x = c.in(0);
  const int device = x.device().index;
  const cuda::DeviceGuard guard(device);
  const cuda::ReduceGeometry g = cuda::reduce_geometry(x.shape(), x.strides(), dims, c.name());
  const cuda::ReducePlan plan = cuda::plan_reduce(g, sm_count(device));
  // The workspace goes back to the stream-ordered pool when this returns: reusable on this
  // stream only after the kernels queued here, so it needs no synchronization.
  const Tensor workspace = plan.splits > 1 ? make_tensor(Shape{g.outputs * plan.splits * cuda::kReducePartialBytes},
                                                         DType::UInt8, x.device())
                                           : Tensor();
  check_launched(cuda::launch_reduce(op, x.dtype(), x.raw_data(), out.raw_data(),
                                     workspace.defined() ? workspace.raw_data() : nullptr, g, plan, correction,
                                     cuda::stream_of(x)),
                 c, x.dtype());
}

template <ReduceOp kOp>
void reduce_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Shape dims = normalize_dims(c.name(), ReduceAttrs::of_prefix(c.attrs).dims, c.in(0).dim());
  const bool has_correction = kOp == ReduceOp::Var || kOp == ReduceOp::Std;
  reduce_into(c, out[0], kOp, dims, has_correction ? VarAttrs::of(c.attrs).correction : 0);
}

// argmax / argmin over arg_reduce_dims.
template <ReduceOp kOp>
void arg_reduce_kernel(const OpCall& c, std::span<const Tensor> out) {
  reduce_into(c, out[0], kOp, arg_reduce_dims(c), 0);
}

// The rows along softmax's dim of `t` (none for a 0-d tensor: one row of one element).
cuda::ReduceGeometry softmax_rows(const OpCall& c, const Tensor& t) {
  Shape dims;
  if (t.dim() > 0) dims.push_back(wrap_dim(c.name(), SoftmaxAttrs::of(c.attrs).dim, t.dim()));
  return cuda::reduce_geometry(t.shape(), t.strides(), dims, c.name());
}

template <bool kLog>
void softmax_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const cuda::DeviceGuard guard(x.device().index);
  const cuda::ReduceGeometry in_g = softmax_rows(c, x), out_g = softmax_rows(c, out[0]);
  check_launched(cuda::launch_softmax(kLog, x.dtype(), x.raw_data(), out[0].raw_data(), in_g, out_g,
                                      cuda::row_threads(in_g.reduced), cuda::stream_of(x)),
                 c, x.dtype());
}

template <bool kLog>
void softmax_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& g = c.in(0);
  const Tensor& y = c.in(1);
  const cuda::DeviceGuard guard(y.device().index);
  const cuda::ReduceGeometry g_g = softmax_rows(c, g), y_g = softmax_rows(c, y), out_g = softmax_rows(c, out[0]);
  check_launched(cuda::launch_softmax_backward(kLog, y.dtype(), g.raw_data(), y.raw_data(), out[0].raw_data(), g_g, y_g,
                                               out_g, cuda::row_threads(y_g.reduced), cuda::stream_of(y)),
                 c, y.dtype());
}

}  // namespace

void cuda_reduction_kernels() {
  register_kernel(OpId::sum, Backend::CUDA, {reduce_kernel<ReduceOp::Sum>});
  register_kernel(OpId::mean, Backend::CUDA, {reduce_kernel<ReduceOp::Mean>});
  register_kernel(OpId::prod, Backend::CUDA, {reduce_kernel<ReduceOp::Prod>});
  register_kernel(OpId::amax, Backend::CUDA, {reduce_kernel<ReduceOp::Amax>});
  register_kernel(OpId::amin, Backend::CUDA, {reduce_kernel<ReduceOp::Amin>});
  register_kernel(OpId::var, Backend::CUDA, {reduce_kernel<ReduceOp::Var>});
  register_kernel(OpId::std, Backend::CUDA, {reduce_kernel<ReduceOp::Std>});
  register_kernel(OpId::logsumexp, Backend::CUDA, {reduce_kernel<ReduceOp::Logsumexp>});
  register_kernel(OpId::argmax, Backend::CUDA, {arg_reduce_kernel<ReduceOp::Argmax>});
  register_kernel(OpId::argmin, Backend::CUDA, {arg_reduce_kernel<ReduceOp::Argmin>});
  register_kernel(OpId::softmax, Backend::CUDA, {softmax_kernel<false>});
  register_kernel(OpId::log_softmax, Backend::CUDA, {softmax_kernel<true>});
  register_kernel(OpId::softmax_backward, Backend::CUDA, {softmax_backward_kernel<false>});
  register_kernel(OpId::log_softmax_backward, Backend::CUDA, {softmax_backward_kernel<true>});
}

}  // namespace doppel::registration
