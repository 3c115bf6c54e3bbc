// The main job (README command one). For now a short eager demo; later issues grow it into
// train on Fashion-MNIST → trace → export → run the exported model.
#include <iostream>

#include "doppel/doppel.h"

int main() {
  using namespace doppel;
  manual_seed(0);
  Tensor x = arange(0, 12).reshape({3, 4}).to(DType::Float32);
  std::cout << "x =\n" << x << "\n";
  std::cout << "x.t() =\n" << x.t() << "\n";
  std::cout << "randn(2, 3) =\n" << randn({2, 3}) << "\n";
  return 0;
}
