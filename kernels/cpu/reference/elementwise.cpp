// PLACEHOLDER: replaced by the elementwise op group.
#include "registration.h"
namespace doppel::registration {
void reference_elementwise_kernels() {}
}  // namespace doppel::registration
