// Grad mode and anomaly mode switches (thread-local, like PyTorch's).
#include <atomic>

#include "doppel/autograd.h"

namespace doppel {
namespace {
thread_local bool t_grad_enabled = true;
std::atomic<bool> g_anomaly{false};
}  // namespace

bool grad_mode_enabled() { return t_grad_enabled; }

NoGradGuard::NoGradGuard() : prev_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = prev_; }
EnableGradGuard::EnableGradGuard() : prev_(t_grad_enabled) { t_grad_enabled = true; }
EnableGradGuard::~EnableGradGuard() { t_grad_enabled = prev_; }

bool anomaly_mode_enabled() { return g_anomaly.load(std::memory_order_relaxed); }
void set_anomaly_mode(bool enabled) { g_anomaly.store(enabled); }
AnomalyModeGuard::AnomalyModeGuard(bool enabled) : prev_(anomaly_mode_enabled()) { set_anomaly_mode(enabled); }
AnomalyModeGuard::~AnomalyModeGuard() { set_anomaly_mode(prev_); }

}  // namespace doppel
