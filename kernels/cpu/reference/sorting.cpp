// Reference kernels of sort and topk. Each line along dim is ordered by
// sorting::entry_before (NaN largest, ties lower index first), so `stable` and `sorted` need no
// paths of their own. topk keeps a bounded heap of the k best entries while it scans the line
// when k is small against the line (the generation hot path: k = 50 of 50257 logits reads each
// logit once and moves few of them); otherwise it selects with nth_element and sorts the k
// selected. Lines run in parallel; each line's result depends on its own elements only, so the
// output does not depend on the thread count.
#include <algorithm>
#include <bit>
#include <vector>

#include "cpu/sorting_math.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/sorting.h"
#include "lines.h"
#include "registration.h"

namespace doppel::registration {

// In the other files of this group.
void reference_multinomial_kernel();
void reference_triangle_kernels();

namespace {

using reference::Lines;

// topk scans with a heap when k * kHeapRatio <= n (tests/ops/test_sorting.cpp runs both sides).
constexpr int64_t kHeapRatio = 16;

template <typename K>
struct Entry {
  K key;
  int64_t index;
};

template <typename K>
struct EntryOrder {
  bool descending;
  bool operator()(const Entry<K>& a, const Entry<K>& b) const {
    return sorting::entry_before(a.key, a.index, b.key, b.index, descending);
  }
};

// Writes the first k entries of `line` (a line of n elements `stride` apart from `src`) in
// order: values (copied from the input, so NaN payloads and signed zeros survive) and indices.
template <typename T>
void select_line(const T* src, int64_t stride, int64_t n, int64_t k, bool descending, T* values, int64_t* indices,
                 int64_t out_stride) {
  using K = compute_t<T>;
  const EntryOrder<K> order{descending};
  std::vector<Entry<K>> e;
  if (k * kHeapRatio <= n) {
    // A max-heap under `order`: its front is the worst entry kept. A later element replaces it
    // only when its key comes strictly first (an equal key has a higher index).
    e.reserve(size_t(k));
    for (int64_t i = 0; i < n && k > 0; ++i) {
      const K x = K(src[i * stride]);
      if (int64_t(e.size()) < k) {
        e.push_back({x, i});
        std::push_heap(e.begin(), e.end(), order);
      } else if (sorting::key_before(x, e.front().key, descending)) {
        std::pop_heap(e.begin(), e.end(), order);
        e.back() = {x, i};
        std::push_heap(e.begin(), e.end(), order);
      }
    }
    std::sort_heap(e.begin(), e.end(), order);
  } else {
    e.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) e[size_t(i)] = {K(src[i * stride]), i};
    if (k < n) std::nth_element(e.begin(), e.begin() + k, e.end(), order);
    std::sort(e.begin(), e.begin() + k, order);
  }
  for (int64_t j = 0; j < k; ++j) {
    values[j * out_stride] = src[e[size_t(j)].index * stride];
    indices[j * out_stride] = e[size_t(j)].index;
  }
}

// Both ops: the first k of each line's order (k = n for sort).
void select_lines(const OpCall& c, std::span<const Tensor> out, int64_t dim, int64_t k, bool descending) {
  const Tensor& vals = out[kSortValues];
  if (vals.numel() == 0) return;
  const Tensor x = contiguous_of(c.in(0));
  const Lines l = reference::lines_of(x.shape(), wrap_dim(c.name(), dim, std::max<int64_t>(x.dim(), 1)));
  int64_t* pi = out[kSortIndices].data_ptr<int64_t>();
  DOPPEL_DISPATCH_ALL(x.dtype(), c.name(), [&]<typename T>() {
    const T* px = x.data_ptr<T>();
    T* pv = vals.data_ptr<T>();
    // log2(n) comparisons per element for a sort.
    const int64_t work = k * kHeapRatio <= l.n ? 1 : std::max<int64_t>(1, std::bit_width(uint64_t(l.n)));
    reference::for_lines(
        l,
        [&](int64_t q, int64_t off) {
          const int64_t o = q / l.inner, i = q % l.inner, out_off = o * k * l.inner + i;
          select_line(px + off, l.inner, l.n, k, descending, pv + out_off, pi + out_off, l.inner);
        },
        work);
  });
}

void topk_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = TopkAttrs::of(c.attrs);
  // A 0-d input's output is 0-d whatever k is (PyTorch returns the element for k = 0 too).
  select_lines(c, out, a.dim, c.in(0).dim() == 0 ? 1 : a.k, a.largest);
}

void sort_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = SortAttrs::of(c.attrs);
  const Tensor& x = c.in(0);
  select_lines(c, out, a.dim, x.dim() == 0 ? 1 : x.shape()[size_t(wrap_dim(c.name(), a.dim, x.dim()))], a.descending);
}

}  // namespace

void reference_sorting_kernels() {
  register_kernel(OpId::topk, Backend::Reference, {topk_kernel});
  register_kernel(OpId::sort, Backend::Reference, {sort_kernel});
  reference_multinomial_kernel();
  reference_triangle_kernels();
}

}  // namespace doppel::registration
