// CUDA sum, prod, mean, var, std and logsumexp, and launch_reduce's dispatch over all the ops.
#include "cuda/common/dtype_dispatch.cuh"
#include "cuda/reduce_index/reduce_kernels.cuh"

namespace doppel::cuda {

bool launch_reduce(ReduceOp op, DType dtype, const void* in, void* out, void* workspace, const ReduceGeometry& g,
                   const ReducePlan& plan, int64_t correction, cudaStream_t stream) {
  using namespace reduce;
  const auto run = [&](auto policy) { run_reduce(policy, in, out, workspace, g, plan, stream); };
  switch (op) {
    case ReduceOp::Sum:
      return dispatch_all(dtype, [&](auto tag) { run(SumOp<typename decltype(tag)::type, false>{}); });
    case ReduceOp::Prod:
      return dispatch_all(dtype, [&](auto tag) { run(ProdOp<typename decltype(tag)::type>{}); });
    case ReduceOp::Mean:
      return dispatch_floating(dtype, [&](auto tag) { run(SumOp<typename decltype(tag)::type, true>{}); });
    case ReduceOp::Var:
    case ReduceOp::Std:
      return dispatch_floating(dtype, [&](auto tag) {
        run(VarOp<typename decltype(tag)::type>{correction, op == ReduceOp::Std});
      });
    case ReduceOp::Logsumexp:
      return dispatch_floating(dtype, [&](auto tag) { run(LogsumexpOp<typename decltype(tag)::type>{}); });
    default:
      return launch_extremum_reduce(op, dtype, in, out, workspace, g, plan, stream);
  }
}

}  // namespace doppel::cuda
