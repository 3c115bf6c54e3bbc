// PLACEHOLDER: replaced by the pooling op group.
#include "registration.h"
namespace doppel::registration {
void reference_pooling_kernels() {}
}  // namespace doppel::registration
