// PLACEHOLDER: replaced by the nn op group.
#include "registration.h"
namespace doppel::registration {
void define_nn_ops(OpDef*) {}
}  // namespace doppel::registration
