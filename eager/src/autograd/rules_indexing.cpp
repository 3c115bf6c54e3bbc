// Gradient rules of the indexing ops, written in doppel ops.
#include "autograd/rules.h"

namespace doppel::autograd {

void register_indexing_rules() {}

}  // namespace doppel::autograd
