#pragma once
// What every oneDNN kernel shares: the CPU engine and stream, dtype and tensor → memory
// descriptor mapping, primitive attributes and execution with our own scratchpad, and the
// primitive cache keyed by (op, shapes, strides, dtypes, attributes).
#include <oneapi/dnnl/dnnl.hpp>

#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "cpu/onednn/implementation_audit.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_def.h"

namespace doppel::onednn {

dnnl::engine& engine();
// The stream of the calling thread (streams are not thread-safe; engines are).
dnnl::stream& stream();

// The attributes every executed primitive is created with: scratchpad in user mode. oneDNN's
// library-managed scratchpad (this build: DNNL_ENABLE_CONCURRENT_EXEC off) belongs to the
// thread that created the primitive, so a cached primitive run from two threads at once would
// share it and corrupt results; with our own scratchpad per call, cached primitives are safe
// to run concurrently (the executor's and the server's concurrent runs rely on it).
dnnl::primitive_attr attr();

// Runs `p` on the calling thread's stream with `args` plus a scratchpad of the size `p` asks
// for, taken with make_tensor — from the executor's scratch arena while a plan runs, from the
// caching allocator in eager code. Every oneDNN kernel executes through this, which also
// records any primitive that runs a reference implementation (implementation_audit.h).
void execute(const dnnl::primitive& p, std::unordered_map<int, dnnl::memory> args);
// The arguments of one cached primitive, kept across its calls: each argument's memory object is
// made on the first call and re-pointed (set_data_handle) at later calls' buffers, the argument
// array, the scratchpad's size and the implementation audit's answer are kept, and the primitive
// runs through oneDNN's C call with that array — per call, no memory object is created, no hash map built and nothing
// allocated beyond the scratchpad (make_tensor, as execute()). At batch 1 those were microseconds of a convolution that
// computes in a few. One call at a time: a kernel takes one from its entry's BoundArgsPool for the call.
class BoundArgs {
 public:
  // Argument `arg` over `data`, described by `md` (the same descriptor on every call of the
  // primitive this belongs to).
  void set(int arg, const dnnl::memory::desc& md, const void* data);
  // Runs `p` (the same primitive on every call) as execute() does: audited, with a scratchpad.
  void execute(const dnnl::primitive& p);

 private:
  std::vector<dnnl::memory> memories_;   // the arguments set(), in args_'s order
  std::vector<void*> handles_;           // their data
  std::vector<dnnl_exec_arg_t> args_;    // those, then the scratchpad
  std::optional<size_t> scratch_bytes_;  // the primitive's, once queried
  bool optimized_ = false;               // audited once and not reference-class: not audited again
  dnnl::memory scratch_;
};

// The BoundArgs of one cached primitive, one per thread that runs it at a time (the executor's
// and the server's concurrent runs share cached primitives).
class BoundArgsPool {
 public:
  class Lease {
   public:
    Lease(BoundArgsPool& pool, std::unique_ptr<BoundArgs> args) : pool_(pool), args_(std::move(args)) {}
    ~Lease() { pool_.give_back(std::move(args_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    BoundArgs* operator->() const { return args_.get(); }

   private:
    BoundArgsPool& pool_;
    std::unique_ptr<BoundArgs> args_;
  };
  Lease take();

 private:
  void give_back(std::unique_ptr<BoundArgs> args);
  std::mutex mu_;
  std::vector<std::unique_ptr<BoundArgs>> free_;
};

// A reorder primitive from `from` to `to`, created with attr(); reorder_if_needed: none when
// the two descriptors are the same.
dnnl::reorder make_reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to);
std::optional<dnnl::reorder> reorder_if_needed(const dnnl::memory::desc& from, const dnnl::memory::desc& to);

// Memory in a primitive's layout for one call. `of`: the user's memory itself when there is no
// reorder, else a fresh buffer that the reorder fills from `user` when `fill` is set. `fresh`:
// a buffer of descriptor `md`. Buffers come from make_tensor (the scratch arena under the
// executor) and live as long as this object.
class LayoutBuffer {
 public:
  dnnl::memory of(const std::optional<dnnl::reorder>& re, const dnnl::memory& user, const dnnl::memory::desc& want,
                  bool fill);
  dnnl::memory fresh(const dnnl::memory::desc& md);

 private:
  Tensor bytes_;
};

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
// The descriptor of a contiguous tensor of t's shape and dtype (what a kernel that makes its
// inputs contiguous reads).
dnnl::memory::desc dense_desc(const Tensor& t);
// Whether oneDNN can describe t's strides: it refuses layouts whose elements overlap or
// interleave (views such as unfold's windows or a diagonal); kernels decline those.
bool describable(const Tensor& t);
// A memory object over the tensor's data (no copy).
dnnl::memory memory_of(const Tensor& t, const dnnl::memory::desc& md);
inline dnnl::memory memory_of(const Tensor& t) { return memory_of(t, desc_of(t)); }

// The OpenMP thread count of the calling thread: what a oneDNN primitive made now is built for
// (its work split is fixed when it is made, and it runs on that many threads at most).
int primitive_threads();

// Builds a cache key from the op, the thread count a primitive made now is built for, tensors'
// geometry and dtypes, and attributes.
class KeyBuilder {
 public:
  explicit KeyBuilder(OpId op, int64_t variant = 0) {
    words_.reserve(48);  // a convolution's key, grown one word at a time, without reallocating
    words_ = {int64_t(op), variant, primitive_threads()};
  }
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
  // Shape and dtype only: a tensor the kernel makes contiguous (undefined: a marker).
  KeyBuilder& add_dense(const Tensor& t);
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

// Whether input 0 or 1 of `c` is empty: products and convolutions with nothing to compute (or a
// zero or bias fill), which the kernels decline for the reference kernel.
inline bool empty_operands(const OpCall& c) { return c.in(0).numel() == 0 || c.in(1).numel() == 0; }

// Registers a oneDNN kernel. `supports` is the whole decision: `run` never hands an accepted call
// to another backend, so the backend select_kernel reports is the one that ran. A dnnl::error
// while `run` executes is an InternalError naming the op and its inputs.
void register_onednn_kernel(OpId op, KernelFn run, SupportsFn supports);

// Which values a scan looks for.
enum class Special { nan, nan_or_pos_inf, non_finite };
// Whether x (a floating tensor of any strides) holds such a value: the scan of the kernels whose
// primitive does not give the reference's answer on it (max pooling skips NaN, softmax leaves a
// row with NaN or +inf finite, eltwise post-ops map NaN and infinities differently), which then
// compute that rare input with the reference loop.
bool holds(const Tensor& x, Special what);

// The shape inference gives output `k` of `c` (supports() builds primitives before outputs exist;
// outputs of non-view ops are allocated contiguous with that shape).
Shape output_shape(const OpCall& c, size_t k = 0);

}  // namespace doppel::onednn
