// Gradient rules of the loss ops, written in doppel ops.
#include "autograd/rules.h"

namespace doppel::autograd {

void register_loss_rules() {}

}  // namespace doppel::autograd
