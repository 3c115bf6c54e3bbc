// PLACEHOLDER: replaced by the reduction op group.
#include "registration.h"
namespace doppel::registration {
void define_reduction_ops(OpDef*) {}
}  // namespace doppel::registration
