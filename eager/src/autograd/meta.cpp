// Per-tensor autograd state and the Tensor methods that read or change it.
#include "autograd/meta.h"

#include <atomic>
#include <limits>

#include "autograd/copy_slices.h"
#include "doppel/autograd.h"
#include "doppel/ops/elementwise.h"

namespace doppel {
namespace autograd {

Meta& ensure_meta(const Tensor& t) {
  if (Meta* m = meta_of(t)) return *m;
  t.impl()->set_autograd_meta(std::make_unique<Meta>());
  return *meta_of(t);
}

Edge gradient_edge(const Tensor& t) {
  Meta* m = meta_of(t);
  if (!m) return {};
  if (m->base.defined() && (m->view_version != t.version() || !m->requires_grad) && requires_grad(m->base)) {
    // Written since its grad_fn was made (through any alias), or its base has a history only
    // since: a view of the base's history now.
    m->requires_grad = true;
    m->grad_fn = as_strided_node(t, m->base);
    m->output_nr = 0;
    m->view_version = t.version();
  }
  if (!m->requires_grad) return {};
  if (m->grad_fn) return {m->grad_fn, m->output_nr};
  std::shared_ptr<Node> acc = m->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<Node>();
    acc->kind = Node::Kind::AccumulateGrad;
    // Runs as soon as it is ready (PyTorch's UINT64_MAX): the gradient lands in .grad() and its
    // post-accumulate hooks fire (DistributedDataParallel starts a bucket's all-reduce) while the
    // rest of backward still runs, instead of after every other node.
    acc->sequence_nr = std::numeric_limits<uint64_t>::max();
    acc->leaf = t.impl_ptr();
    acc->inputs.push_back({t.shape(), t.dtype(), t.device()});
    acc->outputs.push_back({t.shape(), t.dtype(), t.device()});
    m->grad_accumulator = acc;
  }
  return {acc, 0};
}

Tensor alias_without_grad(const Tensor& t) {
  return Tensor(make_intrusive<TensorImpl>(t.storage(), t.shape(), t.strides(), t.storage_offset(), t.dtype()));
}

std::string Node::name() const {
  switch (kind) {
    case Kind::AccumulateGrad:
      return "AccumulateGrad";
    case Kind::CopySlices:
      return fmt::format("CopySlices({}_backward)", op_name(op));
    case Kind::AsStrided:
      return "AsStridedBackward";
    case Kind::Op:
      break;
  }
  return std::string(op_name(op)) + "_backward";
}

}  // namespace autograd

using autograd::Meta;
using autograd::meta_of;

bool Tensor::requires_grad() const { return autograd::requires_grad(*this); }

const Tensor& Tensor::set_requires_grad(bool requires_grad, SourceLoc loc) const {
  CallSiteScope s(loc);
  Meta* m = meta_of(*this);
  DOPPEL_CHECK(!m || !m->grad_fn || requires_grad,
               "set_requires_grad: only leaf tensors can change requires_grad; this tensor comes from {} (use "
               "detach() to get a leaf)",
               m && m->grad_fn ? m->grad_fn->name() : "");
  DOPPEL_CHECK_DTYPE(!requires_grad || is_floating(dtype()),
                     "set_requires_grad: only floating-point tensors can require gradients, got {}",
                     dtype_name(dtype()));
  if (!m && !requires_grad) return *this;
  autograd::ensure_meta(*this).requires_grad = requires_grad;
  return *this;
}

bool Tensor::is_leaf() const {
  const Meta* m = meta_of(*this);
  return !m || !m->grad_fn;
}

Tensor Tensor::grad() const {
  const Meta* m = meta_of(*this);
  return m && m->grad ? *m->grad : Tensor();
}

void Tensor::set_grad(const Tensor& g, SourceLoc loc) const {
  CallSiteScope s(loc);
  if (g.defined()) {
    DOPPEL_CHECK_SHAPE(g.shape() == shape(), "set_grad: gradient shape {} differs from the tensor's shape {}",
                       shape_str(g.shape()), shape_str(shape()));
    DOPPEL_CHECK_DTYPE(g.dtype() == dtype(), "set_grad: gradient dtype {} differs from the tensor's dtype {}",
                       dtype_name(g.dtype()), dtype_name(dtype()));
  }
  autograd::ensure_meta(*this).grad_slot() = g;
}

Tensor Tensor::detach(SourceLoc) const { return autograd::alias_without_grad(*this); }

const Tensor& Tensor::retain_grad(SourceLoc loc) const {
  CallSiteScope s(loc);
  Meta* m = meta_of(*this);
  DOPPEL_CHECK(m && m->requires_grad, "retain_grad: the tensor does not require grad");
  if (!m->grad_fn || m->retains_grad) return *this;
  m->retains_grad = true;
  m->grad_slot();
  std::shared_ptr<Tensor> slot = m->grad;
  m->grad_fn->pre_hooks.push_back({m->output_nr, {-1, [slot](const Tensor& g) {
                                                    *slot = slot->defined() ? add(*slot, g) : g;
                                                    return Tensor();
                                                  }}});
  return *this;
}

namespace {
std::atomic<int64_t> g_next_hook{1};
}

int64_t Tensor::register_hook(std::function<Tensor(const Tensor&)> hook) const {
  Meta* m = meta_of(*this);
  DOPPEL_CHECK(m && m->requires_grad, "register_hook: the tensor does not require grad; call set_requires_grad first");
  const int64_t id = g_next_hook++;
  if (m->grad_fn)
    m->grad_fn->pre_hooks.push_back({m->output_nr, {id, std::move(hook)}});
  else
    m->leaf_hooks.push_back({id, std::move(hook)});
  return id;
}

void Tensor::remove_hook(int64_t handle) const {
  Meta* m = meta_of(*this);
  if (!m) return;
  std::erase_if(m->leaf_hooks, [&](const autograd::Hook& h) { return h.id == handle; });
  if (m->grad_fn) std::erase_if(m->grad_fn->pre_hooks, [&](const auto& p) { return p.second.id == handle; });
}

std::string grad_fn_name(const Tensor& t) {
  const Meta* m = meta_of(t);
  return m && m->grad_fn ? m->grad_fn->name() : std::string();
}

}  // namespace doppel
