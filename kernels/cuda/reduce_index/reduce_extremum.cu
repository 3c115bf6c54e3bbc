// CUDA amax, amin, argmax and argmin (NaN and tie rules in reduce_ops.cuh).
#include "cuda/common/dtype_dispatch.cuh"
#include "cuda/reduce_index/reduce_kernels.cuh"

namespace doppel::cuda::reduce {

bool launch_extremum_reduce(ReduceOp op, DType dtype, const void* in, void* out, void* workspace,
                            const ReduceGeometry& g, const ReducePlan& plan, cudaStream_t stream) {
  const auto run = [&](auto policy) { run_reduce(policy, in, out, workspace, g, plan, stream); };
  switch (op) {
    case ReduceOp::Amax:
      return dispatch_all(dtype, [&](auto tag) { run(ExtremumOp<typename decltype(tag)::type, true>{}); });
    case ReduceOp::Amin:
      return dispatch_all(dtype, [&](auto tag) { run(ExtremumOp<typename decltype(tag)::type, false>{}); });
    case ReduceOp::Argmax:
      return dispatch_all(dtype, [&](auto tag) { run(ArgOp<typename decltype(tag)::type, true>{}); });
    case ReduceOp::Argmin:
      return dispatch_all(dtype, [&](auto tag) { run(ArgOp<typename decltype(tag)::type, false>{}); });
    default:
      return false;
  }
}

}  // namespace doppel::cuda::reduce
