#pragma once
// Keeps float32 products on oneDNN's primitives while alive. On AVX2 CPUs without AVX-512,
// doppel's own product (kernels/cpu/onednn/avx2_gemm.h) computes every float32 linear and matmul
// it reads; the tests of oneDNN's prepacking and fused primitives force the portable ISA, on
// which it does not run (oneDNN's own ISA is not vector_isa's).
#include "cpu/vector_isa.h"

namespace doppel::testing {

class OneDnnProducts {
 public:
  OneDnnProducts() = default;
  OneDnnProducts(const OneDnnProducts&) = delete;
  OneDnnProducts& operator=(const OneDnnProducts&) = delete;

 private:
  vector_isa::ForcedIsa forced_{vector_isa::Isa::Portable};
};

}  // namespace doppel::testing
