#pragma once
// The cache of library plans (cuBLASLt layouts and heuristic results, cuDNN descriptors and
// chosen algorithms): a plan is made once per key — the op, the device, every operand's shape,
// strides and dtype, the attributes, and whatever else the library's choice depends on — and
// shared by every later call with that key, from any thread. Pure C++ (no CUDA headers), so the
// key and the cache are tested on the CPU.
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "doppel/kernels/op_def.h"

namespace doppel::cuda {

class AlgoKey {
 public:
  AlgoKey(OpId op, int device) : words_{int64_t(op), int64_t(device)} {}

  AlgoKey& add(int64_t v) {
    words_.push_back(v);
    return *this;
  }
  AlgoKey& add(double v) {
    int64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    return add(bits);
  }
  // The length first, so that consecutive lists cannot be confused ([1, 2], [3] vs [1], [2, 3]).
  AlgoKey& add(IntList v) {
    add(int64_t(v.size()));
    for (int64_t x : v) add(x);
    return *this;
  }
  // Shape, strides and dtype; an undefined tensor is a marker of its own.
  AlgoKey& add(const Tensor& t) {
    if (!t.defined()) return add(int64_t(-1));
    add(int64_t(t.dtype()));
    add(IntList(t.shape()));
    return add(IntList(t.strides()));
  }
  AlgoKey& add(const Attr& a) {
    add(int64_t(a.kind));
    add(a.i);
    add(a.f);
    return add(IntList(a.ints));
  }

  const std::vector<int64_t>& words() const { return words_; }
  bool operator==(const AlgoKey& o) const { return words_ == o.words_; }

  struct Hash {
    size_t operator()(const AlgoKey& k) const {
      uint64_t h = 1469598103934665603ull;  // FNV-1a over the words
      for (int64_t w : k.words_) {
        h ^= uint64_t(w);
        h *= 1099511628211ull;
      }
      return size_t(h);
    }
  };

 private:
  std::vector<int64_t> words_;
};

// Plans of one kind (Entry) by key. A miss runs make() outside the lock (cudnnFind* may take
// milliseconds); when two threads miss at once, the first insert wins and both use it.
template <typename Entry>
class AlgoCache {
 public:
  template <typename Make>
  std::shared_ptr<const Entry> get(const AlgoKey& key, Make&& make) {
    {
      std::lock_guard lock(mu_);
      if (auto it = map_.find(key); it != map_.end()) return it->second;
    }
    auto made = std::make_shared<const Entry>(make());
    std::lock_guard lock(mu_);
    return map_.try_emplace(key, std::move(made)).first->second;
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return map_.size();
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<AlgoKey, std::shared_ptr<const Entry>, AlgoKey::Hash> map_;
};

}  // namespace doppel::cuda
