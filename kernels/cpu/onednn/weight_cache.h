#pragma once
// What kernels derive from a weight once and keep across calls, instead of recomputing it on
// every call: the weight reordered into the layout a primitive reads (prepacking — a
// convolution's OIhw16i16o copy, done when the weight first meets the primitive, again only
// after the weight changes), and whether it holds NaN or infinities (the fused kernels' check,
// which would otherwise read a linear layer's whole weight matrix on every batch-1 call).
//
// An entry belongs to one storage (by serial: never reused), one byte offset and view geometry,
// and one version of the storage: a write through any doppel op bumps the version, which
// invalidates it. Only storages whose every write bumps the version (StorageImpl::versioned:
// owned memory, a read-only model file) are cached; borrowed, shared-out or executor-arena
// memory is recomputed each call. A view is kept only from the second call that meets it at the
// same version: a weight a training step changes between calls, or a per-call temporary, is
// never copied, only its last version remembered. Bounded: least recently used views go past
// kWeightCacheBytes of copies or 4096 views.
#include <cstdint>
#include <functional>
#include <optional>

#include "cpu/onednn/onednn_common.h"
#include "doppel/kernels/weight_cache.h"

namespace doppel::onednn {

// The cap on cached reordered weights (bytes); past it the least recently used go.
inline constexpr int64_t kWeightCacheBytes = int64_t(1) << 30;

// A weight derived from another (the int8 kernels' split weight, int8_pairs.h): a new contiguous
// tensor, of other geometry than w's (its layout `want` tells it from w's own prepacked copy).
using DeriveWeight = std::function<Tensor(const Tensor& w)>;

// A weight in a primitive's layout for one call: the cached reordered copy when w may be cached,
// else a buffer filled by `re` for this call (held by this object).
class PrepackedWeight {
 public:
  // w's memory in layout `want`: w itself (as `user`) when `re` is empty. `may_cache` false: w
  // is a per-call temporary (a contiguous copy), not worth an entry. With `derive`, `user` is
  // derive(w)'s layout, and the copy in `want` (cached as w's) is derive(w)'s, reordered by `re`.
  // `derived` tells apart derive functions whose copies have the same `want` (Winograd's
  // transformed weights, bytes in `want`: the layout of the products that read them).
  PrepackedWeight(const Tensor& w, const dnnl::memory::desc& user, const dnnl::memory::desc& want,
                  const std::optional<dnnl::reorder>& re, bool may_cache = true, const DeriveWeight& derive = {},
                  const dnnl::memory::desc& derived = {});
  const dnnl::memory& memory() const { return memory_; }

 private:
  std::shared_ptr<const void> keep_;  // the cache entry or the per-call buffer
  dnnl::memory memory_;
};

// Whether data derived from t may be cached: a CPU tensor whose storage versions every write.
bool cacheable(const Tensor& t);
// How a product reads a weight: linear's x·wᵀ, or matmul's a·b (its 2-d b). The two read a
// matrix in different packed layouts, so each keeps its own record.
enum class WeightReader { Linear, Matmul };
// Whether this reader met its weight t before at its current version (note_weight_use records each
// use): a weight that stays put between calls, worth prepacking; one that changes every call (a
// training step's) is read as it is. A training step reads each weight once per version in each
// way — linear in forward, matmul (the input gradient dy·w) in backward — so neither prepacks:
// a prepacking reorder used once costs more than reading the plain layout (512×512: ~75 µs).
bool stable_weight(const Tensor& t, WeightReader reader);
void note_weight_use(const Tensor& t, WeightReader reader);
// Counts a call of a primitive made to read a prepacked weight that wants the weight's own layout
// (WeightCacheStats::prepack_as_is).
void note_prepack_as_is();

// holds(t, what), remembered per version of t's storage when it may be cached.
bool holds_cached(const Tensor& t, Special what);
// holds_cached without the scan where t meets it first at its current version (nullopt): a
// weight a training step changes between calls is never scanned; one that stays put is, on the
// second call, and its answer kept. Storages that may not be cached are scanned every call.
std::optional<bool> holds_if_stable(const Tensor& t, Special what);

}  // namespace doppel::onednn
