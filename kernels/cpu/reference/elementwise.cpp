// Reference kernels of the elementwise group; the kernels live in elementwise_unary.cpp and
// elementwise_binary.cpp.
#include "registration.h"

namespace doppel::registration {

void reference_elementwise_unary_kernels();
void reference_elementwise_binary_kernels();

void reference_elementwise_kernels() {
  reference_elementwise_unary_kernels();
  reference_elementwise_binary_kernels();
}

}  // namespace doppel::registration
