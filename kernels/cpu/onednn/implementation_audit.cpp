#include "cpu/onednn/implementation_audit.h"

#include <oneapi/dnnl/dnnl_debug.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <numeric>
#include <string_view>
#include <tuple>

#include "doppel/kernels/onednn_audit.h"

namespace doppel::onednn {
namespace {

bool reference_class(std::string_view impl) { return impl.starts_with("ref") || impl.starts_with("simple"); }

// oneDNN's direct and generic copies (see onednn_audit.h for why they are allowed).
bool allowed(std::string_view kind, std::string_view impl) { return kind == "reorder" && impl == "simple:any"; }

// A memory descriptor as oneDNN's verbose log writes it: data type, dims, then the layout as
// letters in memory order (outermost first), a blocked dim in upper case followed by its inner
// blocks, e.g. "f32 8x8x32x32:aBcd16b" (nChw16c) or "f32 8x8x32x32:acdb" (nhwc).
std::string describe(const_dnnl_memory_desc_t c_md) {
  dnnl_memory_desc_t copy = nullptr;
  dnnl::error::wrap_c_api(dnnl_memory_desc_clone(&copy, c_md), "could not clone a memory descriptor");
  const dnnl::memory::desc md(copy);
  const dnnl::memory::dims dims = md.get_dims();
  std::string s = dnnl_dt2str(dnnl_data_type_t(md.get_data_type()));
  s += ' ';
  for (size_t d = 0; d < dims.size(); ++d) s += (d ? "x" : "") + std::to_string(dims[d]);
  s += ':';
  if (md.get_format_kind() != dnnl::memory::format_kind::blocked)
    return s + dnnl_fmt_kind2str(dnnl_format_kind_t(md.get_format_kind()));
  const dnnl::memory::dims strides = md.get_strides(), blocks = md.get_inner_blks(), idxs = md.get_inner_idxs();
  std::vector<size_t> order(dims.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return strides[a] > strides[b]; });
  for (size_t d : order) {
    const bool blocked = std::find(idxs.begin(), idxs.end(), int64_t(d)) != idxs.end();
    s += char((blocked ? 'A' : 'a') + int(d));
  }
  for (size_t k = 0; k < blocks.size(); ++k) s += std::to_string(blocks[k]) + char('a' + int(idxs[k]));
  // Gaps between the elements (a view narrowed to part of its memory): " strided".
  size_t dense = dnnl::memory::data_type_size(md.get_data_type());
  for (int64_t d : md.get_padded_dims()) dense *= size_t(d);
  return md.get_size() > dense ? s + " strided" : s;
}

std::string shapes_of(const_dnnl_primitive_desc_t pd) {
  std::string s;
  for (const auto& [what, name] :
       {std::pair{dnnl_query_src_md, "src"}, std::pair{dnnl_query_weights_md, "wei"},
        std::pair{dnnl_query_diff_dst_md, "diff_dst"}, std::pair{dnnl_query_dst_md, "dst"},
        std::pair{dnnl_query_diff_src_md, "diff_src"}, std::pair{dnnl_query_diff_weights_md, "diff_wei"}}) {
    const_dnnl_memory_desc_t md = dnnl_primitive_desc_query_md(pd, what, 0);
    int ndims = 0;
    if (md) dnnl_memory_desc_query(md, dnnl_query_ndims_s32, &ndims);
    if (ndims > 0) s += (s.empty() ? "" : " ") + std::string(name) + " " + describe(md);
  }
  return s;
}

struct Registry {
  std::mutex mu;
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> runs;  // (kind, impl, shapes) -> count
  bool log = [] {
    const char* v = std::getenv("DOPPEL_LOG_REF_PRIMITIVES");
    return v && *v && std::string_view(v) != "0";
  }();
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

bool reference_implementation(const dnnl::primitive_desc_base& pd) { return reference_class(pd.impl_info_str()); }

bool audit_implementation(const_dnnl_primitive_desc_t pd) {
  const char* impl = nullptr;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl) return false;
  if (!reference_class(impl)) return false;
  dnnl_primitive_kind_t kind_id = dnnl_undefined_primitive;
  dnnl_primitive_desc_query(pd, dnnl_query_primitive_kind, 0, &kind_id);
  const std::string kind = dnnl_prim_kind2str(kind_id);
  const bool ok = allowed(kind, impl);
  Registry& r = registry();
  if (ok && !r.log) return true;
  std::tuple key{kind, std::string(impl), shapes_of(pd)};
  std::lock_guard lock(r.mu);
  const int64_t seen = r.runs[key]++;
  if (r.log && seen == 0)
    std::fprintf(stderr, "doppel: oneDNN %s ran its reference implementation %s on %s%s\n", kind.c_str(), impl,
                 std::get<2>(key).c_str(), ok ? " (allowed: generic reorder)" : "");
  return true;
}

std::string implementation_name(const_dnnl_primitive_desc_t pd) {
  const char* impl = nullptr;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl) return "?";
  dnnl_primitive_kind_t kind_id = dnnl_undefined_primitive;
  dnnl_primitive_desc_query(pd, dnnl_query_primitive_kind, 0, &kind_id);
  return kind_id == dnnl_reorder ? "reorder " + std::string(impl) : std::string(impl);
}

}  // namespace doppel::onednn

namespace doppel {

std::vector<ReferencePrimitive> onednn_reference_primitives() {
  auto& r = onednn::registry();
  std::lock_guard lock(r.mu);
  std::vector<ReferencePrimitive> out;
  for (const auto& [key, runs] : r.runs) {
    const auto& [kind, impl, shapes] = key;
    if (!onednn::allowed(kind, impl)) out.push_back({kind, impl, shapes, runs});
  }
  return out;
}

void reset_onednn_reference_primitives() {
  auto& r = onednn::registry();
  std::lock_guard lock(r.mu);
  r.runs.clear();
}

}  // namespace doppel
