#include "doppel/nn/embedding.h"

#include <fmt/format.h>

#include "doppel/autograd.h"
#include "doppel/nn/init.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::nn {

Embedding::Embedding(int64_t num, int64_t dim, std::optional<int64_t> pad, DType dtype)
    : Module("Embedding"), num_embeddings(num), embedding_dim(dim) {
  DOPPEL_CHECK(num >= 0 && dim >= 0, "Embedding: num_embeddings and embedding_dim must be >= 0, got {} and {}", num,
               dim);
  if (pad) {
    DOPPEL_CHECK_INDEX(*pad < num && *pad >= -num, "Embedding: padding_idx {} is out of range for {} embeddings", *pad,
                       num);
    padding_idx = *pad < 0 ? *pad + num : *pad;
  }
  weight = register_parameter("weight", empty({num, dim}, {.dtype = dtype}));
  reset_parameters();
}

void Embedding::reset_parameters() {
  init::normal_(weight);
  if (padding_idx) {
    NoGradGuard ng;
    copy_(weight.select(0, *padding_idx), zeros({embedding_dim}, {.dtype = weight.dtype()}));
  }
}

Tensor Embedding::forward(const Tensor& indices) { return embedding(indices, weight, padding_idx); }

std::string Embedding::extra_repr() const {
  std::string s = fmt::format("{}, {}", num_embeddings, embedding_dim);
  if (padding_idx) s += fmt::format(", padding_idx={}", *padding_idx);
  return s;
}

}  // namespace doppel::nn
