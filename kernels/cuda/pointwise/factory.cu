// CUDA kernels of the factory ops (full, arange, linspace, eye), the random ops (uniform, normal,
// randint) and dropout. Values come from the functions the reference kernels call
// (cpu/factory_math.h, cpu/random_math.h) and are rounded to the dtype the same way (through the
// compute type), and element k of a random op reads word k % 4 of Philox block offset + k / 4 on
// both backends, so the CUDA output equals the CPU's bit for bit wherever the double math does
// (uniform, randint and dropout always; normal up to the device's log/sin/cos rounding).
#include "cpu/factory_math.h"
#include "cpu/random_math.h"
#include "cuda/pointwise/pointwise_loops.cuh"

namespace doppel::cuda {
namespace {

using pw::thread_count;
using pw::thread_index;

template <FactoryOp Op, typename T>
__global__ void factory_kernel(T* out, int64_t n, FactoryAttrs at) {
  for (int64_t k = thread_index(); k < n; k += thread_count()) {
    double v;
    if constexpr (Op == FactoryOp::full)
      v = at.a;
    else if constexpr (Op == FactoryOp::arange)
      v = factory_math::arange_value(at.a, at.b, k);
    else if constexpr (Op == FactoryOp::linspace)
      v = factory_math::linspace_value(at.a, at.b, at.c, at.i, k);
    else
      v = factory_math::eye_value(at.i, k);
    out[k] = convert<T>(v);
  }
}

template <FactoryOp Op>
void run_factory(const char* name, DType dtype, void* out, int64_t n, const FactoryAttrs& at, cudaStream_t s) {
  pw::for_all(dtype, name, [&]<typename T>() {
    const Launch l = launch_for(n);
    factory_kernel<Op, T><<<l.blocks, l.threads, 0, s>>>(static_cast<T*>(out), n, at);
    DOPPEL_CUDA_CHECK_LAUNCH("factory_kernel");
  });
}

// One thread per Philox block: elements 4b .. 4b + 3.
template <RandomOp Op, typename T>
__global__ void random_kernel(T* out, int64_t n, RandomAttrs at) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t blk = thread_index(); blk < blocks; blk += thread_count()) {
    const PhiloxWords w = Philox(at.seed, at.offset + uint64_t(blk)).next();
    for (int j = 0; j < 4 && blk * 4 + j < n; ++j) {
      double v;
      if constexpr (Op == RandomOp::uniform)
        v = rnd::uniform_value(w, j, at.a, at.b);
      else if constexpr (Op == RandomOp::normal)
        v = rnd::normal_value(w, j, at.a, at.b);
      else
        v = double(rnd::randint_value(w, j, at.lo, at.range));
      T x = convert<T>(v);
      if constexpr (!std::is_integral_v<T>)
        if (at.clamp_top && double(convert<device_compute_t<T>>(x)) >= at.b) x = convert<T>(at.top);
      out[blk * 4 + j] = x;
    }
  }
}

template <RandomOp Op>
void run_random(const char* name, DType dtype, void* out, int64_t n, const RandomAttrs& at, cudaStream_t s) {
  pw::for_all(dtype, name, [&]<typename T>() {
    const Launch l = launch_for((n + 3) / 4);
    random_kernel<Op, T><<<l.blocks, l.threads, 0, s>>>(static_cast<T*>(out), n, at);
    DOPPEL_CUDA_CHECK_LAUNCH("random_kernel");
  });
}

template <typename T>
__global__ void dropout_kernel(const T* x, T* out, bool* mask, int64_t n, double p, bool training, uint64_t seed,
                               uint64_t offset) {
  using C = device_compute_t<T>;
  const double scale = rnd::dropout_scale(p);
  const int64_t blocks = (n + 3) / 4;
  for (int64_t blk = thread_index(); blk < blocks; blk += thread_count()) {
    PhiloxWords w{};
    if (training) w = Philox(seed, offset + uint64_t(blk)).next();
    for (int j = 0; j < 4 && blk * 4 + j < n; ++j) {
      const int64_t k = blk * 4 + j;
      if (!training) {
        out[k] = x[k];
        mask[k] = true;
        continue;
      }
      const bool keep = rnd::dropout_keep(w, j, p);
      mask[k] = keep;
      out[k] = convert<T>(C(rnd::dropout_value(double(convert<C>(x[k])), keep, scale)));
    }
  }
}

}  // namespace

void launch_factory(FactoryOp op, DType dtype, void* out, int64_t n, const FactoryAttrs& at, cudaStream_t s) {
  if (n == 0) return;
  switch (op) {
    case FactoryOp::full:
      return run_factory<FactoryOp::full>("full", dtype, out, n, at, s);
    case FactoryOp::arange:
      return run_factory<FactoryOp::arange>("arange", dtype, out, n, at, s);
    case FactoryOp::linspace:
      return run_factory<FactoryOp::linspace>("linspace", dtype, out, n, at, s);
    case FactoryOp::eye:
      return run_factory<FactoryOp::eye>("eye", dtype, out, n, at, s);
  }
}

void launch_random(RandomOp op, DType dtype, void* out, int64_t n, const RandomAttrs& at, cudaStream_t s) {
  if (n == 0) return;
  switch (op) {
    case RandomOp::uniform:
      return run_random<RandomOp::uniform>("uniform", dtype, out, n, at, s);
    case RandomOp::normal:
      return run_random<RandomOp::normal>("normal", dtype, out, n, at, s);
    case RandomOp::randint:
      return run_random<RandomOp::randint>("randint", dtype, out, n, at, s);
  }
}

void launch_dropout(DType dtype, const void* x, void* out, bool* mask, int64_t n, double p, bool training,
                    uint64_t seed, uint64_t offset, cudaStream_t s) {
  if (n == 0) return;
  pw::for_floating(dtype, "dropout", [&]<typename T>() {
    const Launch l = launch_for((n + 3) / 4);
    dropout_kernel<T><<<l.blocks, l.threads, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(out), mask, n, p,
                                                     training, seed, offset);
    DOPPEL_CUDA_CHECK_LAUNCH("dropout_kernel");
  });
}

}  // namespace doppel::cuda
