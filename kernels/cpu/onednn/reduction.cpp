// PLACEHOLDER: replaced by the reduction op group.
#include "registration.h"
namespace doppel::registration {
void onednn_reduction_kernels() {}
}  // namespace doppel::registration
