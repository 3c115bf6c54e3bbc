#include "doppel/kernels/kernel_table.h"

#include <string>

#include "input_description.h"

namespace doppel {
namespace {
Kernel g_kernels[kNumOps][kNumBackends];
thread_local int t_forced = -1;
thread_local Backend t_last = Backend::Reference;
}  // namespace

std::string_view backend_name(Backend b) {
  switch (b) {
    case Backend::Reference: return "reference";
    case Backend::OneDNN: return "onednn";
    case Backend::CUDA: return "cuda";
  }
  return "?";
}

const Kernel& kernel_for(OpId op, Backend b) {
  init_op_table();
  return g_kernels[int(op)][int(b)];
}

void register_kernel(OpId op, Backend b, Kernel k) { g_kernels[int(op)][int(b)] = k; }

ForceBackendGuard::ForceBackendGuard(Backend b) : prev_(t_forced) { t_forced = int(b); }
ForceBackendGuard::~ForceBackendGuard() { t_forced = prev_; }
Backend last_selected_backend() { return t_last; }

std::string describe_inputs(const OpCall& call) {
  std::string s;
  for (const Tensor& t : call.inputs) {
    if (!s.empty()) s += ", ";
    s += t.defined() ? fmt::format("{}{}", dtype_name(t.dtype()), shape_str(t.shape())) : "none";
  }
  return s;
}

const Kernel& select_kernel(const OpCall& call, Device device) {
  const int op = int(call.op);
  if (t_forced >= 0) [[unlikely]] {
    const Kernel& k = g_kernels[op][t_forced];
    DOPPEL_CHECK_DTYPE(k.accepts(call), "{}: the {} backend has no kernel for inputs ({})", call.name(),
                       backend_name(Backend(t_forced)), describe_inputs(call));
    t_last = Backend(t_forced);
    return k;
  }
  if (device.is_cpu()) {
    const Kernel& fast = g_kernels[op][int(Backend::OneDNN)];
    if (fast.accepts(call)) {
      t_last = Backend::OneDNN;
      return fast;
    }
    const Kernel& ref = g_kernels[op][int(Backend::Reference)];
    if (ref.accepts(call)) {
      t_last = Backend::Reference;
      return ref;
    }
  } else {
    const Kernel& k = g_kernels[op][int(Backend::CUDA)];
    if (k.accepts(call)) {
      t_last = Backend::CUDA;
      return k;
    }
  }
  detail::throw_error<DTypeError>(fmt::format("{}: no kernel on {} accepts inputs ({}); convert the inputs to a "
                                              "supported dtype",
                                              call.name(), device.str(), describe_inputs(call)));
}

}  // namespace doppel
