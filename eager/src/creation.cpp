#include "doppel/ops/creation.h"

#include <cmath>

#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/factory.h"

namespace doppel {
namespace {

Tensor random_op(OpId op, IntList shape, double a, double b, TensorOptions opts, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  // One Philox block per element is an upper bound on what any random kernel draws.
  const auto [seed, offset] = g.reserve(rng_blocks(op_def(op), numel_of(shape)));
  return dispatch1(op, {},
                   RandomOpAttrs{.shape = shape,
                                 .a = a,
                                 .b = b,
                                 .dtype = opts.dtype,
                                 .device = opts.device,
                                 .seed = int64_t(seed),
                                 .offset = int64_t(offset)}
                       .pack());
}

}  // namespace

Tensor empty(IntList shape, TensorOptions opts, SourceLoc loc) {
  CallSiteScope s(loc);
  for (int64_t d : shape) DOPPEL_CHECK_SHAPE(d >= 0, "empty: negative dimension {} in shape {}", d, shape_str(shape));
  return make_tensor(shape, opts.dtype, opts.device);
}

Tensor full(IntList shape, Scalar value, TensorOptions opts, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(
      OpId::full, {},
      FullAttrs{.shape = shape, .value = value.to_double(), .dtype = opts.dtype, .device = opts.device}.pack());
}
Tensor zeros(IntList shape, TensorOptions opts, SourceLoc loc) { return full(shape, 0, opts, loc); }
Tensor ones(IntList shape, TensorOptions opts, SourceLoc loc) { return full(shape, 1, opts, loc); }
Tensor zeros_like(const Tensor& t, SourceLoc loc) { return full(t.shape(), 0, {t.dtype(), t.device()}, loc); }
Tensor ones_like(const Tensor& t, SourceLoc loc) { return full(t.shape(), 1, {t.dtype(), t.device()}, loc); }
Tensor empty_like(const Tensor& t, SourceLoc loc) { return empty(t.shape(), {t.dtype(), t.device()}, loc); }
Tensor full_like(const Tensor& t, Scalar value, SourceLoc loc) {
  return full(t.shape(), value, {t.dtype(), t.device()}, loc);
}

Tensor arange(Scalar end, SourceLoc loc) { return arange(0, end, 1, std::nullopt, loc); }

Tensor arange(Scalar start, Scalar end, Scalar step, std::optional<TensorOptions> opts, SourceLoc loc) {
  CallSiteScope s(loc);
  TensorOptions o = opts.value_or(TensorOptions{
      .dtype = start.is_floating() || end.is_floating() || step.is_floating() ? DType::Float32 : DType::Int64});
  return dispatch1(OpId::arange, {},
                   ArangeAttrs{.start = start.to_double(),
                               .end = end.to_double(),
                               .step = step.to_double(),
                               .dtype = o.dtype,
                               .device = o.device}
                       .pack());
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions opts, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(
      OpId::linspace, {},
      LinspaceAttrs{.start = start, .end = end, .steps = steps, .dtype = opts.dtype, .device = opts.device}.pack());
}

Tensor eye(int64_t n, std::optional<int64_t> m, TensorOptions opts, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_SHAPE(n >= 0 && m.value_or(n) >= 0, "eye: sizes must be non-negative, got n={} m={}", n, m.value_or(n));
  return dispatch1(OpId::eye, {},
                   EyeAttrs{.n = n, .m = m.value_or(n), .dtype = opts.dtype, .device = opts.device}.pack());
}

Tensor uniform(IntList shape, double low, double high, TensorOptions opts, Generator* gen, SourceLoc loc) {
  CallSiteScope s(loc);
  return random_op(OpId::uniform, shape, low, high, opts, gen);
}
Tensor normal(IntList shape, double mean, double std, TensorOptions opts, Generator* gen, SourceLoc loc) {
  CallSiteScope s(loc);
  return random_op(OpId::normal, shape, mean, std, opts, gen);
}
Tensor rand(IntList shape, TensorOptions opts, Generator* gen, SourceLoc loc) { return uniform(shape, 0, 1, opts, gen, loc); }
Tensor randn(IntList shape, TensorOptions opts, Generator* gen, SourceLoc loc) { return normal(shape, 0, 1, opts, gen, loc); }
Tensor randint(int64_t low, int64_t high, IntList shape, TensorOptions opts, Generator* gen, SourceLoc loc) {
  CallSiteScope s(loc);
  return random_op(OpId::randint, shape, double(low), double(high), opts, gen);
}

template <typename T>
Tensor tensor(const std::vector<T>& values, IntList shape, SourceLoc loc) {
  CallSiteScope s(loc);
  const int64_t n = int64_t(values.size());
  Shape sh = shape.empty() ? Shape{n} : Shape(shape);
  DOPPEL_CHECK_SHAPE(numel_of(sh) == n, "tensor: {} values do not fill shape {}", n, shape_str(sh));
  Tensor t = make_tensor(sh, dtype_v<T>);
  T* p = t.data_ptr<T>();
  for (int64_t i = 0; i < n; ++i) p[i] = values[size_t(i)];
  return t;
}
template Tensor tensor(const std::vector<float>&, IntList, SourceLoc);
template Tensor tensor(const std::vector<double>&, IntList, SourceLoc);
template Tensor tensor(const std::vector<bfloat16>&, IntList, SourceLoc);
template Tensor tensor(const std::vector<float16>&, IntList, SourceLoc);
template Tensor tensor(const std::vector<int8_t>&, IntList, SourceLoc);
template Tensor tensor(const std::vector<uint8_t>&, IntList, SourceLoc);
template Tensor tensor(const std::vector<int32_t>&, IntList, SourceLoc);
template Tensor tensor(const std::vector<int64_t>&, IntList, SourceLoc);
template Tensor tensor(const std::vector<bool>&, IntList, SourceLoc);

Tensor from_buffer(void* data, IntList shape, DType dtype, IntList strides, std::function<void(void*)> deleter,
                   SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK(data != nullptr || numel_of(shape) == 0, "from_buffer: data is null for shape {}", shape_str(shape));
  return from_blob(data, shape, strides.empty() ? IntList(contiguous_strides(shape)) : strides, dtype, kCPU,
                   std::move(deleter));
}

Tensor scalar(Scalar value, std::optional<DType> dtype, SourceLoc loc) {
  CallSiteScope s(loc);
  return full({}, value, {.dtype = dtype.value_or(value.default_dtype())});
}

}  // namespace doppel
