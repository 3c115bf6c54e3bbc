#include "doppel/models/kv_cache.h"

#include "doppel/core/error.h"
#include "doppel/ops/indexing.h"

namespace doppel::models {

KVCache::KVCache(std::vector<Tensor> keys, std::vector<Tensor> values)
    : keys_(std::move(keys)), values_(std::move(values)) {
  DOPPEL_CHECK(keys_.size() == values_.size(), "KVCache: {} layers of keys but {} of values", keys_.size(),
               values_.size());
}

int64_t KVCache::length() const { return keys_.empty() ? 0 : keys_.front().size(2); }

std::pair<Tensor, Tensor> KVCache::update(size_t layer, const Tensor& k, const Tensor& v) {
  if (layer == keys_.size()) {
    keys_.push_back(k);
    values_.push_back(v);
  } else {
    DOPPEL_CHECK(layer < keys_.size(), "KVCache: layer {} updated before layer {}", layer, keys_.size());
    keys_[layer] = cat({keys_[layer], k}, 2);
    values_[layer] = cat({values_[layer], v}, 2);
  }
  return {keys_[layer], values_[layer]};
}

}  // namespace doppel::models
