// PLACEHOLDER: replaced by the loss op group.
#include "registration.h"
namespace doppel::registration {
void define_loss_ops(OpDef*) {}
}  // namespace doppel::registration
