#pragma once
// Internal: memory overlap between the tensors of a write (in-place and out= calls), checked on
// the dispatch path before the kernel runs. A kernel writing element by element corrupts its
// result when an input element it still has to read was already overwritten, so, as PyTorch:
// an input may share memory with an output only element for element (`z.add_(z)`), and an output
// may not name one memory location twice (an expanded tensor).
#include <span>

#include "doppel/kernels/op_def.h"

namespace doppel::detail {

// Raises ValueError naming the call (write_name: "add_", "copy_") when an output has internal
// overlap or an input shares some, but not exactly the corresponding, elements with an output.
// Costs a storage comparison per (input, output) pair when nothing is shared.
void check_write_overlap(const OpDef& def, const OpCall& call, std::span<const Tensor> outputs);

}  // namespace doppel::detail
