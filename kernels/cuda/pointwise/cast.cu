// CUDA kernel of copy and cast on one device: a converting map with the CPU's rules
// (core's copy_strided): through the source's compute type, then the destination's; a bool
// destination is "non-zero".
#include "cuda/pointwise/pointwise_loops.cuh"

namespace doppel::cuda {
namespace {

template <typename To>
struct CastFn {
  template <typename C>
  __device__ auto operator()(C x) const {
    if constexpr (std::is_same_v<To, bool>)
      return x != C(0);
    else
      return device_compute_t<To>(x);
  }
};

}  // namespace

void launch_cast(DType from, DType to, const InArg& x, const OutArg& out, int64_t n, cudaStream_t s) {
  pw::for_all(to, "cast", [&]<typename To>() {
    pw::for_all(from, "cast",
                [&]<typename From>() { pw::launch_map<To>("cast", out, n, CastFn<To>{}, s, pw::typed<From>(x)); });
  });
}

}  // namespace doppel::cuda
