#include "cpu/onednn/weight_cache.h"

#include <cstring>
#include <list>
#include <map>
#include <mutex>

#include "doppel/core/allocator.h"

namespace doppel::onednn {

namespace {

// What a view keeps: the view reordered into `want`, or the answer of one scan.
struct Entry {
  uint64_t version = 0;
  int kind = 0;                      // 0: prepacked; 1 + int(Special): a scan's answer
  dnnl::memory::desc want, derived;  // derived: what derive(w) was made for (see PrepackedWeight)
  std::shared_ptr<void> bytes;       // the prepacked copy
  dnnl::memory memory;
  int64_t size = 0;
  bool found = false;
};

// The view: storage serial, offset, dtype, shape and strides.
using ViewKey = std::vector<int64_t>;

ViewKey view_key(const Tensor& t) {
  ViewKey k;
  k.reserve(size_t(3 + 2 * t.dim()));
  k = {int64_t(t.storage()->serial()), t.storage_offset(), int64_t(t.dtype())};
  for (int64_t d : t.shape()) k.push_back(d);
  for (int64_t s : t.strides()) k.push_back(s);
  return k;
}

// Views in least-recently-used order. A view is admitted (its data kept) only once a call meets it
// a second time at the same version: a weight changed between calls (a training step) or a
// per-call temporary would only churn, so for those only the version last seen is remembered.
class Cache {
 public:
  std::shared_ptr<const Entry> find(const ViewKey& key, int kind, const dnnl::memory::desc* want, uint64_t version,
                                    const dnnl::memory::desc& derived = {}) {
    std::lock_guard lock(mu_);
    Slot* s = touch(key);
    if (!s) return nullptr;
    for (const auto& e : s->entries)
      if (e->kind == kind && e->version == version && (!want || (e->want == *want && e->derived == derived))) {
        (kind == 0 ? stats_.prepack_hits : stats_.scan_hits)++;
        return e;
      }
    return nullptr;
  }

  // Whether a call of `kind` (and layout `want`) met the view before at this version; records
  // the version either way.
  bool seen(const ViewKey& key, int kind, const dnnl::memory::desc& want, uint64_t version,
            const dnnl::memory::desc& derived = {}) {
    std::lock_guard lock(mu_);
    Slot* s = touch(key);
    if (!s) s = add_slot(key);
    for (Marker& m : s->seen)
      if (m.kind == kind && m.want == want && m.derived == derived) {
        const bool again = m.version == version;
        m.version = version;
        return again;
      }
    s->seen.push_back({kind, want, derived, version});
    return false;
  }

  bool seen_at(const ViewKey& key, int kind, const dnnl::memory::desc& want, uint64_t version) {
    std::lock_guard lock(mu_);
    const auto it = slots_.find(key);
    if (it == slots_.end()) return false;
    for (const Marker& m : it->second.seen)
      if (m.kind == kind && m.want == want) return m.version == version;
    return false;
  }

  // Keeps `e` for the view, replacing its entry of the same kind and layout (an older version).
  void insert(const ViewKey& key, std::shared_ptr<Entry> e) {
    std::lock_guard lock(mu_);
    (e->kind == 0 ? stats_.prepack_misses : stats_.scan_misses)++;
    Slot* s = touch(key);
    if (!s) s = add_slot(key);
    for (auto it = s->entries.begin(); it != s->entries.end();)
      if ((*it)->kind == e->kind && (*it)->want == e->want && (*it)->derived == e->derived) {
        stats_.bytes -= (*it)->size;
        it = s->entries.erase(it);
      } else {
        ++it;
      }
    stats_.bytes += e->size;
    s->entries.push_back(std::move(e));
    while ((stats_.bytes > kWeightCacheBytes || slots_.size() > kMaxViews) && lru_.size() > 1) evict_oldest();
  }

  void count_reorder() {
    std::lock_guard lock(mu_);
    ++stats_.prepack_reorders;
  }

  void count_as_is() {
    std::lock_guard lock(mu_);
    ++stats_.prepack_as_is;
  }

  WeightCacheStats stats() {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  static constexpr size_t kMaxViews = 4096;

  struct Marker {
    int kind = 0;  // an Entry's kind, or below 0 a reader's (reader_kind)
    dnnl::memory::desc want, derived;
    uint64_t version = 0;
  };
  struct Slot {
    std::vector<std::shared_ptr<Entry>> entries;
    std::vector<Marker> seen;  // the version each kind of call last met
    std::list<const ViewKey*>::iterator at;
  };

  // The view's slot moved to the front of the order, or null.
  Slot* touch(const ViewKey& key) {
    const auto it = slots_.find(key);
    if (it == slots_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second.at);
    return &it->second;
  }

  Slot* add_slot(const ViewKey& key) {
    auto [it, inserted] = slots_.emplace(key, Slot{});
    lru_.push_front(&it->first);
    it->second.at = lru_.begin();
    if (slots_.size() > kMaxViews) evict_oldest();
    return &it->second;
  }

  void evict_oldest() {
    const auto it = slots_.find(*lru_.back());
    for (const auto& e : it->second.entries) stats_.bytes -= e->size;
    lru_.pop_back();
    slots_.erase(it);
  }

  std::mutex mu_;
  std::map<ViewKey, Slot> slots_;
  std::list<const ViewKey*> lru_;  // most recent first
  WeightCacheStats stats_;
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: kernels may run during static destruction
  return *c;
}

// From the caching allocator (64-byte aligned), never from an executor's scratch arena.
std::shared_ptr<void> allocate_bytes(size_t n) {
  Allocator& a = allocator_for(kCPU);
  return std::shared_ptr<void>(a.allocate(n), [&a, n](void* p) { a.deallocate(p, n); });
}

}  // namespace

bool cacheable(const Tensor& t) { return t.device().is_cpu() && t.storage()->versioned(); }

// A reader's marks: kinds below 0 (0 is the prepacked copies, above 0 the scans), no layout (the
// prepacked layout is not known yet).
int reader_kind(WeightReader reader) { return -1 - int(reader); }

bool stable_weight(const Tensor& t, WeightReader reader) {
  return cacheable(t) && cache().seen_at(view_key(t), reader_kind(reader), {}, t.version());
}

void note_weight_use(const Tensor& t, WeightReader reader) {
  if (cacheable(t)) cache().seen(view_key(t), reader_kind(reader), {}, t.version());
}

PrepackedWeight::PrepackedWeight(const Tensor& w, const dnnl::memory::desc& user, const dnnl::memory::desc& want,
                                 const std::optional<dnnl::reorder>& re, bool may_cache, const DeriveWeight& derive,
                                 const dnnl::memory::desc& derived) {
  if (!re && !derive) {
    memory_ = memory_of(w, user);
    return;
  }
  ViewKey key;
  bool keep = false;
  const uint64_t version = w.version();
  if (may_cache && cacheable(w)) {
    key = view_key(w);
    if (auto hit = cache().find(key, 0, &want, version, derived)) {
      memory_ = hit->memory;
      keep_ = std::move(hit);
      return;
    }
    keep = cache().seen(key, 0, want, version, derived);
  }
  const Tensor from = derive ? derive(w) : w;
  if (!re && !keep) {  // derive(w) is the layout wanted: this call reads it
    memory_ = memory_of(from, user);
    keep_ = std::make_shared<const Tensor>(from);
    return;
  }
  std::shared_ptr<Entry> e;
  if (keep) {
    e = std::make_shared<Entry>();
    e->version = version;
    e->want = want;
    e->derived = derived;
    e->size = int64_t(want.get_size());
    e->bytes = allocate_bytes(want.get_size());
    e->memory = dnnl::memory(want, engine(), e->bytes.get());
    memory_ = e->memory;
    keep_ = e;
  } else {
    // A copy for this call only: a kernel temporary, which a planned graph takes from the arena
    // bytes no value uses during the call (core/scratch.h) instead of from the allocator.
    auto buf = std::make_shared<const Tensor>(make_tensor({int64_t(want.get_size())}, DType::UInt8, kCPU));
    memory_ = dnnl::memory(want, engine(), buf->raw_data());
    keep_ = std::move(buf);
  }
  if (re) {
    execute(*re, {{DNNL_ARG_FROM, memory_of(from, user)}, {DNNL_ARG_TO, memory_}});
    cache().count_reorder();
  } else {
    std::memcpy(memory_.get_data_handle(), from.raw_data(), want.get_size());  // from: contiguous, as `want`
  }
  if (e) cache().insert(key, std::move(e));
}

namespace {

// holds(t, what), remembered per version of t's storage; nullopt where `scan_unseen` is false and
// the view meets this kind of scan first at its current version (the version is noted: a second
// meeting scans and keeps the answer).
std::optional<bool> scan_cached(const Tensor& t, Special what, bool scan_unseen) {
  if (!cacheable(t)) return holds(t, what);
  const ViewKey key = view_key(t);
  const int kind = 1 + int(what);
  const uint64_t version = t.version();
  if (auto hit = cache().find(key, kind, nullptr, version)) return hit->found;
  const bool again = cache().seen(key, kind, {}, version);
  if (!again && !scan_unseen) return std::nullopt;
  const bool found = holds(t, what);
  if (again) {
    auto e = std::make_shared<Entry>();
    e->version = version;
    e->kind = kind;
    e->found = found;
    cache().insert(key, std::move(e));
  }
  return found;
}

}  // namespace

void note_prepack_as_is() { cache().count_as_is(); }

bool holds_cached(const Tensor& t, Special what) { return *scan_cached(t, what, true); }

std::optional<bool> holds_if_stable(const Tensor& t, Special what) { return scan_cached(t, what, false); }

}  // namespace doppel::onednn

namespace doppel {

WeightCacheStats weight_cache_stats() { return onednn::cache().stats(); }

}  // namespace doppel
