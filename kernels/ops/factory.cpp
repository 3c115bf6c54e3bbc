// Factories: ops with no tensor inputs whose dtype, device and shape come from attributes.
// Random factories carry (seed, offset) attributes drawn by the eager Generator, so a kernel
// call is a pure function of its attributes.
#include <cmath>

#include "doppel/kernels/op_attrs/factory.h"
#include "registration.h"

namespace doppel::registration {
namespace {

void check_shape(const OpCall& c, IntList shape) {
  for (int64_t s : shape)
    DOPPEL_CHECK_SHAPE(s >= 0, "{}: negative dimension {} in shape {}", c.name(), s, shape_str(shape));
}

// Every factory's attributes end in (dtype, device), named alike.
template <class A>
void set_out(const OpCall& c, std::span<OutputMeta> out, IntList shape, const A& a) {
  check_shape(c, shape);
  out[0].shape = Shape(shape);
  out[0].dtype = a.dtype;
  out[0].device = a.device;
}

void infer_full(const OpCall& c, std::span<OutputMeta> out) {
  const auto a = FullAttrs::of(c.attrs);
  set_out(c, out, a.shape, a);
}

void infer_arange(const OpCall& c, std::span<OutputMeta> out) {
  const auto a = ArangeAttrs::of(c.attrs);
  const double start = a.start, end = a.end, step = a.step;
  DOPPEL_CHECK(step != 0 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
               "arange: step must be non-zero and bounds finite (start={}, end={}, step={})", start, end, step);
  DOPPEL_CHECK((end - start) / step >= 0, "arange: step {} moves away from end (start={}, end={})", step, start, end);
  const double n = std::ceil((end - start) / step);
  DOPPEL_CHECK(n < 9.0e15, "arange: {} elements is too many", n);
  const int64_t len = int64_t(n);
  set_out(c, out, IntList(&len, 1), a);
}

void infer_linspace(const OpCall& c, std::span<OutputMeta> out) {
  const auto a = LinspaceAttrs::of(c.attrs);
  DOPPEL_CHECK(a.steps >= 0, "linspace: steps must be >= 0, got {}", a.steps);
  set_out(c, out, IntList(&a.steps, 1), a);
}

void infer_eye(const OpCall& c, std::span<OutputMeta> out) {
  const auto a = EyeAttrs::of(c.attrs);
  const int64_t shape[2] = {a.n, a.m};
  set_out(c, out, shape, a);
}

void infer_random(const OpCall& c, std::span<OutputMeta> out) {
  const auto a = RandomOpAttrs::of(c.attrs);
  set_out(c, out, a.shape, a);
  if (c.op == OpId::randint) {
    DOPPEL_CHECK(a.a < a.b, "randint: low ({}) must be less than high ({})", a.a, a.b);
    DOPPEL_CHECK_DTYPE(!is_floating(out[0].dtype) && out[0].dtype != DType::Bool,
                       "randint: dtype must be an integer type, got {}", dtype_name(out[0].dtype));
    // Bounds outside the dtype would make the kernel's integer conversion undefined; PyTorch
    // rejects them too.
    const double lo = a.a, hi = a.b;
    double tmin = -9223372036854775808.0, tmax = 9223372036854775807.0;
    if (out[0].dtype == DType::Int8) tmin = -128, tmax = 127;
    if (out[0].dtype == DType::UInt8) tmin = 0, tmax = 255;
    if (out[0].dtype == DType::Int32) tmin = -2147483648.0, tmax = 2147483647.0;
    DOPPEL_CHECK(lo >= tmin && hi - 1 <= tmax, "randint: range [{}, {}) does not fit dtype {} (values {} to {})", lo,
                 hi, dtype_name(out[0].dtype), tmin, tmax);
  } else {
    DOPPEL_CHECK_DTYPE(is_floating(out[0].dtype), "{}: dtype must be floating point, got {}", c.name(),
                       dtype_name(out[0].dtype));
    if (c.op == OpId::normal)
      DOPPEL_CHECK(a.b >= 0, "normal: std must be >= 0, got {}", a.b);
    else
      DOPPEL_CHECK(a.a <= a.b, "uniform: low ({}) must be <= high ({})", a.a, a.b);
  }
}

void def(OpDef* table, OpId id, std::span<const AttrSpec> attrs, InferFn infer, uint32_t flags) {
  OpDef& d = table[int(id)];
  d.min_inputs = d.max_inputs = 0;
  d.attrs = attrs;
  d.infer = infer;
  d.flags = kFactory | flags;
}

}  // namespace

void define_factory_ops(OpDef* table) {
  def(table, OpId::full, FullAttrs::kSpec, infer_full, 0);
  def(table, OpId::arange, ArangeAttrs::kSpec, infer_arange, 0);
  def(table, OpId::linspace, LinspaceAttrs::kSpec, infer_linspace, 0);
  def(table, OpId::eye, EyeAttrs::kSpec, infer_eye, 0);
  def(table, OpId::uniform, RandomOpAttrs::kSpec, infer_random, kRandom);
  def(table, OpId::normal, RandomOpAttrs::kSpec, infer_random, kRandom);
  def(table, OpId::randint, RandomOpAttrs::kSpec, infer_random, kRandom);
}

}  // namespace doppel::registration
