// CUDA plans of the executor (cuda_graph.h): capture and replay of a context's kernel list, and
// the copies into and out of the plan's device buffers.
#include "cuda_graph.h"

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/views.h"

#ifdef DOPPEL_WITH_CUDA
#include "doppel/core/cuda/allocator.h"
#include "doppel/core/cuda/runtime.h"
#endif

namespace doppel::graph {

void copy_for_cuda_plan(const Tensor& dst, const Tensor& src) {
  DOPPEL_CHECK_SHAPE(dst.shape() == src.shape(), "graph run: copying shape {} into shape {}", shape_str(src.shape()),
                     shape_str(dst.shape()));
  if (dst.numel() == 0) return;
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    copy_across_devices(dst, src);
    return;
  }
  DOPPEL_CHECK_DEVICE(dst.device() == src.device(),
                      "graph run: a strided or converting copy from {} to {}; pass contiguous tensors of the graph's "
                      "dtype, or tensors on the graph's device",
                      src.device().str(), dst.device().str());
  const Attrs attrs = CastAttrs{.dtype = dst.dtype()}.pack();
  const Tensor ins[] = {src};
  const OpCall call{OpId::cast, ins, attrs};
  const Tensor outs[] = {dst};
  select_kernel(call, dst.device()).run(call, std::span<const Tensor>(outs));
}

#ifdef DOPPEL_WITH_CUDA

struct CudaGraphRunner::Impl {
  Impl(int d, bool c) : device(d), capture_enabled(c), pool(d) {}
  ~Impl() { reset(); }

  // Destroys the captured graph (its memory stays in the private pool for the next capture).
  void reset() noexcept {
    if (exec) (void)cudaGraphExecDestroy(exec);  // cannot throw from a destructor
    exec = nullptr;
  }

  void capture(const std::function<void()>& steps) {
    cudaStream_t stream = cuda::current_stream(device);
    // Relaxed: a temporary that does not fit the pool's cached blocks may still cudaMalloc; its
    // memory stays in the private pool, owned by this graph.
    DOPPEL_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
    try {
      cuda::PrivatePoolScope scope(pool);
      steps();
    } catch (...) {
      cudaGraph_t partial = nullptr;
      (void)cudaStreamEndCapture(stream, &partial);  // leave capture mode; the first error wins
      if (partial) (void)cudaGraphDestroy(partial);
      throw;
    }
    cudaGraph_t g = nullptr;
    DOPPEL_CUDA_CHECK(cudaStreamEndCapture(stream, &g));
    const cudaError_t err = cudaGraphInstantiate(&exec, g, 0);
    (void)cudaGraphDestroy(g);
    DOPPEL_CUDA_CHECK(err);
  }

  int device;
  bool capture_enabled;
  cuda::PrivatePool pool;
  cudaStream_t last_stream = nullptr;
  cudaGraphExec_t exec = nullptr;
  int runs = 0;  // runs since the addresses last changed
  std::vector<const void*> addresses;
};

CudaGraphRunner::CudaGraphRunner(int device, bool capture) : impl_(std::make_unique<Impl>(device, capture)) {}

CudaGraphRunner::~CudaGraphRunner() = default;

void CudaGraphRunner::run(const std::vector<const void*>& addresses, const std::function<void()>& steps) {
  Impl& m = *impl_;
  cuda::DeviceGuard guard(m.device);
  cudaStream_t stream = cuda::current_stream(m.device);
  if (m.last_stream && m.last_stream != stream) DOPPEL_CUDA_CHECK(cudaStreamSynchronize(m.last_stream));
  m.last_stream = stream;
  if (!m.capture_enabled) {
    steps();
    return;
  }
  if (addresses != m.addresses) {
    m.reset();
    m.addresses = addresses;
    m.runs = 0;
  }
  if (m.runs == 0) {
    cuda::PrivatePoolScope scope(m.pool);
    steps();
  } else if (!m.exec) {
    m.capture(steps);
  }
  if (m.exec) DOPPEL_CUDA_CHECK(cudaGraphLaunch(m.exec, stream));
  ++m.runs;
}

#else  // !DOPPEL_WITH_CUDA: no tensor can be on a CUDA device, so no CUDA plan exists.

struct CudaGraphRunner::Impl {};

CudaGraphRunner::CudaGraphRunner(int device, bool) {
  detail::throw_error<DeviceError>(
      fmt::format("graph run on cuda:{}: doppel was built without CUDA (the DOPPEL_CUDA option)", device));
}

CudaGraphRunner::~CudaGraphRunner() = default;

void CudaGraphRunner::run(const std::vector<const void*>&, const std::function<void()>&) {}

#endif

}  // namespace doppel::graph
