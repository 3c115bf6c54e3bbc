// Autocast: the per-op policy table, the thread's autocast state and the input casts the
// dispatcher applies (doppel/autocast.h).
#include "doppel/autocast.h"

#include <array>

#include "autocast_hook.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/views.h"
#include "doppel/trace_hooks.h"

namespace doppel {
namespace {

// Every op of the op table declares its policy here, in exactly one list (checked at compile time
// below): adding an op to ops.def without deciding how autocast treats it does not build.
// PyTorch's CUDA autocast lists, restricted to the ops of the op table. batch_norm and mean are
// upcast too (our batch_norm takes one dtype for its input and its statistics).
constexpr OpId kLowerOps[] = {OpId::matmul,
                              OpId::linear,
                              OpId::convolution,
                              OpId::fused_linear,
                              OpId::fused_conv2d,
                              OpId::blocked_conv2d,
                              OpId::scaled_dot_product_attention};
constexpr OpId kFp32Ops[] = {
    OpId::exp,        OpId::log,      OpId::log1p,      OpId::rsqrt,          OpId::reciprocal,
    OpId::pow,        OpId::softplus, OpId::sum,        OpId::mean,           OpId::prod,
    OpId::logsumexp,  OpId::cumsum,   OpId::cumprod,    OpId::softmax,        OpId::log_softmax,
    OpId::layer_norm, OpId::rms_norm, OpId::group_norm, OpId::batch_norm,     OpId::cross_entropy,
    OpId::nll_loss,   OpId::mse_loss, OpId::l1_loss,    OpId::smooth_l1_loss, OpId::binary_cross_entropy_with_logits};
constexpr OpId kPromoteOps[] = {OpId::cat, OpId::scatter_add, OpId::index_add, OpId::atan2};
// Run in the dtype they are given: factories and casts (their dtype is an attribute), views,
// elementwise and comparison ops that are safe in 16 bits, indexing, pooling, backward ops (a
// backward pass runs with autocast off), optimizer updates, and the passes' fused/layout ops.
constexpr OpId kNoneOps[] = {OpId::full,
                             OpId::arange,
                             OpId::linspace,
                             OpId::eye,
                             OpId::uniform,
                             OpId::normal,
                             OpId::randint,
                             OpId::copy,
                             OpId::cast,
                             OpId::view,
                             OpId::permute,
                             OpId::slice,
                             OpId::select,
                             OpId::expand,
                             OpId::squeeze,
                             OpId::unsqueeze,
                             OpId::diagonal,
                             OpId::unfold,
                             OpId::neg,
                             OpId::abs,
                             OpId::sqrt,
                             OpId::sin,
                             OpId::cos,
                             OpId::tanh,
                             OpId::sigmoid,
                             OpId::relu,
                             OpId::gelu,
                             OpId::silu,
                             OpId::leaky_relu,
                             OpId::elu,
                             OpId::erf,
                             OpId::floor,
                             OpId::ceil,
                             OpId::round,
                             OpId::sign,
                             OpId::clamp,
                             OpId::logical_not,
                             OpId::trunc,
                             OpId::bitwise_not,
                             OpId::hardtanh,
                             OpId::hardswish,
                             OpId::hardsigmoid,
                             OpId::mish,
                             OpId::selu,
                             OpId::logsigmoid,
                             OpId::add,
                             OpId::sub,
                             OpId::mul,
                             OpId::div,
                             OpId::maximum,
                             OpId::minimum,
                             OpId::eq,
                             OpId::ne,
                             OpId::lt,
                             OpId::le,
                             OpId::gt,
                             OpId::ge,
                             OpId::logical_and,
                             OpId::logical_or,
                             OpId::logical_xor,
                             OpId::bitwise_and,
                             OpId::bitwise_or,
                             OpId::bitwise_xor,
                             OpId::fmod,
                             OpId::remainder,
                             OpId::floor_divide,
                             OpId::where,
                             OpId::amax,
                             OpId::amin,
                             OpId::argmax,
                             OpId::argmin,
                             OpId::var,
                             OpId::std,
                             OpId::numel,
                             OpId::max_pool2d,
                             OpId::avg_pool2d,
                             OpId::adaptive_avg_pool2d,
                             OpId::adaptive_max_pool2d,
                             OpId::max_pool2d_indices,
                             OpId::dropout,
                             OpId::embedding,
                             OpId::index_select,
                             OpId::gather,
                             OpId::scatter,
                             OpId::flip,
                             OpId::masked_fill,
                             OpId::one_hot,
                             OpId::relu_backward,
                             OpId::slice_backward,
                             OpId::select_backward,
                             OpId::diagonal_backward,
                             OpId::unfold_backward,
                             OpId::convolution_backward,
                             OpId::max_pool2d_backward,
                             OpId::avg_pool2d_backward,
                             OpId::adaptive_avg_pool2d_backward,
                             OpId::adaptive_max_pool2d_backward,
                             OpId::batch_norm_backward,
                             OpId::layer_norm_backward,
                             OpId::group_norm_backward,
                             OpId::softmax_backward,
                             OpId::log_softmax_backward,
                             OpId::embedding_backward,
                             OpId::cross_entropy_backward,
                             OpId::nll_loss_backward,
                             OpId::cumprod_backward,
                             OpId::adam_step,
                             OpId::fused_elementwise,
                             OpId::to_blocked,
                             OpId::from_blocked,
                             OpId::blocked_max_pool2d,
                             OpId::topk,
                             OpId::sort,
                             OpId::multinomial,
                             OpId::tril,
                             OpId::triu,
                             OpId::apply_rotary,
                             OpId::all_reduce,
                             OpId::broadcast,
                             OpId::all_gather,
                             OpId::reduce_scatter,
                             OpId::all_to_all,
                             OpId::scaled_dot_product_attention_backward,
                             OpId::rms_norm_backward,
                             OpId::sgd_step,
                             OpId::blocked_conv2d_backward,
                             OpId::blocked_max_pool2d_backward,
                             OpId::blocked_max_pool2d_winners,
                             OpId::blocked_max_pool2d_backward_winners,
                             OpId::quantize,
                             OpId::dequantize,
                             OpId::quantized_linear,
                             OpId::quantized_conv2d,
                             OpId::quantized_add,
                             OpId::quantized_cat,
                             OpId::dynamic_quantized_linear};

struct PolicyTable {
  std::array<AutocastPolicy, size_t(kNumOps)> policy{};
  std::array<int, size_t(kNumOps)> declared{};  // how many lists name the op
};

constexpr PolicyTable make_policy_table() {
  PolicyTable t;
  auto add = [&t](const auto& ops, AutocastPolicy p) {
    for (OpId op : ops) {
      t.policy[size_t(op)] = p;
      ++t.declared[size_t(op)];
    }
  };
  add(kLowerOps, AutocastPolicy::Lower);
  add(kFp32Ops, AutocastPolicy::Fp32);
  add(kPromoteOps, AutocastPolicy::Promote);
  add(kNoneOps, AutocastPolicy::None);
  return t;
}
constexpr PolicyTable kPolicy = make_policy_table();

// The first op that is not named by exactly one list, or kNumOps.
constexpr int first_undeclared_op() {
  for (int k = 0; k < kNumOps; ++k)
    if (kPolicy.declared[size_t(k)] != 1) return k;
  return kNumOps;
}
// Fails to compile naming the op's index in ops.def (0-based) when an op is in no list or in several.
template <int OpIndexInOpsDef>
struct AutocastPolicyDeclared {
  static_assert(OpIndexInOpsDef == kNumOps,
                "an op of ops.def is in no autocast list or in several: put it in exactly one list above");
  static constexpr bool value = true;
};
static_assert(AutocastPolicyDeclared<first_undeclared_op()>::value);

struct AutocastState {
  std::array<bool, kNumDeviceTypes> enabled{};
  std::array<DType, kNumDeviceTypes> dtype{DType::BFloat16, DType::Float16};
  bool suspended = false;  // inside a backward pass: the state seen is not the caller's
  // AutocastGuards made while tracing that are alive, per device type: the state they set is
  // the traced function's own, not a condition of the trace.
  std::array<int, kNumDeviceTypes> traced_guards{};
  bool any() const {
    for (bool e : enabled)
      if (e) return true;
    return false;
  }
};

AutocastState& state() {
  static thread_local AutocastState s;
  return s;
}

// Trace guards: the objects are tags (one per device type and property); the readers re-read
// the replaying thread's state.
constexpr char kEnabledTag[kNumDeviceTypes] = {};
constexpr char kBF16Tag[kNumDeviceTypes] = {};

template <DeviceType D>
bool read_enabled(const void*) {
  return state().enabled[size_t(D)];
}
template <DeviceType D>
bool read_bf16(const void*) {
  return state().dtype[size_t(D)] == DType::BFloat16;
}

template <DeviceType D>
void report_guards(TraceRecorder& tracer) {
  const AutocastState& s = state();
  tracer.on_host_flag(&kEnabledTag[size_t(D)], s.enabled[size_t(D)], &read_enabled<D>, "autocast enabled");
  if (s.enabled[size_t(D)])
    tracer.on_host_flag(&kBF16Tag[size_t(D)], s.dtype[size_t(D)] == DType::BFloat16, &read_bf16<D>,
                        "autocast dtype is bfloat16");
}

// The device type autocast decides by: that of the first tensor input (wrapped numbers and
// absent optional inputs do not count); false when there is none.
bool input_device_type(TensorList inputs, DeviceType& type) {
  for (const Tensor& t : inputs)
    if (t.defined() && !t.impl()->is_wrapped_number()) {
      type = t.device().type;
      return true;
    }
  return false;
}

bool castable(const Tensor& t, DeviceType type) {
  return t.defined() && !t.impl()->is_wrapped_number() && is_floating(t.dtype()) && t.device().type == type;
}

}  // namespace

AutocastPolicy autocast_policy(OpId op) { return kPolicy.policy[size_t(op)]; }

const char* autocast_policy_name(AutocastPolicy p) {
  switch (p) {
    case AutocastPolicy::None:
      return "none";
    case AutocastPolicy::Lower:
      return "lower";
    case AutocastPolicy::Fp32:
      return "fp32";
    case AutocastPolicy::Promote:
      return "promote";
  }
  return "?";
}

bool autocast_enabled(DeviceType device_type) { return state().enabled[size_t(device_type)]; }
DType autocast_dtype(DeviceType device_type) { return state().dtype[size_t(device_type)]; }
DType default_autocast_dtype(DeviceType device_type) {
  return device_type == DeviceType::CPU ? DType::BFloat16 : DType::Float16;
}

AutocastGuard::AutocastGuard(DeviceType device_type, std::optional<DType> dtype, bool enabled)
    : device_type_(device_type),
      prev_enabled_(state().enabled[size_t(device_type)]),
      prev_dtype_(state().dtype[size_t(device_type)]),
      in_trace_(is_tracing()) {
  const DType d = dtype.value_or(default_autocast_dtype(device_type));
  DOPPEL_CHECK(d == DType::Float16 || d == DType::BFloat16,
               "autocast: the lower-precision dtype must be float16 or bfloat16, got {}", dtype_name(d));
  state().enabled[size_t(device_type)] = enabled;
  state().dtype[size_t(device_type)] = d;
  if (in_trace_) ++state().traced_guards[size_t(device_type)];
}

AutocastGuard::~AutocastGuard() {
  if (in_trace_) --state().traced_guards[size_t(device_type_)];
  state().enabled[size_t(device_type_)] = prev_enabled_;
  state().dtype[size_t(device_type_)] = prev_dtype_;
}

namespace detail {

bool autocast_any_enabled() { return state().any(); }

bool autocast_inputs(OpId op, TensorList inputs, std::vector<Tensor>& cast) {
  const AutocastPolicy policy = kPolicy.policy[size_t(op)];
  DeviceType type{};
  if (policy == AutocastPolicy::None || !input_device_type(inputs, type)) return false;
  TraceRecorder* const tracer = active_trace_recorder();
  if (tracer && !state().suspended && state().traced_guards[size_t(type)] == 0) [[unlikely]] {
    if (type == DeviceType::CPU)
      report_guards<DeviceType::CPU>(*tracer);
    else
      report_guards<DeviceType::CUDA>(*tracer);
  }
  const AutocastState& s = state();
  if (!s.enabled[size_t(type)]) return false;
  DType target = DType::Float32;
  if (policy == AutocastPolicy::Lower) target = s.dtype[size_t(type)];
  if (policy == AutocastPolicy::Promote) {
    bool first = true;
    for (const Tensor& t : inputs)
      if (castable(t, type)) {
        target = first ? t.dtype() : promote_types(target, t.dtype());
        first = false;
      }
  }
  // float64 is never lowered or upcast (Promote only casts to it).
  auto needs_cast = [&](const Tensor& t) {
    return castable(t, type) && t.dtype() != target &&
           (policy == AutocastPolicy::Promote || t.dtype() != DType::Float64);
  };
  bool any = false;
  for (const Tensor& t : inputs) any = any || needs_cast(t);
  if (!any) return false;
  cast.clear();
  cast.reserve(inputs.size());
  for (const Tensor& t : inputs)
    cast.push_back(needs_cast(t) ? dispatch1(OpId::cast, {t}, CastAttrs{.dtype = target}.pack()) : t);
  return true;
}

AutocastSuspend::AutocastSuspend() : prev_suspended_(state().suspended) {
  state().suspended = true;
  for (int k = 0; k < kNumDeviceTypes; ++k) {
    prev_[k] = state().enabled[size_t(k)];
    state().enabled[size_t(k)] = false;
  }
}

AutocastSuspend::~AutocastSuspend() {
  for (int k = 0; k < kNumDeviceTypes; ++k) state().enabled[size_t(k)] = prev_[k];
  state().suspended = prev_suspended_;
}

}  // namespace detail
}  // namespace doppel
