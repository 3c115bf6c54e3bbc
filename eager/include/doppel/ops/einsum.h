#pragma once
// torch.einsum: Einstein summation over the subscripts of an equation such as "bij,bjk->bik".
#include <string_view>

#include "doppel/core/tensor.h"

namespace doppel {

// Subscripts are letters (a-z, A-Z); "..." stands for the dims no letter names, broadcast across
// operands (right-aligned, numpy rules). Without "->" the output is every letter that appears
// once, sorted, after the ellipsis dims. A letter of size 1 broadcasts against the other
// operands' size. Letters missing from the output are summed. The operands are contracted left
// to right, each pair by one batched matmul of permuted/reshaped views, so no broadcast product
// is materialized; gradients, tracing and export follow from those ops. A letter repeated within
// one operand ("ii->i", "ii", "bii->bi") takes that operand's diagonal first (a view).
Tensor einsum(std::string_view equation, TensorList operands, DOPPEL_LOC);

}  // namespace doppel
