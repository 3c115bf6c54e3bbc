// Reference kernels of sort and topk. Each element becomes an unsigned key whose integer order
// is the op's order (sorting::ordered_key: NaN largest, -0.0 == +0.0), and each line is ordered
// by (key, index), so equal elements keep their input order and `stable` and `sorted` need no
// paths of their own. topk keeps a bounded heap of the k best entries while it scans the line
// when k is small against the line (the generation hot path: k = 50 of 50257 logits reads each
// logit once, screened by plain comparisons a block at a time, and moves few of them); otherwise, and for sort, the
// line is radix sorted (LSD, 8-bit digits, stable). Lines run in parallel; each line's result
// depends on its own elements only, so the output does not depend on the thread count.
#include <algorithm>
#include <vector>

#include "cpu/sorting_math.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/sorting.h"
#include "lines.h"
#include "registration.h"
#include "selection.h"

namespace doppel::registration {

// In the other files of this group.
void reference_multinomial_kernel();
void reference_triangle_kernels();

namespace {

using reference::Lines;

// topk scans with a heap when k * kHeapRatio <= n (tests/ops/test_sorting.cpp runs both sides).
constexpr int64_t kHeapRatio = 16;

// (key << 32 | index) for lines under 2^32 elements would halve the traffic; the index is kept
// whole instead, so any line length sorts.
template <typename U>
struct Entry {
  U key;
  int64_t index;
  bool operator<(const Entry& o) const { return key < o.key || (key == o.key && index < o.index); }
};

// The k first entries of the line's order, by a max-heap of the best k seen: its front is the
// worst entry kept, and a later element replaces it only when its key is strictly smaller (an
// equal key has a higher index). Blocks of 16 values are screened against the worst value
// first, with plain comparisons the compiler vectorizes, as few elements of a long line get in:
// !(x <= t) (descending) and !(x >= t) (ascending) hold for every x that comes before t (a NaN
// x or t passes the screen, and the keys decide).
template <typename U, typename KeyOf, typename ValueOf>
void heap_select(KeyOf key_of, ValueOf value_of, int64_t n, int64_t k, bool descending, std::vector<Entry<U>>& e) {
  e.clear();
  int64_t i = 0;
  for (; i < n && int64_t(e.size()) < k; ++i) e.push_back({key_of(i), i});
  std::make_heap(e.begin(), e.end());
  constexpr int64_t kBlock = 16;
  while (i < n) {
    if (i + kBlock <= n) {
      const auto t = value_of(e.front().index);
      bool any = false;
      for (int64_t j = 0; j < kBlock; ++j) {
        const auto x = value_of(i + j);
        any |= descending ? !(x <= t) : !(x >= t);
      }
      if (!any) {
        i += kBlock;
        continue;
      }
    }
    const int64_t end = std::min(n, i + kBlock);
    for (; i < end; ++i) {
      const U u = key_of(i);
      if (u >= e.front().key) continue;
      std::pop_heap(e.begin(), e.end());
      e.back() = {u, i};
      std::push_heap(e.begin(), e.end());
    }
  }
  std::sort_heap(e.begin(), e.end());
}

// The whole line in order: a stable LSD radix sort of the keys, 8 bits per pass, starting from
// index order (passes whose digit is the same for every key are skipped).
template <typename U, typename KeyOf>
void radix_sort(KeyOf key_of, int64_t n, std::vector<Entry<U>>& e, std::vector<Entry<U>>& tmp) {
  e.resize(size_t(n));
  tmp.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) e[size_t(i)] = {key_of(i), i};
  for (int shift = 0; shift < int(8 * sizeof(U)); shift += 8) {
    int64_t count[257] = {};
    for (const Entry<U>& x : e) ++count[((x.key >> shift) & 0xFF) + 1];
    if (count[((e[0].key >> shift) & 0xFF) + 1] == n) continue;
    for (int d = 0; d < 256; ++d) count[d + 1] += count[d];
    for (const Entry<U>& x : e) tmp[size_t(count[(x.key >> shift) & 0xFF]++)] = x;
    e.swap(tmp);
  }
}

// Writes the first k entries of the line of n elements `stride` apart from `src` in order:
// values (copied from the input, so NaN payloads and signed zeros survive) and indices.
template <typename T>
void select_line(const T* src, int64_t stride, int64_t n, int64_t k, bool descending, T* values, int64_t* indices,
                 int64_t out_stride) {
  using U = sorting::key_t<compute_t<T>>;
  auto value_of = [&](int64_t i) { return compute_t<T>(src[i * stride]); };
  auto key_of = [&](int64_t i) { return sorting::ordered_key(value_of(i), descending); };
  thread_local std::vector<Entry<U>> e, tmp;
  if (k * kHeapRatio <= n)
    heap_select<U>(key_of, value_of, n, k, descending, e);
  else
    radix_sort<U>(key_of, n, e, tmp);
  for (int64_t j = 0; j < k; ++j) {
    values[j * out_stride] = src[e[size_t(j)].index * stride];
    indices[j * out_stride] = e[size_t(j)].index;
  }
}

// Both ops: the first k of each line's order.
void select_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto [dim, k, descending] = selection_of(c);
  const Tensor& vals = out[kSortValues];
  if (vals.numel() == 0) return;
  const Tensor x = contiguous_of(c.in(0));
  const Lines l = reference::lines_of(x.shape(), dim);
  int64_t* pi = out[kSortIndices].data_ptr<int64_t>();
  DOPPEL_DISPATCH_ALL(x.dtype(), c.name(), [&]<typename T>() {
    const T* px = x.data_ptr<T>();
    T* pv = vals.data_ptr<T>();
    // A radix sort makes a pass per key byte.
    const int64_t work = k * kHeapRatio <= l.n ? 1 : int64_t(sizeof(sorting::key_t<compute_t<T>>));
    reference::for_lines(
        l,
        [&](int64_t q, int64_t off) {
          const int64_t o = q / l.inner, i = q % l.inner, out_off = o * k * l.inner + i;
          select_line(px + off, l.inner, l.n, k, descending, pv + out_off, pi + out_off, l.inner);
        },
        work);
  });
}

}  // namespace

void reference_sorting_kernels() {
  register_kernel(OpId::topk, Backend::Reference, {select_kernel});
  register_kernel(OpId::sort, Backend::Reference, {select_kernel});
  reference_multinomial_kernel();
  reference_triangle_kernels();
}

}  // namespace doppel::registration
