#include "gpu/gpu_compare.h"

#include <cuda_runtime_api.h>

#include <algorithm>

#include "support/gpu.h"

namespace doppel::testing {

namespace {
void check_cuda(cudaError_t e, const char* what) {
  INFO(what << ": " << cudaGetErrorString(e));
  REQUIRE(e == cudaSuccess);
}
}  // namespace

bool has_class_weights(OpId op, const std::vector<Tensor>& inputs) {
  const bool backward = op == OpId::cross_entropy_backward || op == OpId::nll_loss_backward;
  if (!backward && op != OpId::cross_entropy && op != OpId::nll_loss) return false;
  const size_t k = backward ? 3 : 2;
  return inputs.size() > k && inputs[k].defined();
}

Tensor cuda_copy(const Tensor& t) {
  if (!t.defined()) return t;
  const size_t nbytes = t.storage()->nbytes();
  const int64_t elements = int64_t(nbytes / t.element_size());
  const Tensor base = make_tensor(Shape{std::max<int64_t>(elements, 1)}, t.dtype(), kCuda0);
  if (nbytes > 0)
    check_cuda(cudaMemcpy(base.raw_data(), t.storage()->data(), nbytes, cudaMemcpyHostToDevice), "cuda_copy");
  return make_view(base, t.shape(), t.strides(), t.storage_offset());
}

Tensor host_copy(const Tensor& t) {
  REQUIRE(t.device() == kCuda0);
  REQUIRE(t.is_contiguous());
  check_cuda(cudaDeviceSynchronize(), "synchronize");
  Tensor h = make_tensor(t.shape(), t.dtype(), kCPU);
  if (t.nbytes() > 0)
    check_cuda(cudaMemcpy(h.raw_data(), t.raw_data(), t.nbytes(), cudaMemcpyDeviceToHost), "host_copy");
  return h;
}

Tolerance gpu_tolerance(DType dtype, Tolerance spec) {
  Tolerance t = default_tolerance(dtype);
  if (dtype == DType::Float32) t = {2e-4, 1e-4};
  return {std::max(t.rtol, spec.rtol), std::max(t.atol, spec.atol)};
}

void check_against_reference(OpId op, const std::vector<Tensor>& inputs, const Attrs& attrs, Tolerance tol) {
  OpOutputs ref;
  {
    ForceBackendGuard g(Backend::Reference);
    ref = dispatch(op, inputs, attrs);
  }
  for (const bool strided : {false, true}) {
    std::vector<Tensor> dev;
    for (const Tensor& t : inputs) dev.push_back(cuda_copy(strided && t.defined() ? make_noncontiguous(t) : t));
    INFO((strided ? "strided inputs" : "inputs as given"));
    const OpOutputs got = dispatch(op, dev, attrs);
    REQUIRE(last_selected_backend() == Backend::CUDA);
    REQUIRE(got.n == ref.n);
    for (int k = 0; k < ref.n; ++k) {
      INFO("output " << k);
      DOPPEL_REQUIRE_CLOSE(host_copy(got[k]), ref[k], tol);
    }
  }
}

}  // namespace doppel::testing
