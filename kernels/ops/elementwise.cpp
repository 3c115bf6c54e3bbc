// PLACEHOLDER: replaced by the elementwise op group.
#include "registration.h"
namespace doppel::registration {
void define_elementwise_ops(OpDef*) {}
}  // namespace doppel::registration
