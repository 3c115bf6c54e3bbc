// oneDNN kernels of quantized_linear, quantized_conv2d and dynamic_quantized_linear: int8 matmul
// and convolution primitives (brgemm with AVX-512 VNNI / AMX on CPUs that have them) with
// oneDNN's quantization attributes: runtime scales (src per tensor, weights per output channel,
// dst), src and dst zero points, f32 bias added after the scales, post-ops [sum(residual scale,
// residual zero point)] then [relu], then the dst scale and zero point. oneDNN forms the real
// value and requantizes in float32, so results are within 1 quantization step of the
// reference's double (tests/ops/test_quantized_ops.cpp). Weights are prepacked once per weight
// version (weight_cache.h). supports() decides from the call's geometry, dtypes and attributes,
// never from input values (the executor selects kernels before it binds input memory, and a plan
// keeps its kernel while scales change): it declines reference-class primitives, and an int8
// output's residual of the other int8 dtype (the sum post-op reads it as the output's bytes; a
// float32 output's residual is dequantized into a float32 summand first). The values are read
// and checked when the kernel runs. Channels-last operands ([N, 1, H, W, C]) go to the
// convolution primitive as nhwc memory. On CPUs whose int8 dot product saturates (no VNNI:
// doppel/kernels/int8_support.h) the primitives run an exact form of the operands (int8_pairs.h:
// activations doubled along the reduction dim as uint8, weights split into halves), reported to
// the profiler as "exact int8: ...". quantize/dequantize/quantized_add/quantized_cat are
// memory-bound loops (reference kernels).
#include <map>
#include <mutex>

#include "cpu/onednn/conv_common.h"
#include "cpu/onednn/int8_pairs.h"
#include "cpu/onednn/weight_cache.h"
#include "cpu/quantized_layout.h"
#include "cpu/quantized_params.h"
#include "doppel/kernels/implementation_report.h"
#include "doppel/kernels/int8_support.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/quantized.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace quantized_attrs;
using dnnl::memory;
using quant::ChannelParams;

const Tensor& optional_input(const OpCall& c, size_t k) {
  static const Tensor kNone;
  return k < c.inputs.size() ? c.in(k) : kNone;
}

// The parameters of one int8 kernel call (quantized_linear/conv2d layout of inputs); `r` only
// with a residual, `y` only for an int8/uint8 output. Zero points are always run-time arguments
// (even 0), so the primitive depends on the call's geometry, dtypes and attributes only, except a
// residual's scale and zero point, which oneDNN's sum post-op takes at creation.
struct CallParams {
  ChannelParams x, w, y, r;
  bool q_out = false, residual = false;
};

// The values, checked (ValueError naming the op), for running the call.
CallParams read_call_params(const OpCall& c) {
  CallParams p;
  const Tensor &x = c.in(kQlX), &ys = optional_input(c, kQlYScale), &r = optional_input(c, kQcResidual);
  p.x = quant::read_params(c.name(), "input", c.in(kQlXScale), c.in(kQlXZp), quant::qrange(x.dtype()));
  p.w = quant::read_weight_params(c.name(), c.in(kQlWScale), c.in(kQlWZp));
  p.q_out = ys.defined();
  if (p.q_out) {
    const DType out = c.op == OpId::quantized_conv2d ? QuantizedConv2dAttrs::of(c.attrs).out_dtype
                                                     : QuantizedLinearAttrs::of(c.attrs).out_dtype;
    p.y = quant::read_params(c.name(), "output", ys, c.in(kQlYZp), quant::qrange(out));
  }
  p.residual = r.defined();
  if (p.residual)
    p.r = quant::read_params(c.name(), "residual", c.in(kQcRScale), c.in(kQcRZp), quant::qrange(r.dtype()));
  return p;
}

// Stand-in values of the call's geometry for supports(), which must not read inputs: the
// executor selects kernels before it binds input memory. A non-zero residual zero point, so that
// the probed primitive has the sum post-op's zero point.
ChannelParams probe_channels(const Tensor& scale) {
  const size_t n = scale.dim() == 0 ? 1 : size_t(scale.size(0));
  return {std::vector<float>(n, 1.f), std::vector<int32_t>(n, 1)};
}
CallParams probe_call_params(const OpCall& c) {
  CallParams p;
  p.x = probe_channels(c.in(kQlXScale));
  p.w = probe_channels(c.in(kQlWScale));
  p.q_out = optional_input(c, kQlYScale).defined();
  if (p.q_out) p.y = probe_channels(c.in(kQlYScale));
  p.residual = optional_input(c, kQcResidual).defined();
  if (p.residual) p.r = probe_channels(c.in(kQcRScale));
  return p;
}

// The primitive attributes for such a call: which scales and zero points the primitive takes at
// run time, and the post-ops (the residual's scale and zero point are part of the primitive).
// `w_mask`: the weights' output-channel dims.
dnnl::primitive_attr quant_attr(const CallParams& p, bool relu, int w_mask, memory::data_type residual_dt) {
  dnnl::primitive_attr a = onednn::attr();
  a.set_scales_mask(DNNL_ARG_SRC, 0);
  a.set_scales_mask(DNNL_ARG_WEIGHTS, p.w.per_channel() ? w_mask : 0);
  a.set_zero_points_mask(DNNL_ARG_SRC, 0);
  if (p.q_out) {
    a.set_scales_mask(DNNL_ARG_DST, 0);
    a.set_zero_points_mask(DNNL_ARG_DST, 0);
  }
  dnnl::post_ops po;
  if (p.residual) po.append_sum(p.r.s(0), p.r.z(0), residual_dt);
  if (relu) po.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  a.set_post_ops(po);
  return a;
}

// The cache-key words of the parameters quant_attr builds in.
onednn::KeyBuilder& add_plan(onednn::KeyBuilder& key, const CallParams& p) {
  key.add(int64_t(p.w.per_channel())).add(int64_t(p.q_out)).add(int64_t(p.residual));
  if (p.residual) key.add(double(p.r.s(0))).add(int64_t(p.r.z(0)));
  return key;
}

// The run-time scale and zero-point arguments of one call, over p's values (read and checked
// once per call; p outlives the primitive's run). The memory objects are made once per thread,
// argument and length and pointed at each call's values: making one allocates (twice), and a
// batch-1 call is a few microseconds in all.
std::unordered_map<int, memory> quant_args(const CallParams& p) {
  thread_local std::map<std::pair<int, int64_t>, memory> made;
  std::unordered_map<int, memory> a;
  auto add = [&](int arg, memory::data_type t, const void* values, int64_t n) {
    auto [it, fresh] = made.try_emplace({arg, n});
    if (fresh) it->second = memory(memory::desc({n}, t, memory::format_tag::a), onednn::engine(), nullptr);
    it->second.set_data_handle(const_cast<void*>(values));
    a.emplace(arg, it->second);
  };
  using dt = memory::data_type;
  add(DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC, dt::f32, p.x.scale.data(), 1);
  add(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, dt::s32, p.x.zero_point.data(), 1);
  add(DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS, dt::f32, p.w.scale.data(), int64_t(p.w.scale.size()));
  if (p.q_out) {
    add(DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST, dt::f32, p.y.scale.data(), 1);
    add(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST, dt::s32, p.y.zero_point.data(), 1);
  }
  return a;
}

bool on_cpu(const OpCall& c) {
  for (const Tensor& t : c.inputs)
    if (t.defined() && !t.device().is_cpu()) return false;
  return true;
}

// ---- How the primitive reads x and w (int8_pairs.h). With VNNI or AMX: as they are. Where the
// int8 dot product saturates: x as uint8 in `copies` (2: the paired form, w split by `derive`; 1:
// a depthwise convolution's int8 x shifted, w as it is), x's channels in `x_groups` groups. The
// profiler is told the form's name ("exact int8: ...") before the primitive.
struct Form {
  int64_t copies = 0;  // 0: x as it is
  int64_t x_groups = 1;
  onednn::DeriveWeight derive;
  const char* name = nullptr;
};

// x's geometry as the form reads it; `d`: x's reduction (channel) dim.
Tensor form_geometry(const Form& f, const Tensor& x, int64_t d) {
  return f.copies == 0 ? x : onednn::operand_geometry(x, d, f.copies, DType::UInt8);
}

// The activations as the form reads them (x's zero point in p shifted with them).
Tensor form_activations(const Form& f, const Tensor& x, int64_t d, CallParams& p) {
  if (f.name) report_implementation(f.name);
  if (f.copies == 0) return x;
  p.x.zero_point[0] += onednn::uint8_zero_point_shift(x.dtype());
  return onednn::uint8_activations(x, d, f.x_groups, f.copies);
}

Form linear_form() { return onednn_int8_saturates() ? Form{2, 1, onednn::split_weight, "exact int8: pairs"} : Form{}; }

// ---- linear: x [M, K] (rows of x, made contiguous) @ w^T, w [N, K] prepacked.

struct QLinearEntry {
  bool ok = false;
  dnnl::matmul prim;
  memory::desc x_md, w_user, w_md, bias_md, y_md;
  std::optional<dnnl::reorder> w_re;
};

std::shared_ptr<QLinearEntry> qlinear_entry(OpId op, const Tensor& x, const Tensor& w, const Tensor& bias, DType out,
                                            const CallParams& p, bool relu) {
  onednn::KeyBuilder key(op);
  key.add_dense(x).add(w).add_dense(bias).add(int64_t(out)).add(int64_t(relu));
  return onednn::cached<QLinearEntry>(add_plan(key, p), [&] {
    const int64_t K = w.size(1), N = w.size(0), M = x.numel() / K;
    QLinearEntry e;
    e.x_md = memory::desc({M, K}, *onednn::data_type(x.dtype()), {K, 1});
    e.w_user = memory::desc({K, N}, memory::data_type::s8, {w.stride(1), w.stride(0)});
    if (bias.defined()) e.bias_md = memory::desc({1, N}, memory::data_type::f32, {N, 1});
    e.y_md = memory::desc({M, N}, *onednn::data_type(out), {N, 1});
    try {
      const memory::desc w_any({K, N}, memory::data_type::s8, memory::format_tag::any);
      const dnnl::primitive_attr attr = quant_attr(p, relu, 1 << 1, memory::data_type::undef);
      const auto pd = bias.defined()
                          ? dnnl::matmul::primitive_desc(onednn::engine(), e.x_md, w_any, e.bias_md, e.y_md, attr)
                          : dnnl::matmul::primitive_desc(onednn::engine(), e.x_md, w_any, e.y_md, attr);
      if (onednn::reference_implementation(pd)) return e;
      e.w_md = pd.weights_desc();
      e.w_re = onednn::reorder_if_needed(e.w_user, e.w_md);
      e.prim = dnnl::matmul(pd);
      e.ok = true;
    } catch (const dnnl::error&) {
      e.ok = false;
    }
    return e;
  });
}

// The entry's src, dst and bias memory objects on this thread, made once (as quant_args's) and
// pointed at each call's tensors; the map holds the entry, so its address names it.
struct LinearMemory {
  std::shared_ptr<const QLinearEntry> entry;
  memory x, y, bias;
};
LinearMemory& linear_memory(const std::shared_ptr<QLinearEntry>& e) {
  thread_local std::unordered_map<const QLinearEntry*, LinearMemory> made;
  if (made.size() > 256 && !made.count(e.get())) made.clear();  // bounded: entries of many shapes
  auto [it, fresh] = made.try_emplace(e.get());
  if (fresh) {
    const dnnl::engine& eng = onednn::engine();
    it->second = {e, memory(e->x_md, eng, nullptr), memory(e->y_md, eng, nullptr),
                  e->bias_md.get_ndims() > 0 ? memory(e->bias_md, eng, nullptr) : memory()};
  }
  return it->second;
}

// The primitive of the call's x and w in linear_form() (run_qlinear makes that form's operands).
std::shared_ptr<QLinearEntry> qlinear_entry_for(OpId op, const Tensor& x, const Tensor& w, const Tensor& bias,
                                                DType out, const CallParams& p, bool relu) {
  const Form f = linear_form();
  return qlinear_entry(op, form_geometry(f, x, x.dim() - 1),
                       f.copies == 0 ? w : onednn::operand_geometry(w, 1, 2, DType::Int8), bias, out, p, relu);
}

void run_qlinear(const std::shared_ptr<QLinearEntry>& e, const Tensor& x, const Tensor& w, const Tensor& bias,
                 const Tensor& y, CallParams p) {
  DOPPEL_INTERNAL_ASSERT(y.is_contiguous());
  const Form f = linear_form();
  const Tensor xc = contiguous_of(form_activations(f, x, x.dim() - 1, p));
  const Tensor bc = bias.defined() ? contiguous_of(bias) : bias;
  const onednn::PrepackedWeight wp(w, e->w_user, e->w_md, e->w_re, true, f.derive);
  LinearMemory& m = linear_memory(e);
  m.x.set_data_handle(xc.raw_data());
  m.y.set_data_handle(y.raw_data());
  std::unordered_map<int, memory> args = quant_args(p);
  args.insert({{DNNL_ARG_SRC, m.x}, {DNNL_ARG_WEIGHTS, wp.memory()}, {DNNL_ARG_DST, m.y}});
  if (bc.defined()) {
    m.bias.set_data_handle(bc.raw_data());
    args.emplace(DNNL_ARG_BIAS, m.bias);
  }
  onednn::execute(e->prim, std::move(args));
}

DType linear_out(const OpCall& c) { return QuantizedLinearAttrs::of(c.attrs).out_dtype; }

void quantized_linear_kernel(const OpCall& c, std::span<const Tensor> out) {
  const CallParams p = read_call_params(c);
  const Tensor& bias = optional_input(c, kQlBias);
  const auto e =
      qlinear_entry_for(c.op, c.in(kQlX), c.in(kQlW), bias, linear_out(c), p, QuantizedLinearAttrs::of(c.attrs).relu);
  DOPPEL_INTERNAL_ASSERT(e->ok);
  run_qlinear(e, c.in(kQlX), c.in(kQlW), bias, out[0], p);
}

bool supports_quantized_linear(const OpCall& c) {
  if (!on_cpu(c) || c.in(kQlX).numel() == 0 || c.in(kQlW).numel() == 0) return false;
  return qlinear_entry_for(c.op, c.in(kQlX), c.in(kQlW), optional_input(c, kQlBias), linear_out(c),
                           probe_call_params(c), QuantizedLinearAttrs::of(c.attrs).relu)
      ->ok;
}

// ---- dynamic_quantized_linear: x's range (parallel), its uint8 parameters, x quantized, then
// the int8 product with a float32 result.

std::pair<float, float> value_range(const float* p, int64_t n) {
  std::mutex m;
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  parallel_for(0, n, 1 << 16, [&](int64_t b, int64_t e) {
    float l = std::numeric_limits<float>::infinity(), h = -l;
    for (int64_t i = b; i < e; ++i) l = std::fmin(l, p[i]), h = std::fmax(h, p[i]);  // fmin/fmax skip NaN
    const std::lock_guard<std::mutex> g(m);
    lo = std::min(lo, l), hi = std::max(hi, h);
  });
  return lo > hi ? std::pair<float, float>{0.f, 0.f} : std::pair<float, float>{lo, hi};
}

// x's parameters (chosen per call) and the weight's scales (all 1 for supports()).
CallParams dynamic_params(float x_scale, int32_t x_zp, std::vector<float> w_scale) {
  CallParams p;
  p.x = ChannelParams{{x_scale}, {x_zp}};
  p.w.zero_point.assign(w_scale.size(), 0);
  p.w.scale = std::move(w_scale);
  return p;
}

std::shared_ptr<QLinearEntry> dynamic_entry(const OpCall& c, const CallParams& p) {
  const Tensor& x = c.in(kDqlX);  // the primitive reads x quantized: a uint8 tensor of its shape
  const Tensor u8 = make_view(make_tensor({}, DType::UInt8), x.shape(), Strides(size_t(x.dim()), 0), 0);
  return qlinear_entry_for(c.op, u8, c.in(kDqlW), optional_input(c, kDqlBias), DType::Float32, p, false);
}

void dynamic_quantized_linear_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(kDqlX));
  const float* xp = x.data_ptr<float>();
  const auto [lo, hi] = value_range(xp, x.numel());
  const quant::QRange u8 = quant::qrange(DType::UInt8);
  const quant::QParams qp =
      quant::choose_qparams(lo, hi, u8.lo, u8.hi, DynamicQuantizedLinearAttrs::of(c.attrs).reduce_range);
  const Tensor xq = make_tensor(x.shape(), DType::UInt8);
  uint8_t* q = xq.data_ptr<uint8_t>();
  parallel_for(0, x.numel(), 1 << 15, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) q[i] = uint8_t(quant::quantize_value(xp[i], qp.scale, qp.zero_point, u8));
  });
  const CallParams p =
      dynamic_params(qp.scale, qp.zero_point, quant::read_scales(c.name(), "weight", c.in(kDqlWScale)));
  const auto e = dynamic_entry(c, p);
  DOPPEL_INTERNAL_ASSERT(e->ok);
  run_qlinear(e, xq, c.in(kDqlW), optional_input(c, kDqlBias), out[0], p);
}

bool supports_dynamic_quantized_linear(const OpCall& c) {
  if (!on_cpu(c) || c.in(kDqlX).numel() == 0 || c.in(kDqlW).numel() == 0) return false;
  return dynamic_entry(c, dynamic_params(1.f, 1, probe_channels(c.in(kDqlWScale)).scale))->ok;
}

// ---- conv2d: the convolution primitive plumbing (conv_common.h) with int8 types. Operands in
// the channels-last form ([N, 1, H, W, C], quantized_layout.h) are handed to the primitive as
// their [N, C, H, W] views, i.e. nhwc memory: with oneDNN's brgconv kernels (which run nhwc) no
// reorder around the primitive.

const Tensor& residual_of(const OpCall& c) { return optional_input(c, kQcResidual); }

// A residual of an int8 output is added by the sum post-op in its own bytes (its dtype, scale
// and zero point). A float32 output's residual is dequantized into a float32 summand first, which
// the sum post-op adds as it is (scale 1, zero point 0): oneDNN's sum reads the summand from the
// output buffer, so it must have the output's dtype.
bool float_residual(const OpCall& c) {
  return residual_of(c).defined() && QuantizedConv2dAttrs::of(c.attrs).out_dtype == DType::Float32;
}
// The sum post-op's parameters for such a summand.
void add_float_summand(CallParams& p) { p.r = ChannelParams{{1.f}, {0}}; }

// The float32 summand of a float output's residual: its real values, in its layout.
Tensor dequantized_residual(const Tensor& r, const ChannelParams& pr) {
  const Tensor rc = contiguous_of(r);
  const Tensor f = make_tensor(rc.shape(), DType::Float32, rc.device());
  float* dst = f.data_ptr<float>();
  const float s = pr.s(0);
  const int32_t z = pr.z(0);
  auto run = [&]<typename Q>(const Q* src) {
    parallel_for(0, rc.numel(), 1 << 15, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) dst[i] = quant::dequantize_value(src[i], s, z);
    });
  };
  if (rc.dtype() == DType::Int8)
    run(rc.data_ptr<int8_t>());
  else
    run(rc.data_ptr<uint8_t>());
  return f;
}

std::shared_ptr<onednn::ConvEntry> qconv_entry(const OpCall& c, const CallParams& p) {
  const Tensor &w = c.in(kQlW), &bias = optional_input(c, kQlBias);
  onednn::KeyBuilder key(c.op);
  key.add(c.in(kQlX)).add(w).add_dense(bias).add(residual_of(c)).add(c.attrs);
  return onednn::cached<onednn::ConvEntry>(add_plan(key, p), [&] {
    const Tensor x = quant::nchw_view(c.in(kQlX)), r = quant::nchw_view(residual_of(c));
    const auto a = QuantizedConv2dAttrs::of(c.attrs);
    const Attrs conv_a = convolution_of(a).pack();
    const Tensor ins[3] = {x, w, bias};
    const OpCall conv{OpId::convolution, ins, conv_a};
    const int w_mask = a.groups > 1 ? 0b11 : 0b1;  // [G, O/G, ...] or [O, ...]
    const auto r_dt = !r.defined()        ? memory::data_type::undef
                      : float_residual(c) ? memory::data_type::f32
                                          : *onednn::data_type(r.dtype());
    const onednn::ConvQuantization q{*onednn::data_type(x.dtype()), *onednn::data_type(a.out_dtype),
                                     quant_attr(p, a.relu, w_mask, r_dt)};
    Shape y = onednn::output_shape(c);
    const bool channels_last = quant::channels_last(c.in(kQlX));
    if (channels_last) y = {y[0], y[4], y[2], y[3]};
    // The summand's geometry: the residual, or the contiguous float32 tensor of its shape that
    // dequantized_residual makes (metadata only).
    const Tensor summand =
        float_residual(c)
            ? quant::nchw_view(from_blob(nullptr, residual_of(c).shape(), contiguous_strides(residual_of(c).shape()),
                                         DType::Float32, residual_of(c).device()))
            : r;
    onednn::ConvEntry e = onednn::make_conv_entry(conv, y, nullptr, r.defined() ? &summand : nullptr, &q);
    if (e.ok && channels_last) {  // y is written channels-last: nhwc strides over the same dims
      const memory::dims d = e.dst_user.get_dims();
      e.dst_user = memory::desc(d, e.dst_user.get_data_type(), {d[1] * d[2] * d[3], 1, d[3] * d[1], d[1]});
      e.dst_re = onednn::reorder_if_needed(e.dst_md, e.dst_user);
      e.sum_re.reset();
      if (r.defined() && e.dst_re) {
        e.sum_user = onednn::desc_of(summand);
        e.sum_re = onednn::make_reorder(e.sum_user, e.dst_md);
      }
    }
    return e;
  });
}

// x's channel dim: 1, or 4 in the channels-last form [N, 1, H, W, C].
int64_t channel_dim(const Tensor& x) { return quant::channels_last(x) ? 4 : 1; }

// How the primitive reads a convolution's x and w where the int8 dot product saturates, the first
// form oneDNN takes: a depthwise one's as they are (oneDNN's depthwise kernel multiplies in int32:
// one channel per group, no pairs; int8 x shifted to uint8), the paired form, and for grouped
// ones whose paired form oneDNN declines (its AVX2 kernel takes groups of multiples of 8 channels)
// the paired dense convolution of the block-diagonal weight (groups times the multiply-adds).
struct ConvForm {
  std::shared_ptr<onednn::ConvEntry> entry;
  Form form;
};

ConvForm qconv_form(const OpCall& c, const CallParams& p) {
  if (!onednn_int8_saturates()) return {qconv_entry(c, p), {}};
  const Tensor &x = c.in(kQlX), &w = c.in(kQlW);
  const auto a = QuantizedConv2dAttrs::of(c.attrs);
  const int64_t d = channel_dim(x);
  std::vector<Tensor> ins(c.inputs.begin(), c.inputs.end());
  auto with = [&](Form f, const Tensor& w_geometry, const Attrs& attrs) {
    ins[kQlX] = form_geometry(f, x, d);
    ins[kQlW] = w_geometry;
    return ConvForm{qconv_entry({c.op, ins, attrs}, p), std::move(f)};
  };
  if (a.groups > 1 && w.size(1) == 1) {
    ConvForm dw = with({x.dtype() == DType::Int8 ? 1 : 0, a.groups, {}, "exact int8: depthwise"}, w, c.attrs);
    if (dw.entry->ok) return dw;
  }
  ConvForm paired = with({2, a.groups, onednn::split_weight, "exact int8: pairs"},
                         onednn::operand_geometry(w, 1, 2, DType::Int8), c.attrs);
  if (paired.entry->ok || a.groups == 1) return paired;
  auto dense = a;
  dense.groups = 1;
  const Attrs dense_attrs = dense.pack();
  const auto derive = [groups = a.groups](const Tensor& v) {
    return onednn::split_weight(onednn::dense_weight(v, groups));
  };
  return with({2, 1, derive, "exact int8: dense pairs"}, onednn::operand_geometry(w, 1, 2 * a.groups, DType::Int8),
              dense_attrs);
}

void quantized_conv2d_kernel(const OpCall& c, std::span<const Tensor> out) {
  DOPPEL_INTERNAL_ASSERT(out[0].is_contiguous());
  CallParams p = read_call_params(c);
  Tensor summand = residual_of(c);
  if (float_residual(c)) {
    summand = dequantized_residual(summand, p.r);
    add_float_summand(p);
  }
  // With a residual, the primitive for its scale and zero point (supports() probed a non-zero one).
  const ConvForm f = qconv_form(c, p);
  DOPPEL_INTERNAL_ASSERT(f.entry->ok);
  const Tensor& bias = optional_input(c, kQlBias);
  const Tensor bc = bias.defined() ? contiguous_of(bias) : bias;
  const Tensor x = form_activations(f.form, c.in(kQlX), channel_dim(c.in(kQlX)), p);
  onednn::execute_conv(*f.entry, quant::nchw_view(x), c.in(kQlW), bc, quant::nchw_view(out[0]),
                       quant::nchw_view(summand), quant_args(p), f.form.derive);
}

bool supports_quantized_conv2d(const OpCall& c) {
  if (!on_cpu(c) || c.in(kQlX).numel() == 0 || c.in(kQlW).numel() == 0) return false;
  const Tensor& r = residual_of(c);
  const DType out = QuantizedConv2dAttrs::of(c.attrs).out_dtype;
  // An int8 output's sum post-op reads the residual as the output's bytes.
  if (r.defined() && out != DType::Float32 && r.dtype() != out) return false;
  CallParams p = probe_call_params(c);
  if (float_residual(c)) add_float_summand(p);
  return qconv_form(c, p).entry->ok;
}

}  // namespace

void onednn_quantized_kernels() {
  onednn::register_onednn_kernel(OpId::quantized_linear, quantized_linear_kernel, supports_quantized_linear);
  onednn::register_onednn_kernel(OpId::quantized_conv2d, quantized_conv2d_kernel, supports_quantized_conv2d);
  onednn::register_onednn_kernel(OpId::dynamic_quantized_linear, dynamic_quantized_linear_kernel,
                                 supports_dynamic_quantized_linear);
}

}  // namespace doppel::registration
