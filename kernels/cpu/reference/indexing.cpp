// PLACEHOLDER: replaced by the indexing op group.
#include "registration.h"
namespace doppel::registration {
void reference_indexing_kernels() {}
}  // namespace doppel::registration
