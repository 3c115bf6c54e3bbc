#pragma once
// What every oneDNN kernel shares: the CPU engine and stream, dtype and tensor → memory
// descriptor mapping, and the primitive cache keyed by (op, shapes, strides, dtypes, attributes).
#include <oneapi/dnnl/dnnl.hpp>

#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "doppel/kernels/op_def.h"

namespace doppel::onednn {

dnnl::engine& engine();
// The stream of the calling thread (streams are not thread-safe; engines are).
dnnl::stream& stream();

// Whether oneDNN computes in this floating dtype on this CPU: float32 always; bfloat16 and
// float16 where the CPU's ISA has kernels for them (probed once). Kernels accept only these.
bool float_type(DType t);

// oneDNN's type for a dtype, or nullopt (int64, bool, float64, and bf16/f16 where the CPU
// has no kernels for them).
std::optional<dnnl::memory::data_type> data_type(DType t);
bool has_data_type(DType t);

// A memory descriptor with the tensor's dims and strides (a 0-d tensor becomes {1}).
dnnl::memory::desc desc_of(const Tensor& t);
// The same with explicit dims (e.g. a broadcast view described with 0 strides or a reshaped
// view of a contiguous tensor).
dnnl::memory::desc desc_of(const Tensor& t, IntList dims, IntList strides);
// A memory object over the tensor's data (no copy).
dnnl::memory memory_of(const Tensor& t, const dnnl::memory::desc& md);
inline dnnl::memory memory_of(const Tensor& t) { return memory_of(t, desc_of(t)); }

// Builds a cache key from the op, tensors' geometry and dtypes, and attributes.
class KeyBuilder {
 public:
  explicit KeyBuilder(OpId op, int64_t variant = 0) { words_ = {int64_t(op), variant}; }
  KeyBuilder& add(int64_t v) {
    words_.push_back(v);
    return *this;
  }
  KeyBuilder& add(double v) {
    int64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    return add(bits);
  }
  KeyBuilder& add(IntList v) {
    add(int64_t(v.size()));
    for (int64_t x : v) add(x);
    return *this;
  }
  // Shape, strides and dtype (undefined tensors count as a marker).
  KeyBuilder& add(const Tensor& t);
  KeyBuilder& add(const Attrs& attrs);
  const std::vector<int64_t>& words() const { return words_; }

 private:
  std::vector<int64_t> words_;
};

namespace detail {
std::shared_ptr<void> cache_lookup(const std::vector<int64_t>& key);
void cache_insert(const std::vector<int64_t>& key, std::shared_ptr<void> value);
}  // namespace detail

// The cached entry for `key`, created by `make()` on a miss. Entry is whatever the kernel
// needs to keep (typically a primitive plus its primitive_desc). The key must start with the
// OpId (KeyBuilder does that), so different ops never share an entry type.
template <typename Entry, typename Make>
std::shared_ptr<Entry> cached(const KeyBuilder& key, Make&& make) {
  if (auto hit = detail::cache_lookup(key.words())) return std::static_pointer_cast<Entry>(hit);
  auto entry = std::make_shared<Entry>(make());
  detail::cache_insert(key.words(), entry);
  return entry;
}

// Number of entries in the primitive cache (tests use it to check reuse).
size_t cache_size();

}  // namespace doppel::onednn
