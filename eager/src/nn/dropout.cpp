#include "doppel/nn/dropout.h"

#include <fmt/format.h>

#include "doppel/ops/nn.h"

namespace doppel::nn {

Dropout::Dropout(double p_) : Module("Dropout"), p(p_) {
  DOPPEL_CHECK(p >= 0.0 && p <= 1.0, "Dropout: probability p must be in [0, 1], got {}", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training()); }

std::string Dropout::extra_repr() const { return fmt::format("p={}", p); }

}  // namespace doppel::nn
