// Host glue of the CUDA group_norm and group_norm_backward: the [N, C, S] view, the optional
// weight and bias, the statistics, and the launch on the input's stream (group_norm_launch.h).
#include "cuda/common/cuda_common.h"
#include "cuda/reduce_index/area_registration.h"
#include "cuda/reduce_index/group_norm_launch.h"
#include "cuda/reduce_index/reduce_geometry.h"
#include "doppel/core/error.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/nn.h"

namespace doppel::registration {
namespace {

using namespace nn_attrs;

cuda::GroupNormShape shape_of(const Tensor& x, int64_t groups) {
  cuda::GroupNormShape s;
  s.N = x.shape()[0];
  s.C = x.shape()[1];
  s.S = s.N == 0 || s.C == 0 ? 0 : x.numel() / (s.N * s.C);
  s.G = groups;
  return s;
}

// Input k of the call, when present and defined.
const Tensor* optional_input(const OpCall& c, size_t k) {
  return c.inputs.size() > k && c.in(k).defined() ? &c.in(k) : nullptr;
}

cuda::ParamRef param_ref(const OpCall& c, const Tensor* t) {
  cuda::ParamRef p;
  if (t == nullptr) return p;
  p.data = t->raw_data();
  p.dtype = t->dtype();
  p.ix = cuda::merged_indexer(t->shape(), t->strides(), c.name());
  return p;
}

cuda::StridedIndexer walk(const OpCall& c, const Tensor& t) {
  return cuda::merged_indexer(t.shape(), t.strides(), c.name());
}

void check_launched(bool ok, const OpCall& c, DType dtype) {
  DOPPEL_CHECK_DTYPE(ok, "{}: the CUDA kernel takes floating inputs only, got {}", c.name(), dtype_name(dtype));
}

void group_norm_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const auto a = GroupNormAttrs::of(c.attrs);
  const cuda::GroupNormShape s = shape_of(x, a.num_groups);
  const cuda::DeviceGuard guard(x.device().index);
  const bool ok = cuda::launch_group_norm(x.dtype(), x.raw_data(), walk(c, x), param_ref(c, optional_input(c, 1)),
                                          param_ref(c, optional_input(c, 2)), out[0].raw_data(), out[1].raw_data(),
                                          out[2].raw_data(), out[1].dtype(), s, a.eps,
                                          cuda::row_threads(s.G == 0 ? 0 : s.C / s.G * s.S), cuda::stream_of(x));
  check_launched(ok, c, x.dtype());
}

void group_norm_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& g = c.in(kNormBwGrad);
  const Tensor& x = c.in(kNormBwInput);
  const auto a = GroupNormBackwardAttrs::of(c.attrs);
  const cuda::GroupNormShape s = shape_of(x, a.num_groups);
  const auto& mask = a.output_mask;
  const auto wanted = [&](size_t k) { return mask[k] != 0 ? out[k].raw_data() : nullptr; };
  const cuda::DeviceGuard guard(x.device().index);
  const bool ok = cuda::launch_group_norm_backward(
      x.dtype(), g.raw_data(), walk(c, g), x.raw_data(), walk(c, x), param_ref(c, &c.in(kNormBwMean)),
      param_ref(c, &c.in(kNormBwRstd)), param_ref(c, optional_input(c, kNormBwWeight)), wanted(0), wanted(1), wanted(2),
      out[1].dtype(), s, cuda::row_threads(s.G == 0 ? 0 : s.C / s.G * s.S), cuda::stream_of(x));
  check_launched(ok, c, x.dtype());
}

}  // namespace

void cuda_group_norm_kernels() {
  register_kernel(OpId::group_norm, Backend::CUDA, {group_norm_kernel});
  register_kernel(OpId::group_norm_backward, Backend::CUDA, {group_norm_backward_kernel});
}

}  // namespace doppel::registration
