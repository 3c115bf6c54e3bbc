#pragma once
// Internal: how errors about a write (dispatch_out) name it — the call the user made, not the op
// that implements it.
#include <span>
#include <string>

#include "doppel/kernels/op_def.h"

namespace doppel::detail {

// "add_" for an in-place op (it writes its first input), "copy_" for a cast into an existing
// tensor (copy_, fill_, zero_), else "<op> (out=)".
inline std::string write_name(const OpDef& def, const OpCall& call, std::span<const Tensor> outputs) {
  if (call.op == OpId::cast) return "copy_";
  const bool in_place = !call.inputs.empty() && !outputs.empty() && call.inputs[0].defined() &&
                        call.inputs[0].impl() == outputs[0].impl();
  return in_place ? std::string(def.name) + "_" : std::string(def.name) + " (out=)";
}

}  // namespace doppel::detail
