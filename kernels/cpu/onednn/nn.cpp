// PLACEHOLDER: replaced by the nn op group.
#include "registration.h"
namespace doppel::registration {
void onednn_nn_kernels() {}
}  // namespace doppel::registration
