// Host glue of the CUDA factory, random and dropout kernels (factory.cu): attributes to launch
// parameters, computed as the reference kernels compute them.
#include <optional>

#include "cpu/factory_math.h"
#include "cpu/numel_count.h"
#include "cuda/pointwise/operands.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/factory.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using cuda::FactoryOp;
using cuda::RandomOp;

template <FactoryOp Op>
void factory_kernel(const OpCall& c, std::span<const Tensor> o) {
  cuda::FactoryAttrs at;
  if constexpr (Op == FactoryOp::full) {
    at.a = FullAttrs::of(c.attrs).value;
  } else if constexpr (Op == FactoryOp::arange) {
    const auto attr = ArangeAttrs::of(c.attrs);
    at.a = attr.start;
    at.b = attr.step;
  } else if constexpr (Op == FactoryOp::linspace) {
    const auto params = LinspaceAttrs::of(c.attrs);
    at.a = params.start;
    at.b = params.end;
    at.i = params.steps;
    at.c = at.i > 1 ? (at.b - at.a) / double(at.i - 1) : 0.0;
  } else {
    at.i = EyeAttrs::of(c.attrs).m;
  }
  cuda::launch_factory(Op, o[0].dtype(), o[0].raw_data(), o[0].numel(), at, cuda::stream_of(o[0]));
}

// numel: the count comes from the input's shape on the host; the fill kernel writes it.
void numel_kernel(const OpCall& c, std::span<const Tensor> o) {
  cuda::FactoryAttrs at;
  at.a = numel_count(c);
  cuda::launch_factory(FactoryOp::full, o[0].dtype(), o[0].raw_data(), 1, at, cuda::stream_of(o[0]));
}

// The largest value of the floating output dtype below `hi`, as a double (exact in double).
double below_in(DType dtype, double hi) {
  double top = 0;
  DOPPEL_DISPATCH_FLOATING(dtype, "uniform",
                           [&]<typename T>() { top = double(compute_t<T>(factory_math::below<T>(hi))); });
  return top;
}

template <RandomOp Op>
void random_kernel(const OpCall& c, std::span<const Tensor> o) {
  const Tensor& out = o[0];
  cuda::RandomAttrs at;
  const auto attr = RandomOpAttrs::of(c.attrs);
  at.seed = uint64_t(attr.seed);
  at.offset = uint64_t(attr.offset);
  at.a = attr.a;
  at.b = attr.b;
  if constexpr (Op == RandomOp::uniform) {
    at.clamp_top = at.b > at.a && is_floating(out.dtype());
    if (at.clamp_top) at.top = below_in(out.dtype(), at.b);
  } else if constexpr (Op == RandomOp::randint) {
    at.lo = int64_t(at.a);
    at.range = uint64_t(int64_t(at.b) - at.lo);
  }
  cuda::launch_random(Op, out.dtype(), out.raw_data(), out.numel(), at, cuda::stream_of(out));
}

// dropout reads a contiguous input (a strided one is copied on the device first).
void dropout_kernel(const OpCall& c, std::span<const Tensor> o) {
  const auto a = DropoutAttrs::of(c.attrs);
  const Tensor x = cuda::pw::contiguous(c.in(0), "dropout");
  cuda::launch_dropout(x.dtype(), x.raw_data(), o[0].raw_data(), static_cast<bool*>(o[1].raw_data()), x.numel(), a.p,
                       a.training, uint64_t(a.seed), uint64_t(a.offset), cuda::stream_of(o[0]));
}

bool supports_dropout(const OpCall& c) { return c.in(0).device().is_cuda(); }

}  // namespace

void cuda_factory_kernels() {
  register_kernel(OpId::full, Backend::CUDA, {factory_kernel<FactoryOp::full>});
  register_kernel(OpId::numel, Backend::CUDA, {numel_kernel});
  register_kernel(OpId::arange, Backend::CUDA, {factory_kernel<FactoryOp::arange>});
  register_kernel(OpId::linspace, Backend::CUDA, {factory_kernel<FactoryOp::linspace>});
  register_kernel(OpId::eye, Backend::CUDA, {factory_kernel<FactoryOp::eye>});
  register_kernel(OpId::uniform, Backend::CUDA, {random_kernel<RandomOp::uniform>});
  register_kernel(OpId::normal, Backend::CUDA, {random_kernel<RandomOp::normal>});
  register_kernel(OpId::randint, Backend::CUDA, {random_kernel<RandomOp::randint>});
  register_kernel(OpId::dropout, Backend::CUDA, {dropout_kernel, supports_dropout});
}

}  // namespace doppel::registration
