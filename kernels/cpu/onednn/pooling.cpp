// PLACEHOLDER: replaced by the pooling op group.
#include "registration.h"
namespace doppel::registration {
void onednn_pooling_kernels() {}
}  // namespace doppel::registration
