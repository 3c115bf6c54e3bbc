#pragma once
// Internal: how error messages about a call name its inputs ("float32[2, 3], none"), shared by
// the kernel selection and the oneDNN kernels' run-time errors.
#include <string>

#include "doppel/kernels/op_def.h"

namespace doppel {

std::string describe_inputs(const OpCall& call);

}  // namespace doppel
