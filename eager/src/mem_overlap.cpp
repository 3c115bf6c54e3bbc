// Memory overlap checks for writes (see mem_overlap.h).
#include "mem_overlap.h"

#include <algorithm>
#include <vector>

#include "element_offsets.h"
#include "write_name.h"

namespace doppel::detail {
namespace {

// Whether two index tuples of t name one element. Sure for a stride-0 dim of size > 1; else
// none can when the dims, ordered by |stride|, nest (each stride exceeds the span of the smaller
// ones: every slice, transpose and step view); the rest (overlapping unfold windows) is decided
// by enumerating the elements.
bool has_internal_overlap(const Tensor& t) {
  if (t.numel() <= 1 || t.is_contiguous()) return false;
  std::vector<std::pair<int64_t, int64_t>> dims;  // (|stride|, size) of the dims of size > 1
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.size(d) == 1) continue;
    if (t.stride(d) == 0) return true;
    dims.emplace_back(std::abs(t.stride(d)), t.size(d));
  }
  std::sort(dims.begin(), dims.end());
  int64_t span = 0;
  bool nested = true;
  for (const auto& [stride, size] : dims) {
    nested = nested && stride > span;
    span += stride * (size - 1);
  }
  if (nested) return false;
  const auto [lo, hi] = element_range(t);
  std::vector<bool> seen(size_t(hi - lo + 1));
  bool twice = false;
  for_each_offset(t, [&](int64_t o) {
    twice = twice || seen[size_t(o - lo)];
    seen[size_t(o - lo)] = true;
  });
  return twice;
}

// Whether `in`, broadcast to out's shape, reads at every index the element out writes there.
bool same_elements(const Tensor& out, const Tensor& in) {
  if (in.storage_offset() != out.storage_offset() || in.dim() > out.dim()) return false;
  const int64_t lead = out.dim() - in.dim();
  for (int64_t d = 0; d < out.dim(); ++d) {
    if (out.size(d) == 1) continue;
    const int64_t s = d < lead || in.size(d - lead) == 1 ? 0 : in.stride(d - lead);
    if (s != out.stride(d)) return false;
  }
  return true;
}

// Whether a and b (one storage) have an element in common.
bool share_an_element(const Tensor& a, const Tensor& b) {
  if (a.numel() == 0 || b.numel() == 0) return false;
  const size_t ia = a.element_size(), ib = b.element_size();
  const auto [alo, ahi] = element_range(a);
  const auto [blo, bhi] = element_range(b);
  // Byte ranges first; for elements of different sizes an overlap of the ranges counts as shared.
  if (int64_t(ahi + 1) * int64_t(ia) <= blo * int64_t(ib) || int64_t(bhi + 1) * int64_t(ib) <= alo * int64_t(ia))
    return false;
  if (ia != ib) return true;
  const int64_t lo = std::max(alo, blo), hi = std::min(ahi, bhi);
  std::vector<bool> in_a(size_t(hi - lo + 1));
  for_each_offset(a, [&](int64_t o) {
    if (o >= lo && o <= hi) in_a[size_t(o - lo)] = true;
  });
  bool shared = false;
  for_each_offset(b, [&](int64_t o) { shared = shared || (o >= lo && o <= hi && in_a[size_t(o - lo)]); });
  return shared;
}

std::string geometry(const Tensor& t) {
  return fmt::format("shape {} strides {} offset {}", shape_str(t.shape()), shape_str(t.strides()), t.storage_offset());
}

}  // namespace

void check_write_overlap(const OpDef& def, const OpCall& call, std::span<const Tensor> outputs) {
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& out = outputs[k];
    DOPPEL_CHECK(!has_internal_overlap(out),
                 "{}: unsupported operation: more than one element of the written-to tensor ({}) refers to a single "
                 "memory location (an expanded tensor?); clone() it before writing into it",
                 write_name(def, call, outputs), geometry(out));
    const StorageImpl* storage = out.storage().get();
    if (storage == nullptr) continue;
    for (size_t i = 0; i < call.inputs.size(); ++i) {
      const Tensor& in = call.inputs[i];
      if (!in.defined() || in.storage().get() != storage || in.impl() == out.impl()) continue;
      DOPPEL_CHECK(same_elements(out, in) || !share_an_element(out, in),
                   "{}: unsupported operation: some elements of input {} ({}) and the written-to tensor ({}) refer to "
                   "a single memory location; clone() the input before the call",
                   write_name(def, call, outputs), i, geometry(in), geometry(out));
    }
  }
}

}  // namespace doppel::detail
