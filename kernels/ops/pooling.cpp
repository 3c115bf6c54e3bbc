// PLACEHOLDER: replaced by the pooling op group.
#include "registration.h"
namespace doppel::registration {
void define_pooling_ops(OpDef*) {}
}  // namespace doppel::registration
