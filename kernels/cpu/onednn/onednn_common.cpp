#include "cpu/onednn/onednn_common.h"

#include <omp.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <mutex>
#include <unordered_map>

#include "cpu/vector_isa.h"
#include "doppel/core/strided_loop.h"
#include "doppel/kernels/implementation_report.h"
#include "doppel/kernels/parallel.h"
#include "input_description.h"

namespace doppel::onednn {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

namespace {

// Whether this CPU's oneDNN build computes in a reduced-precision type: oneDNN 3.2 has f16
// kernels only on ISAs with native f16 arithmetic (AVX512-FP16, AVX2-VNNI-2) and bf16 ones
// from AVX512-core on; elsewhere even a reorder to the type fails to create. Probed once with
// the two primitives every kernel of ours needs (a reorder from f32 and an eltwise).
bool probe(dnnl::memory::data_type t) {
  try {
    const dnnl::memory::desc f32({16}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::a);
    const dnnl::memory::desc md({16}, t, dnnl::memory::format_tag::a);
    dnnl::reorder::primitive_desc(engine(), f32, engine(), md);
    dnnl::reorder::primitive_desc(engine(), md, engine(), f32);
    dnnl::eltwise_forward::primitive_desc(engine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_relu,
                                          md, md, 0.f, 0.f);
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

}  // namespace

bool float_type(DType t) {
  static const bool bf16 = probe(dnnl::memory::data_type::bf16);
  static const bool f16 = probe(dnnl::memory::data_type::f16);
  return t == DType::Float32 || (t == DType::BFloat16 && bf16) || (t == DType::Float16 && f16);
}

std::optional<dnnl::memory::data_type> data_type(DType t) {
  using dt = dnnl::memory::data_type;
  if (is_floating(t) && t != DType::Float64 && !float_type(t)) return std::nullopt;
  switch (t) {
    case DType::Float32:
      return dt::f32;
    case DType::BFloat16:
      return dt::bf16;
    case DType::Float16:
      return dt::f16;
    case DType::Int8:
      return dt::s8;
    case DType::UInt8:
      return dt::u8;
    case DType::Int32:
      return dt::s32;
    default:
      return std::nullopt;
  }
}

bool has_data_type(DType t) { return data_type(t).has_value(); }

dnnl::memory::desc desc_of(const Tensor& t, IntList dims, IntList strides) {
  dnnl::memory::dims d(dims.begin(), dims.end()), s(strides.begin(), strides.end());
  if (d.empty()) {
    d = {1};
    s = {1};
  }
  return dnnl::memory::desc(d, *data_type(t.dtype()), s);
}

dnnl::memory::desc desc_of(const Tensor& t) { return desc_of(t, t.shape(), t.strides()); }

dnnl::memory::desc dense_desc(const Tensor& t) { return desc_of(t, t.shape(), contiguous_strides(t.shape())); }
bool describable(const Tensor& t) {
  try {
    desc_of(t);
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

dnnl::memory memory_of(const Tensor& t, const dnnl::memory::desc& md) {
  return dnnl::memory(md, engine(), t.raw_data());
}

int primitive_threads() { return omp_get_max_threads(); }

dnnl::primitive_attr attr() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

namespace {

// Audits pd (implementation_audit.h) and reports it to the profiler when one listens. Returns
// whether pd is reference-class.
bool audit(const_dnnl_primitive_desc_t pd, bool audited_optimized = false) {
  const bool reference = !audited_optimized && audit_implementation(pd);
  if (implementation_sink()) [[unlikely]]
    report_implementation(implementation_name(pd));
  return reference;
}

const_dnnl_memory_desc_t scratchpad_md(const_dnnl_primitive_desc_t pd) {
  return dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
}

size_t scratchpad_bytes(const_dnnl_primitive_desc_t pd) {
  const_dnnl_memory_desc_t md = scratchpad_md(pd);
  return md ? dnnl_memory_desc_get_size(md) : 0;
}

// A scratchpad for one call: from the executor's scratch arena while a plan runs, else the
// caching allocator.
Tensor scratchpad(size_t bytes) { return make_tensor({int64_t(bytes)}, DType::UInt8, kCPU); }

}  // namespace

void execute(const dnnl::primitive& p, std::unordered_map<int, dnnl::memory> args) {
  const_dnnl_primitive_desc_t pd = p.get_primitive_desc();
  audit(pd);
  const size_t bytes = scratchpad_bytes(pd);
  Tensor scratch;  // alive until the primitive has run (the stream is in-order and blocking)
  if (bytes > 0) {
    scratch = scratchpad(bytes);
    dnnl_memory_t mem = nullptr;
    dnnl::error::wrap_c_api(dnnl_memory_create(&mem, scratchpad_md(pd), engine().get(), scratch.raw_data()),
                            "could not create a scratchpad memory object");
    args.insert_or_assign(DNNL_ARG_SCRATCHPAD, dnnl::memory(mem));
  }
  p.execute(stream(), args);
}

void BoundArgs::set(int arg, const dnnl::memory::desc& md, const void* data) {
  void* handle = const_cast<void*>(data);  // oneDNN's handles are not const; inputs are only read
  for (size_t k = 0; k < memories_.size(); ++k)
    if (args_[k].arg == arg) {
      // A planned graph's values keep their arena bytes from run to run: mostly nothing to do.
      if (handles_[k] != handle) memories_[k].set_data_handle(handle);
      handles_[k] = handle;
      return;
    }
  memories_.emplace_back(md, engine(), handle);
  handles_.push_back(handle);
  args_.insert(args_.begin() + ptrdiff_t(memories_.size() - 1), {arg, memories_.back().get()});
}

void BoundArgs::execute(const dnnl::primitive& p) {
  const_dnnl_primitive_desc_t pd = p.get_primitive_desc();
  if (!audit(pd, optimized_)) optimized_ = true;
  if (!scratch_bytes_) scratch_bytes_ = scratchpad_bytes(pd);
  Tensor scratch;  // alive until the primitive has run (the stream is in-order and blocking)
  if (*scratch_bytes_ > 0) {
    scratch = scratchpad(*scratch_bytes_);
    if (scratch_) {
      if (scratch_.get_data_handle() != scratch.raw_data()) scratch_.set_data_handle(scratch.raw_data());
    } else {
      dnnl_memory_t mem = nullptr;
      dnnl::error::wrap_c_api(dnnl_memory_create(&mem, scratchpad_md(pd), engine().get(), scratch.raw_data()),
                              "could not create a scratchpad memory object");
      scratch_ = dnnl::memory(mem);
      args_.push_back({DNNL_ARG_SCRATCHPAD, scratch_.get()});
    }
  }
  dnnl::error::wrap_c_api(dnnl_primitive_execute(p.get(), stream().get(), int(args_.size()), args_.data()),
                          "could not execute a primitive");
}

BoundArgsPool::Lease BoundArgsPool::take() {
  std::unique_ptr<BoundArgs> args;
  {
    std::lock_guard lock(mu_);
    if (!free_.empty()) {
      args = std::move(free_.back());
      free_.pop_back();
    }
  }
  return Lease(*this, args ? std::move(args) : std::make_unique<BoundArgs>());
}

void BoundArgsPool::give_back(std::unique_ptr<BoundArgs> args) {
  std::lock_guard lock(mu_);
  free_.push_back(std::move(args));
}

dnnl::memory LayoutBuffer::fresh(const dnnl::memory::desc& md) {
  bytes_ = make_tensor({int64_t(md.get_size())}, DType::UInt8, kCPU);
  return dnnl::memory(md, engine(), bytes_.raw_data());
}

dnnl::memory LayoutBuffer::of(const std::optional<dnnl::reorder>& re, const dnnl::memory& user,
                              const dnnl::memory::desc& want, bool fill) {
  if (!re) return user;
  dnnl::memory m = fresh(want);
  if (fill) execute(*re, {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, m}});
  return m;
}

dnnl::reorder make_reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
  return dnnl::reorder(dnnl::reorder::primitive_desc(engine(), from, engine(), to, attr()));
}

std::optional<dnnl::reorder> reorder_if_needed(const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
  if (from == to) return std::nullopt;
  return make_reorder(from, to);
}

KeyBuilder& KeyBuilder::add(const Tensor& t) {
  if (!t.defined()) return add(int64_t(-1));
  add(int64_t(t.dtype()));
  add(IntList(t.shape()));
  return add(IntList(t.strides()));
}

KeyBuilder& KeyBuilder::add_dense(const Tensor& t) {
  if (!t.defined()) return add(int64_t(-1));
  add(int64_t(t.dtype()));
  return add(IntList(t.shape()));
}

KeyBuilder& KeyBuilder::add(const Attrs& attrs) {
  for (const Attr& a : attrs) {
    add(int64_t(a.kind));
    add(a.i);
    add(a.f);
    add(IntList(a.ints));
  }
  return *this;
}

namespace {
struct KeyHash {
  size_t operator()(const std::vector<int64_t>& k) const {
    uint64_t h = 1469598103934665603ull;
    for (int64_t w : k) h = (h ^ uint64_t(w)) * 1099511628211ull;
    return size_t(h);
  }
};
// Bounded: when full, the cache is cleared (shapes in a training loop repeat, so it refills
// with what is in use).
constexpr size_t kMaxEntries = 4096;
std::mutex g_mu;
std::unordered_map<std::vector<int64_t>, std::shared_ptr<void>, KeyHash> g_cache;
}  // namespace

namespace detail {
std::shared_ptr<void> cache_lookup(const std::vector<int64_t>& key) {
  std::lock_guard lock(g_mu);
  auto it = g_cache.find(key);
  return it == g_cache.end() ? nullptr : it->second;
}
void cache_insert(const std::vector<int64_t>& key, std::shared_ptr<void> value) {
  std::lock_guard lock(g_mu);
  if (g_cache.size() >= kMaxEntries) g_cache.clear();
  g_cache.emplace(key, std::move(value));
}
}  // namespace detail

size_t cache_size() {
  std::lock_guard lock(g_mu);
  return g_cache.size();
}

namespace {

KernelFn g_run[kNumOps];

void guarded_run(const OpCall& c, std::span<const Tensor> out) {
  try {
    g_run[int(c.op)](c, out);
  } catch (const dnnl::error& e) {
    doppel::detail::throw_error<InternalError>(
        fmt::format("{}: oneDNN failed on inputs ({}) that its kernel accepted ({}); please report this as a doppel "
                    "bug",
                    c.name(), describe_inputs(c), e.what()));
  }
}

}  // namespace

void register_onednn_kernel(OpId op, KernelFn run, SupportsFn supports) {
  g_run[int(op)] = run;
  register_kernel(op, Backend::OneDNN, {guarded_run, supports});
}

namespace {

// Whether p[0, n) holds `what`: a branch-free test of the float32 bits that the compiler
// vectorizes. Kernels with a fused activation scan every input on every call (a linear's whole
// weight matrix), so a per-element branch here cost more than the product at batch 1.
// In one copy per vector ISA (vector_isa.h): the batch-1 CNN scans its activations before each
// fused convolution and linear, ResNet-18 ~10 MB per image (800 KB in L2: SSE2 22 us, AVX-512 10.5).
template <Special W>
bool any_f32(const float* p, int64_t n) {
  uint32_t found = 0;
  vector_isa::run([p, n, &found] {
    uint32_t any = 0;
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t bits = std::bit_cast<uint32_t>(p[i]), magnitude = bits & 0x7fffffffu;
      if constexpr (W == Special::nan)
        any |= uint32_t(magnitude > 0x7f800000u);
      else if constexpr (W == Special::non_finite)
        any |= uint32_t(magnitude >= 0x7f800000u);
      else
        any |= uint32_t(magnitude > 0x7f800000u) | uint32_t(bits == 0x7f800000u);
    }
    found = any;
  });
  return found != 0;
}

bool any_f32(const float* p, int64_t n, Special what) {
  switch (what) {
    case Special::nan:
      return any_f32<Special::nan>(p, n);
    case Special::nan_or_pos_inf:
      return any_f32<Special::nan_or_pos_inf>(p, n);
    case Special::non_finite:
      return any_f32<Special::non_finite>(p, n);
  }
  return true;
}

}  // namespace

bool holds(const Tensor& x, Special what) {
  auto body = [&]<typename T>() {
    auto bad = [what](T v) {
      const float f = float(v);
      switch (what) {
        case Special::nan:
          return std::isnan(f);
        case Special::nan_or_pos_inf:
          return std::isnan(f) || f == INFINITY;
        case Special::non_finite:
          return !std::isfinite(f);
      }
      return true;
    };
    const T* p = static_cast<const T*>(x.raw_data());
    if (x.is_contiguous()) {
      std::atomic<bool> found{false};
      parallel_for(0, x.numel(), 65536, [&](int64_t b, int64_t e) {
        bool f = false;
        if constexpr (std::is_same_v<T, float>)
          f = any_f32(p + b, e - b, what);
        else
          for (int64_t i = b; i < e; ++i) f |= bad(p[i]);
        if (f) found = true;
      });
      return found.load();
    }
    bool found = false;
    for_each_strided<1>(x.shape(), {IntList(x.strides())},
                        [&](std::array<int64_t, 1> off, int64_t n, std::array<int64_t, 1> st) {
                          for (int64_t i = 0; i < n; ++i) found |= bad(p[off[0] + i * st[0]]);
                        });
    return found;
  };
  return DOPPEL_DISPATCH_FLOATING(x.dtype(), "holds", body);
}

Shape output_shape(const OpCall& c, size_t k) {
  const OpDef& def = op_def(c.op);
  std::array<OutputMeta, kMaxOutputs> metas;
  def.infer(c, std::span<OutputMeta>(metas.data(), size_t(def.num_outputs)));
  return metas[k].shape;
}

}  // namespace doppel::onednn
