// The quantized ops (op_attrs/quantized.h): quantize/dequantize and the int8 kernels that graph
// passes fold quantize/dequantize pairs into. Not differentiable. Shapes follow the float ops
// they quantize (convolution, cat, broadcasting add), whose inference runs on shape-only float
// proxies so that the checks and messages are theirs.
#include "doppel/kernels/op_attrs/quantized.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "ops/as_part_of.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace quantized_attrs;

bool is_quantized_int(DType t) { return t == DType::Int8 || t == DType::UInt8; }

const Tensor& optional_input(const OpCall& c, size_t k) {
  static const Tensor kNone;
  return k < c.inputs.size() ? c.in(k) : kNone;
}

// A float32 tensor of t's shape over a single element (stride 0): what the float op's inference
// reads (shape and dtype), without memory of t's size.
Tensor float_proxy(const Tensor& t) {
  if (!t.defined()) return t;
  const Tensor one = make_tensor({}, DType::Float32, t.device());
  return make_view(one, t.shape(), Strides(size_t(t.dim()), 0), 0);
}

void check_quantized_int(const OpCall& c, size_t k, const char* what) {
  const Tensor& t = c.in(k);
  DOPPEL_CHECK_DTYPE(is_quantized_int(t.dtype()), "{}: {} (input {}) must be int8 or uint8, got {}", c.name(), what, k,
                     dtype_name(t.dtype()));
}

// A scale (float32) and zero point (int32) pair at inputs (s, z): 0-d, or 1-d of `channels`
// entries when channels >= 0 (per channel), on `device`.
void check_qparams(const OpCall& c, size_t s, size_t z, const char* what, int64_t channels, Device device) {
  const Tensor &scale = optional_input(c, s), &zp = optional_input(c, z);
  DOPPEL_CHECK(scale.defined() && zp.defined(), "{}: {} scale (input {}) and zero point (input {}) are required",
               c.name(), what, s, z);
  DOPPEL_CHECK_DTYPE(scale.dtype() == DType::Float32, "{}: {} scale (input {}) must be float32, got {}", c.name(), what,
                     s, dtype_name(scale.dtype()));
  DOPPEL_CHECK_DTYPE(zp.dtype() == DType::Int32, "{}: {} zero point (input {}) must be int32, got {}", c.name(), what,
                     z, dtype_name(zp.dtype()));
  const bool ok = scale.dim() == 0 || (channels >= 0 && scale.dim() == 1 && scale.size(0) == channels);
  DOPPEL_CHECK_SHAPE(ok, "{}: {} scale (input {}) must be 0-d{}, got shape {}", c.name(), what, s,
                     channels >= 0 ? fmt::format(" or [{}] (per channel)", channels) : std::string(" (per tensor)"),
                     shape_str(scale.shape()));
  DOPPEL_CHECK_SHAPE(zp.shape() == scale.shape(), "{}: {} zero point (input {}) has shape {} but its scale has {}",
                     c.name(), what, z, shape_str(zp.shape()), shape_str(scale.shape()));
  DOPPEL_CHECK_DEVICE(scale.device() == device && zp.device() == device,
                      "{}: {} scale and zero point must be on {} (the data's device)", c.name(), what, device.str());
}

// out_dtype Int8/UInt8 needs y's scale and zero point at (s, z); Float32 takes none there.
DType check_out_dtype(const OpCall& c, DType out, size_t s, size_t z, Device device) {
  DOPPEL_CHECK_DTYPE(is_quantized_int(out) || out == DType::Float32,
                     "{}: out_dtype must be int8, uint8 or float32, got {}", c.name(), dtype_name(out));
  if (is_quantized_int(out)) {
    check_qparams(c, s, z, "output", -1, device);
  } else {
    DOPPEL_CHECK(!optional_input(c, s).defined() && !optional_input(c, z).defined(),
                 "{}: out_dtype float32 returns the dequantized result; pass no output scale and zero point "
                 "(inputs {} and {})",
                 c.name(), s, z);
  }
  return out;
}

// A float32 [n] bias at input k (optional).
void check_bias(const OpCall& c, size_t k, int64_t n) {
  const Tensor& b = optional_input(c, k);
  if (!b.defined()) return;
  DOPPEL_CHECK_DTYPE(b.dtype() == DType::Float32, "{}: bias (input {}) must be float32, got {}", c.name(), k,
                     dtype_name(b.dtype()));
  DOPPEL_CHECK_SHAPE(b.dim() == 1 && b.size(0) == n, "{}: bias (input {}) must have shape [{}], got {}", c.name(), k, n,
                     shape_str(b.shape()));
}

// An int8 weight [N, ...] at input w with its scale (0-d or [N]) and zero point.
void check_weight(const OpCall& c, size_t w, Device device) {
  const Tensor& wt = c.in(w);
  DOPPEL_CHECK_DTYPE(wt.dtype() == DType::Int8, "{}: weight (input {}) must be int8, got {}", c.name(), w,
                     dtype_name(wt.dtype()));
  DOPPEL_CHECK_SHAPE(wt.dim() >= 1, "{}: weight (input {}) must have an output-channel dim, got shape {}", c.name(), w,
                     shape_str(wt.shape()));
  check_qparams(c, w + 1, w + 2, "weight", wt.size(0), device);
}

void infer_quantize(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(kQX);
  const auto a = QuantizeAttrs::of(c.attrs);
  DOPPEL_CHECK_DTYPE(x.dtype() == DType::Float32 || x.dtype() == DType::BFloat16 || x.dtype() == DType::Float16,
                     "quantize: input must be float32, bfloat16 or float16, got {}", dtype_name(x.dtype()));
  DOPPEL_CHECK_DTYPE(is_quantized_int(a.dtype), "quantize: dtype must be int8 or uint8, got {}", dtype_name(a.dtype));
  const int64_t channels = c.in(kQScale).dim() == 1 ? x.size(wrap_dim("quantize", a.axis, x.dim())) : -1;
  check_qparams(c, kQScale, kQZeroPoint, "input", channels, x.device());
  out[0] = {x.shape(), a.dtype, x.device()};
}

void infer_dequantize(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& q = c.in(kQX);
  DOPPEL_CHECK_DTYPE(is_quantized_int(q.dtype()) || q.dtype() == DType::Int32,
                     "dequantize: input must be int8, uint8 or int32, got {}", dtype_name(q.dtype()));
  const int64_t axis = DequantizeAttrs::of(c.attrs).axis;
  const int64_t channels = c.in(kQScale).dim() == 1 ? q.size(wrap_dim("dequantize", axis, q.dim())) : -1;
  check_qparams(c, kQScale, kQZeroPoint, "input", channels, q.device());
  out[0] = {q.shape(), DType::Float32, q.device()};
}

void infer_quantized_linear(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &x = c.in(kQlX), &w = c.in(kQlW);
  check_quantized_int(c, kQlX, "input");
  check_qparams(c, kQlXScale, kQlXZp, "input", -1, x.device());
  check_weight(c, kQlW, x.device());
  DOPPEL_CHECK_SHAPE(x.dim() >= 1 && w.dim() == 2 && w.size(1) == x.shape().back(),
                     "quantized_linear: input {} ([..., K]) and weight {} ([N, K]) do not match", shape_str(x.shape()),
                     shape_str(w.shape()));
  check_bias(c, kQlBias, w.size(0));
  const DType dt = check_out_dtype(c, QuantizedLinearAttrs::of(c.attrs).out_dtype, kQlYScale, kQlYZp, x.device());
  Shape s(x.shape());
  s.back() = w.size(0);
  out[0] = {s, dt, x.device()};
}

// The [N, C, H, W] float proxy of a plain input, or of a channels-last [N, 1, H, W, C] one.
Tensor plain_conv_proxy(const Tensor& x) {
  DOPPEL_CHECK_SHAPE(x.dim() == 4 || (x.dim() == 5 && x.size(1) == 1),
                     "quantized_conv2d: input must be [N, C, H, W] or channels-last [N, 1, H, W, C], got {}",
                     shape_str(x.shape()));
  if (x.dim() == 4) return float_proxy(x);
  const Tensor one = make_tensor({}, DType::Float32, x.device());
  return make_view(one, {x.size(0), x.size(4), x.size(2), x.size(3)}, Strides(4, 0), 0);
}

void infer_quantized_conv2d(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &x = c.in(kQlX), &w = c.in(kQlW);
  check_quantized_int(c, kQlX, "input");
  const Tensor px = plain_conv_proxy(x);
  check_qparams(c, kQlXScale, kQlXZp, "input", -1, x.device());
  check_weight(c, kQlW, x.device());
  const auto a = QuantizedConv2dAttrs::of(c.attrs);
  as_part_of(c.name(), [&] {
    const Attrs conv_a = convolution_of(a).pack();
    const Tensor proxies[3] = {px, float_proxy(w), float_proxy(optional_input(c, kQlBias))};
    op_def(OpId::convolution).infer(OpCall{OpId::convolution, proxies, conv_a}, out);
  });
  // The output's layout follows the input's: channels-last [N, 1, Ho, Wo, Cout].
  if (x.dim() == 5) {
    const Shape s = out[0].shape;
    out[0].shape = {s[0], 1, s[2], s[3], s[1]};
  }
  check_bias(c, kQlBias, w.size(0));
  const DType dt = check_out_dtype(c, a.out_dtype, kQlYScale, kQlYZp, x.device());
  const Tensor& r = optional_input(c, kQcResidual);
  if (r.defined()) {
    check_quantized_int(c, kQcResidual, "residual");
    DOPPEL_CHECK_SHAPE(r.shape() == out[0].shape,
                       "quantized_conv2d: residual {} must have the output's shape {} (and layout: channels-last when "
                       "the input is)",
                       shape_str(r.shape()), shape_str(out[0].shape));
    check_qparams(c, kQcRScale, kQcRZp, "residual", -1, x.device());
  } else {
    DOPPEL_CHECK(!optional_input(c, kQcRScale).defined() && !optional_input(c, kQcRZp).defined(),
                 "quantized_conv2d: a residual scale and zero point without a residual (input {})",
                 size_t(kQcResidual));
  }
  out[0] = {out[0].shape, dt, x.device()};
}

void infer_quantized_add(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &a = c.in(kQaA), &b = c.in(kQaB);
  check_quantized_int(c, kQaA, "a");
  check_quantized_int(c, kQaB, "b");
  DOPPEL_CHECK_DEVICE(a.device() == b.device(), "quantized_add: a is on {} but b is on {}", a.device().str(),
                      b.device().str());
  check_qparams(c, kQaAScale, kQaAZp, "a", -1, a.device());
  check_qparams(c, kQaBScale, kQaBZp, "b", -1, a.device());
  const DType dt = check_out_dtype(c, QuantizedAddAttrs::of(c.attrs).out_dtype, kQaYScale, kQaYZp, a.device());
  out[0] = {broadcast_shapes("quantized_add", a.shape(), b.shape()), dt, a.device()};
}

void infer_quantized_cat(const OpCall& c, std::span<OutputMeta> out) {
  const size_t n = c.inputs.size();
  DOPPEL_CHECK(n >= kQcatFirst + 3 && (n - kQcatFirst) % 3 == 0,
               "quantized_cat: expected y_scale, y_zero_point, then (x, scale, zero_point) per input, got {} tensors",
               n);
  const Tensor& x0 = c.in(kQcatFirst);
  DOPPEL_CHECK(x0.defined(), "quantized_cat: input {} is undefined", size_t(kQcatFirst));
  std::vector<Tensor> proxies;
  for (size_t k = kQcatFirst; k < n; k += 3) {
    DOPPEL_CHECK(c.in(k).defined(), "quantized_cat: input {} is undefined", k);
    check_quantized_int(c, k, "x");
    DOPPEL_CHECK_DEVICE(c.in(k).device() == x0.device(), "quantized_cat: input {} is on {} but input {} is on {}", k,
                        c.in(k).device().str(), size_t(kQcatFirst), x0.device().str());
    check_qparams(c, k + 1, k + 2, "x", -1, x0.device());
    proxies.push_back(float_proxy(c.in(k)));
  }
  const auto a = QuantizedCatAttrs::of(c.attrs);
  as_part_of(c.name(), [&] {
    const Attrs cat_a = DimAttrs{.dim = a.dim}.pack();
    op_def(OpId::cat).infer(OpCall{OpId::cat, proxies, cat_a}, out);
  });
  // Variadic: every input is required, so the result is always requantized (dequantize and cat
  // give a float32 one).
  DOPPEL_CHECK_DTYPE(is_quantized_int(a.out_dtype),
                     "quantized_cat: out_dtype must be int8 or uint8, got {} (for float32, dequantize and cat)",
                     dtype_name(a.out_dtype));
  out[0] = {out[0].shape, check_out_dtype(c, a.out_dtype, kQcatYScale, kQcatYZp, x0.device()), x0.device()};
}

void infer_dynamic_quantized_linear(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &x = c.in(kDqlX), &w = c.in(kDqlW);
  DOPPEL_CHECK_DTYPE(x.dtype() == DType::Float32, "dynamic_quantized_linear: input must be float32, got {}",
                     dtype_name(x.dtype()));
  DOPPEL_CHECK_DTYPE(w.dtype() == DType::Int8, "dynamic_quantized_linear: weight must be int8, got {}",
                     dtype_name(w.dtype()));
  DOPPEL_CHECK_SHAPE(x.dim() >= 1 && w.dim() == 2 && w.size(1) == x.shape().back(),
                     "dynamic_quantized_linear: input {} ([..., K]) and weight {} ([N, K]) do not match",
                     shape_str(x.shape()), shape_str(w.shape()));
  const Tensor& ws = c.in(kDqlWScale);
  DOPPEL_CHECK_DTYPE(ws.dtype() == DType::Float32, "dynamic_quantized_linear: weight scale must be float32, got {}",
                     dtype_name(ws.dtype()));
  DOPPEL_CHECK_SHAPE(ws.dim() == 0 || (ws.dim() == 1 && ws.size(0) == w.size(0)),
                     "dynamic_quantized_linear: weight scale must be 0-d or [{}] (per output channel), got {}",
                     w.size(0), shape_str(ws.shape()));
  DOPPEL_CHECK_DEVICE(w.device() == x.device() && ws.device() == x.device(),
                      "dynamic_quantized_linear: weight and scale must be on {} (the input's device)",
                      x.device().str());
  check_bias(c, kDqlBias, w.size(0));
  Shape s(x.shape());
  s.back() = w.size(0);
  out[0] = {s, DType::Float32, x.device()};
}

OpDef def(int min_in, int max_in, std::span<const AttrSpec> attrs, InferFn infer, uint32_t flags = kNoFlags) {
  return OpDef{.min_inputs = min_in, .max_inputs = max_in, .attrs = attrs, .infer = infer, .flags = flags};
}

}  // namespace

void define_quantized_ops(OpDef* table) {
  table[int(OpId::quantize)] = def(3, 3, QuantizeAttrs::kSpec, infer_quantize);
  table[int(OpId::dequantize)] = def(3, 3, DequantizeAttrs::kSpec, infer_dequantize);
  // y_scale and y_zp (inputs 6, 7) are absent for out_dtype float32, so only 6 inputs are required.
  table[int(OpId::quantized_linear)] = def(6, 9, QuantizedLinearAttrs::kSpec, infer_quantized_linear);
  table[int(OpId::quantized_conv2d)] = def(6, 12, QuantizedConv2dAttrs::kSpec, infer_quantized_conv2d);
  table[int(OpId::quantized_add)] = def(6, 8, QuantizedAddAttrs::kSpec, infer_quantized_add);
  table[int(OpId::quantized_cat)] = def(1, 1, QuantizedCatAttrs::kSpec, infer_quantized_cat, kVariadic);
  table[int(OpId::dynamic_quantized_linear)] =
      def(3, 4, DynamicQuantizedLinearAttrs::kSpec, infer_dynamic_quantized_linear);
}

}  // namespace doppel::registration
