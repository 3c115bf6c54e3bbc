// PLACEHOLDER: replaced by the indexing op group.
#include "registration.h"
namespace doppel::registration {
void define_indexing_ops(OpDef*) {}
}  // namespace doppel::registration
