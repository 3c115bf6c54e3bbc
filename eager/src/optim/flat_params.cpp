#include "doppel/optim/flat_params.h"

#include "doppel/autograd.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/shape_ops.h"
#include "doppel/trace_hooks.h"

namespace doppel::optim {

namespace {
// Whether `t` is the part [begin, begin + numel) of `flat`'s storage, contiguous.
bool is_part_of(const Tensor& t, const Tensor& flat, int64_t begin, int64_t numel) {
  return t.storage().get() == flat.storage().get() && t.dtype() == flat.dtype() && t.storage_offset() == begin &&
         t.numel() == numel && t.is_contiguous();
}
}  // namespace

bool FlatParams::holds(const std::vector<Tensor>& params) const {
  if (!flat_.defined() || offsets_.size() != params.size() + 1) return false;
  for (size_t j = 0; j < params.size(); ++j)
    if (!is_part_of(params[j], flat_, offsets_[j], offsets_[j + 1] - offsets_[j])) return false;
  return true;
}

void FlatParams::ensure(const char* opt, const std::vector<Tensor>& params) {
  if (params.empty() || holds(params)) return;
  const Tensor& first = params.front();
  for (const Tensor& p : params) {
    DOPPEL_CHECK_DTYPE(is_floating(p.dtype()) && p.dtype() == first.dtype(),
                       "{}(fused=True): the parameters of a group must share one floating dtype, got {} and {}; "
                       "put them in separate parameter groups or use fused=False",
                       opt, dtype_name(first.dtype()), dtype_name(p.dtype()));
    DOPPEL_CHECK_DEVICE(p.device() == first.device(),
                        "{}(fused=True): the parameters of a group must be on one device, got {} and {}; put them "
                        "in separate parameter groups or use fused=False",
                        opt, first.device().str(), p.device().str());
  }
  NoGradGuard no_grad;
  std::vector<Tensor> parts;
  offsets_.assign(1, 0);
  shapes_.clear();
  for (const Tensor& p : params) {
    parts.push_back(p.detach().reshape({-1}));
    offsets_.push_back(offsets_.back() + p.numel());
    shapes_.push_back(p.shape());
  }
  flat_ = cat(parts);
  for (size_t j = 0; j < params.size(); ++j)
    params[j].impl()->replace_data(flat_.storage(), flat_.dtype(), contiguous_strides(shapes_[j]), offsets_[j]);
}

Tensor FlatParams::view(const Tensor& flat, size_t j) const {
  return flat.narrow(0, offsets_[j], offsets_[j + 1] - offsets_[j]).view(shapes_[j]);
}

Tensor FlatParams::slice(const Tensor& flat, const FlatRun& r) const {
  // The whole buffer is the buffer itself, not a view of it: in a trace the update then reads
  // and writes the state tensor, which the executor updates in place.
  if (offsets_[r.begin] == 0 && offsets_[r.end] == flat.numel()) return flat;
  return flat.narrow(0, offsets_[r.begin], offsets_[r.end] - offsets_[r.begin]);
}

void FlatParams::ensure_state(Tensor& flat, const std::vector<Tensor*>& fields) const {
  NoGradGuard no_grad;
  if (!flat.defined() || flat.dim() != 1 || flat.numel() != flat_.numel() || flat.dtype() != flat_.dtype() ||
      flat.device() != flat_.device() || !flat.is_contiguous())
    flat = zeros({flat_.numel()}, {.dtype = flat_.dtype(), .device = flat_.device()});
  for (size_t j = 0; j < fields.size(); ++j) {
    Tensor& f = *fields[j];
    if (!f.defined() || is_part_of(f, flat, flat.storage_offset() + offsets_[j], offsets_[j + 1] - offsets_[j]))
      continue;
    const Tensor part = view(flat, j);
    copy_(part, f);
    f = part;
  }
}

Tensor FlatParams::gather(const std::vector<Tensor>& grads, const FlatRun& r) const {
  if (r.end - r.begin == 1) return contiguous(grads[r.begin]).reshape({-1});
  std::vector<Tensor> parts;
  for (size_t j = r.begin; j < r.end; ++j) parts.push_back(grads[j].reshape({-1}));
  return cat(parts);
}

void FlatParams::apply(const std::vector<FlatRun>& runs, const std::vector<Tensor>& targets,
                       const std::function<void(const FlatRun&, const std::vector<Tensor>&)>& update) const {
  if (runs.empty()) return;
  const size_t n = offsets_.size() - 1;
  if (runs.size() == 1 && runs[0].begin == 0 && runs[0].end == n) return update(runs[0], targets);
  if (!is_tracing()) {
    // Eagerly each run writes its own part in place.
    for (const FlatRun& r : runs) {
      std::vector<Tensor> parts;
      for (const Tensor& t : targets) parts.push_back(slice(t, r));
      update(r, parts);
    }
    return;
  }
  std::vector<std::vector<Tensor>> results(runs.size());
  for (size_t k = 0; k < runs.size(); ++k) {
    for (const Tensor& t : targets) results[k].push_back(empty_like(slice(t, runs[k])));
    update(runs[k], results[k]);
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    std::vector<Tensor> parts;
    size_t at = 0;
    for (size_t k = 0; k < runs.size(); ++k) {
      if (runs[k].begin > at) parts.push_back(slice(targets[i], {at, runs[k].begin}));
      parts.push_back(results[k][i]);
      at = runs[k].end;
    }
    if (at < n) parts.push_back(slice(targets[i], {at, n}));
    copy_(targets[i], cat(parts));
  }
}

}  // namespace doppel::optim
