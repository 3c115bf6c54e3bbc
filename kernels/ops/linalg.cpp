// PLACEHOLDER: replaced by the linalg op group.
#include "registration.h"
namespace doppel::registration {
void define_linalg_ops(OpDef*) {}
}  // namespace doppel::registration
