#include "doppel/dispatch.h"

#include <optional>

#include "autocast_hook.h"
#include "autograd/record.h"
#include "doppel/autograd.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/profiler_op_record.h"
#include "doppel/trace_hooks.h"
#include "mem_overlap.h"

namespace doppel {
namespace {

// Every input's device, for the error when they differ: "input 0 on cuda:0, input 1 on cpu".
std::string input_devices(const OpCall& call) {
  std::string out;
  for (size_t k = 0; k < call.inputs.size(); ++k) {
    const Tensor& t = call.inputs[k];
    if (!t.defined() || t.impl()->is_wrapped_number()) continue;
    out += fmt::format("{}input {} on {}", out.empty() ? "" : ", ", k, t.device().str());
  }
  return out;
}

// The device of the call: the inputs' common device (wrapped numbers and undefined optional
// inputs do not count), or the factory's device attribute.
Device common_device(const OpDef& def, const OpCall& call, std::span<const OutputMeta> metas) {
  if (def.has(kFactory)) return metas.empty() ? kCPU : metas[0].device;
  Device d = kCPU;
  bool found = false;
  for (const Tensor& t : call.inputs) {
    if (!t.defined() || t.impl()->is_wrapped_number()) continue;
    if (!found) {
      d = t.device();
      found = true;
    } else if (t.device() != d) [[unlikely]] {
      detail::throw_error<DeviceError>(
          fmt::format("{}: the inputs are on different devices ({}); move them to one device with .to(device) first",
                      def.name, input_devices(call)));
    }
  }
  return d;
}

struct Prepared {
  const OpDef* def;
  std::array<OutputMeta, kMaxOutputs> metas;
  Device device;
};

Prepared prepare(const OpCall& call) {
  Prepared p{&op_def(call.op), {}, kCPU};
  check_call(*p.def, call);
  const Device in_dev = common_device(*p.def, call, {});
  for (auto& m : p.metas) m.device = in_dev;
  if (!p.def->has(kView)) p.def->infer(call, std::span<OutputMeta>(p.metas.data(), size_t(p.def->num_outputs)));
  p.device = p.def->has(kFactory) ? p.metas[0].device : in_dev;
  return p;
}

OpOutputs dispatch_op(OpId op, TensorList inputs, const Attrs& attrs);
void dispatch_op_out(OpId op, TensorList inputs, const Attrs& attrs, TensorList outputs);

// The backend whose kernel the op just ran on this thread (none for a view).
std::optional<Backend> ran_on(OpId op) {
  return op_def(op).has(kView) ? std::nullopt : std::optional(last_selected_backend());
}

}  // namespace

TraceRecorder*& active_trace_recorder() {
  static thread_local TraceRecorder* recorder = nullptr;
  return recorder;
}

OpOutputs dispatch(OpId op, TensorList inputs, const Attrs& attrs) {
  if (!profiler::enabled()) [[likely]]
    return dispatch_op(op, inputs, attrs);
  const OpCall call{op, inputs, attrs};
  profiler::OpRecord record(profiler::EventKind::Op, call);
  OpOutputs out = dispatch_op(op, inputs, attrs);
  record.finish(out.span(), ran_on(op));
  return out;
}

void dispatch_out(OpId op, TensorList inputs, const Attrs& attrs, TensorList outputs) {
  if (!profiler::enabled()) [[likely]]
    return dispatch_op_out(op, inputs, attrs, outputs);
  const OpCall call{op, inputs, attrs};
  profiler::OpRecord record(profiler::EventKind::Op, call);
  dispatch_op_out(op, inputs, attrs, outputs);
  record.finish(std::span<const Tensor>(outputs.data(), outputs.size()), ran_on(op));
}

namespace {

OpOutputs dispatch_op(OpId op, TensorList inputs, const Attrs& attrs) {
  std::vector<Tensor> autocast;  // the inputs after autocast's casts (no allocation when unused)
  if (detail::autocast_any_enabled() || is_tracing()) [[unlikely]]
    if (detail::autocast_inputs(op, inputs, autocast)) inputs = autocast;
  const OpCall call{op, inputs, attrs};
  Prepared p = prepare(call);
  TraceRecorder* const tracer = active_trace_recorder();
  if (tracer) [[unlikely]]
    tracer->before_op(*p.def, call);
  OpOutputs out;
  out.n = p.def->num_outputs;
  if (p.def->has(kView)) {
    ViewGeometry g = p.def->view(call);
    out[0] = make_view(inputs[0], g.shape, g.strides, g.offset);
  } else {
    for (int k = 0; k < out.n; ++k) out[k] = make_tensor(p.metas[size_t(k)].shape, p.metas[size_t(k)].dtype, p.device);
    const Kernel& kernel = select_kernel(call, p.device);
    if (tracer) [[unlikely]] {
      ValueReadHookPause kernels_read_values;
      kernel.run(call, out.span());
    } else {
      kernel.run(call, out.span());
    }
  }
  if (tracer) [[unlikely]]
    tracer->after_op(*p.def, call, out.span(), false);
  if (anomaly_mode_enabled()) [[unlikely]]
    autograd::check_anomaly(*p.def, out.span());
  if (autograd::needs_recording(*p.def, inputs))
    autograd::record(*p.def, call, out.span());
  else if (p.def->has(kView) && grad_mode_enabled())
    autograd::track_view(out[0], inputs[0]);
  return out;
}

void dispatch_op_out(OpId op, TensorList inputs, const Attrs& attrs, TensorList outputs) {
  const OpCall call{op, inputs, attrs};
  Prepared p = prepare(call);
  DOPPEL_CHECK(!p.def->has(kView), "{}: a view op has no out= form", p.def->name);
  DOPPEL_CHECK(int(outputs.size()) == p.def->num_outputs, "{}: expected {} outputs, got {}", p.def->name,
               p.def->num_outputs, outputs.size());
  for (size_t k = 0; k < outputs.size(); ++k) {
    const OutputMeta& m = p.metas[k];
    const Tensor& o = outputs[k];
    DOPPEL_CHECK_SHAPE(o.shape() == m.shape, "{}: output {} has shape {} but the result has shape {}", p.def->name, k,
                       shape_str(o.shape()), shape_str(m.shape));
    DOPPEL_CHECK_DTYPE(o.dtype() == m.dtype, "{}: output {} has dtype {} but the result is {}; cast explicitly",
                       p.def->name, k, dtype_name(o.dtype()), dtype_name(m.dtype));
    DOPPEL_CHECK_DEVICE(o.device() == p.device, "{}: output {} is on {} but the inputs are on {}", p.def->name, k,
                        o.device().str(), p.device.str());
  }
  detail::check_write_overlap(*p.def, call, outputs);
  bool record = autograd::needs_recording(*p.def, inputs);
  for (const Tensor& o : outputs) record = record || (grad_mode_enabled() && o.requires_grad());
  std::shared_ptr<autograd::Node> node;
  if (record) node = autograd::begin_inplace(*p.def, call, outputs);
  TraceRecorder* const tracer = active_trace_recorder();
  if (tracer) [[unlikely]]
    tracer->before_op(*p.def, call);
  std::optional<ValueReadHookPause> kernels_read_values;
  if (tracer) [[unlikely]]
    kernels_read_values.emplace();
  const Kernel& kernel = select_kernel(call, p.device);
  bool strided_out = false;
  for (const Tensor& o : outputs) strided_out |= !o.is_contiguous();
  if (strided_out && !p.def->has(kElementwise)) {
    // Only elementwise kernels write through arbitrary strides; others fill a temporary.
    OpOutputs tmp;
    tmp.n = int(outputs.size());
    for (int k = 0; k < tmp.n; ++k)
      tmp[k] = make_tensor(outputs[size_t(k)].shape(), outputs[size_t(k)].dtype(), p.device);
    kernel.run(call, tmp.span());
    for (int k = 0; k < tmp.n; ++k) copy_strided(outputs[size_t(k)], tmp[k]);
  } else {
    kernel.run(call, std::span<const Tensor>(outputs));
  }
  for (const Tensor& o : outputs) o.bump_version();
  kernels_read_values.reset();
  if (tracer) [[unlikely]]
    tracer->after_op(*p.def, call, outputs, true);
  if (anomaly_mode_enabled()) [[unlikely]]
    autograd::check_anomaly(*p.def, outputs);
  if (node) autograd::finish_inplace(node, outputs);
}

}  // namespace

Tensor dispatch1(OpId op, TensorList inputs, const Attrs& attrs) { return std::move(dispatch(op, inputs, attrs)[0]); }

}  // namespace doppel
