#pragma once
// Kernels per (op, backend). The dispatcher asks the preferred backend for the device first
// (oneDNN on the CPU), and falls back to the reference backend when it declines.
#include <span>

#include "doppel/kernels/op_def.h"

namespace doppel {

enum class Backend : uint8_t { Reference, OneDNN, CUDA };
inline constexpr int kNumBackends = 3;
std::string_view backend_name(Backend b);

// Outputs are allocated by the caller from the op's inference (contiguous, or aliases of
// inputs for in-place use); inputs may have any strides.
using KernelFn = void (*)(const OpCall& call, std::span<const Tensor> outputs);
// Whether the kernel handles this call (dtypes, ranks, attributes). nullptr means "always".
using SupportsFn = bool (*)(const OpCall& call);

struct Kernel {
  KernelFn run = nullptr;
  SupportsFn supports = nullptr;
  explicit operator bool() const { return run != nullptr; }
  bool accepts(const OpCall& call) const { return run && (!supports || supports(call)); }
};

const Kernel& kernel_for(OpId op, Backend b);
void register_kernel(OpId op, Backend b, Kernel k);

// Picks the kernel for a call on `device`: the forced backend when one is set, else the
// device's fast backend if it accepts the call, else the reference backend. Throws naming the
// op, dtypes and device when nothing accepts.
const Kernel& select_kernel(const OpCall& call, Device device);

// Forces one backend on this thread (tests compare backends with it).
class ForceBackendGuard {
 public:
  explicit ForceBackendGuard(Backend b);
  ~ForceBackendGuard();
  ForceBackendGuard(const ForceBackendGuard&) = delete;
  ForceBackendGuard& operator=(const ForceBackendGuard&) = delete;

 private:
  int prev_;
};
// The backend select_kernel used last on this thread (tests check that oneDNN really ran).
Backend last_selected_backend();

// Registers every op definition and kernel; idempotent and thread-safe. Called by op_def() and
// kernel_for() on first use.
void init_op_table();

}  // namespace doppel
