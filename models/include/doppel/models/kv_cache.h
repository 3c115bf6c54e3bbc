#pragma once
// The key/value cache of a decoder: per layer, the keys and values [B, H_kv, S, D] of every token
// seen so far, grown by each forward call that is given the cache.
#include <utility>
#include <vector>

#include "doppel/core/tensor.h"

namespace doppel::models {

class KVCache {
 public:
  KVCache() = default;
  // A cache holding these per-layer keys and values (a compiled decode step's inputs).
  KVCache(std::vector<Tensor> keys, std::vector<Tensor> values);
  const std::vector<Tensor>& keys() const { return keys_; }
  const std::vector<Tensor>& values() const { return values_; }

  // Tokens cached (S); 0 before the first forward.
  int64_t length() const;
  // Appends this step's k, v [B, H_kv, L, D] to layer `layer` and returns the layer's full keys
  // and values [B, H_kv, S + L, D]. Layers are filled in order, starting from 0 on each call.
  std::pair<Tensor, Tensor> update(size_t layer, const Tensor& k, const Tensor& v);

 private:
  std::vector<Tensor> keys_, values_;
};

}  // namespace doppel::models
