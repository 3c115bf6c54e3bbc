#pragma once
// Embedding: a lookup table [num_embeddings, embedding_dim] indexed by int32/int64 tensors.
// Initialized N(0, 1) with the padding_idx row (if any) zeroed; that row gets no gradient.
#include <optional>

#include "doppel/nn/module.h"

namespace doppel::nn {

class Embedding : public Module {
 public:
  // A negative padding_idx counts from the end (as PyTorch).
  Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = std::nullopt,
            DType dtype = DType::Float32);
  Tensor forward(const Tensor& indices) override;
  void reset_parameters();

  int64_t num_embeddings, embedding_dim;
  std::optional<int64_t> padding_idx;  // normalized to [0, num_embeddings)
  Tensor weight;

 protected:
  std::string extra_repr() const override;
};

}  // namespace doppel::nn
