// PLACEHOLDER: replaced by the linalg op group.
#include "registration.h"
namespace doppel::registration {
void onednn_linalg_kernels() {}
}  // namespace doppel::registration
