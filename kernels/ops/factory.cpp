// Factories: ops with no tensor inputs whose dtype, device and shape come from attributes.
// Random factories carry (seed, offset) attributes drawn by the eager Generator, so a kernel
// call is a pure function of its attributes.
#include <cmath>

#include "doppel/kernels/op_attrs/factory.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace factory_attrs;

void check_shape(const OpCall& c, IntList shape) {
  for (int64_t s : shape)
    DOPPEL_CHECK_SHAPE(s >= 0, "{}: negative dimension {} in shape {}", c.name(), s, shape_str(shape));
}

void set_out(const OpCall& c, std::span<OutputMeta> out, IntList shape, size_t dtype_attr, size_t device_attr) {
  check_shape(c, shape);
  out[0].shape = Shape(shape);
  out[0].dtype = c.attr(dtype_attr).as_dtype();
  out[0].device = c.attr(device_attr).as_device();
}

void infer_full(const OpCall& c, std::span<OutputMeta> out) {
  set_out(c, out, c.attr(kFullShape).ints, kFullDType, kFullDevice);
}

void infer_arange(const OpCall& c, std::span<OutputMeta> out) {
  const double start = c.attr(kArangeStart).f, end = c.attr(kArangeEnd).f, step = c.attr(kArangeStep).f;
  DOPPEL_CHECK(step != 0 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
               "arange: step must be non-zero and bounds finite (start={}, end={}, step={})", start, end, step);
  DOPPEL_CHECK((end - start) / step >= 0, "arange: step {} moves away from end (start={}, end={})", step, start, end);
  const double n = std::ceil((end - start) / step);
  DOPPEL_CHECK(n < 9.0e15, "arange: {} elements is too many", n);
  const int64_t len = int64_t(n);
  set_out(c, out, IntList(&len, 1), kArangeDType, kArangeDevice);
}

void infer_linspace(const OpCall& c, std::span<OutputMeta> out) {
  const int64_t steps = c.attr(kLinspaceSteps).i;
  DOPPEL_CHECK(steps >= 0, "linspace: steps must be >= 0, got {}", steps);
  set_out(c, out, IntList(&steps, 1), kLinspaceDType, kLinspaceDevice);
}

void infer_eye(const OpCall& c, std::span<OutputMeta> out) {
  const int64_t shape[2] = {c.attr(kEyeN).i, c.attr(kEyeM).i};
  set_out(c, out, shape, kEyeDType, kEyeDevice);
}

void infer_random(const OpCall& c, std::span<OutputMeta> out) {
  set_out(c, out, c.attr(kRandShape).ints, kRandDType, kRandDevice);
  if (c.op == OpId::randint) {
    DOPPEL_CHECK(c.attr(kRandA).f < c.attr(kRandB).f, "randint: low ({}) must be less than high ({})",
                 c.attr(kRandA).f, c.attr(kRandB).f);
    DOPPEL_CHECK_DTYPE(!is_floating(out[0].dtype) && out[0].dtype != DType::Bool,
                       "randint: dtype must be an integer type, got {}", dtype_name(out[0].dtype));
    // Bounds outside the dtype would make the kernel's integer conversion undefined; PyTorch
    // rejects them too.
    const double lo = c.attr(kRandA).f, hi = c.attr(kRandB).f;
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
      DOPPEL_CHECK(c.attr(kRandB).f >= 0, "normal: std must be >= 0, got {}", c.attr(kRandB).f);
    else
      DOPPEL_CHECK(c.attr(kRandA).f <= c.attr(kRandB).f, "uniform: low ({}) must be <= high ({})",
                   c.attr(kRandA).f, c.attr(kRandB).f);
  }
}

constexpr AttrSpec kFullSpec[] = {{"shape", AttrKind::Ints}, {"value", AttrKind::Float},
                                  {"dtype", AttrKind::DType}, {"device", AttrKind::Device}};
constexpr AttrSpec kArangeSpec[] = {{"start", AttrKind::Float}, {"end", AttrKind::Float}, {"step", AttrKind::Float},
                                    {"dtype", AttrKind::DType}, {"device", AttrKind::Device}};
constexpr AttrSpec kLinspaceSpec[] = {{"start", AttrKind::Float}, {"end", AttrKind::Float}, {"steps", AttrKind::Int},
                                      {"dtype", AttrKind::DType}, {"device", AttrKind::Device}};
constexpr AttrSpec kEyeSpec[] = {{"n", AttrKind::Int}, {"m", AttrKind::Int}, {"dtype", AttrKind::DType},
                                 {"device", AttrKind::Device}};
constexpr AttrSpec kRandSpec[] = {{"shape", AttrKind::Ints}, {"a", AttrKind::Float},     {"b", AttrKind::Float},
                                  {"dtype", AttrKind::DType}, {"device", AttrKind::Device}, {"seed", AttrKind::Int},
                                  {"offset", AttrKind::Int}};

void def(OpDef* table, OpId id, std::span<const AttrSpec> attrs, InferFn infer, uint32_t flags) {
  OpDef& d = table[int(id)];
  d.min_inputs = d.max_inputs = 0;
  d.attrs = attrs;
  d.infer = infer;
  d.flags = kFactory | flags;
}

}  // namespace

void define_factory_ops(OpDef* table) {
  def(table, OpId::full, kFullSpec, infer_full, 0);
  def(table, OpId::arange, kArangeSpec, infer_arange, 0);
  def(table, OpId::linspace, kLinspaceSpec, infer_linspace, 0);
  def(table, OpId::eye, kEyeSpec, infer_eye, 0);
  def(table, OpId::uniform, kRandSpec, infer_random, kRandom);
  def(table, OpId::normal, kRandSpec, infer_random, kRandom);
  def(table, OpId::randint, kRandSpec, infer_random, kRandom);
}

}  // namespace doppel::registration
