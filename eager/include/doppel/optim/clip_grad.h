#pragma once
// Gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_), written in ops with no
// value read back to C++ (the scale is min(1, max_norm / (norm + 1e-6)) applied unconditionally),
// so it traces like the rest of a training step.
#include <vector>

#include "doppel/core/tensor.h"

namespace doppel::optim {

// Scales the gradients of `params` in place so that their total `norm_type`-norm (over all
// gradients as if concatenated; norm_type may be INFINITY) is at most max_norm. Parameters
// without a gradient are skipped. Returns the total norm before clipping as a 0-d tensor in the
// first gradient's dtype (0-d float32 zero when no parameter has a gradient). With
// error_if_nonfinite a NaN/Inf total norm raises ValueError; that check reads the norm back to the
// host (a device sync), so inside a trace it raises TraceError: leave it off in a captured step.
Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false, DOPPEL_LOC);

// Clamps every gradient element to [-clip_value, clip_value] in place.
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value, DOPPEL_LOC);

}  // namespace doppel::optim
