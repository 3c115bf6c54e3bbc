// Gradient rules of the nn ops, written in doppel ops.
#include "autograd/rules.h"

namespace doppel::autograd {

void register_nn_rules() {}

}  // namespace doppel::autograd
