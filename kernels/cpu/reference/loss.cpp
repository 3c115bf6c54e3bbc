// PLACEHOLDER: replaced by the loss op group.
#include "registration.h"
namespace doppel::registration {
void reference_loss_kernels() {}
}  // namespace doppel::registration
