// PLACEHOLDER: replaced by the nn op group.
#include "registration.h"
namespace doppel::registration {
void reference_nn_kernels() {}
}  // namespace doppel::registration
