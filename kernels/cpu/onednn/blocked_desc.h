#pragma once
// oneDNN's view of the blocked layout (op_attrs/layout.h): a blocked tensor [N, ceil(C/b), H, W, b]
// of the plain dims [N, C, H, W] (padded to a multiple of b channels, padding zeroed) is
//   - oneDNN's nhwc memory when one block holds exactly the C channels (b == C: channels-last);
//   - its nChw<b>c memory for b in {4, 8, 16} otherwise;
//   - nhwc with a pixel stride of b (a strided descriptor) for one block wider than C of another b;
// so the blocked ops' kernels hand it to primitives as it is. Other blocks (several blocks of a
// size oneDNN has no tag for) have no descriptor: their calls run the reference kernels.
#include <optional>
#include <vector>

#include "cpu/onednn/onednn_common.h"

namespace doppel::onednn {

// The nChw<b>c tag of a block, or nullopt for blocks oneDNN has no plain-format tag for.
inline std::optional<dnnl::memory::format_tag> blocked_tag(int64_t block) {
  switch (block) {
    case 4:
      return dnnl::memory::format_tag::nChw4c;
    case 8:
      return dnnl::memory::format_tag::nChw8c;
    case 16:
      return dnnl::memory::format_tag::nChw16c;
    default:
      return std::nullopt;
  }
}

// The nChw<b>c descriptor of a plain [N, C, H, W] geometry (b one blocked_tag knows): what the
// training graphs' backward kernels read.
inline dnnl::memory::desc blocked_desc(int64_t n, int64_t c, int64_t h, int64_t w, int64_t block,
                                       dnnl::memory::data_type dt = dnnl::memory::data_type::f32) {
  return dnnl::memory::desc({n, c, h, w}, dt, *blocked_tag(block));
}

// Whether blocked_memory_desc describes C channels in blocks of `block`.
inline bool describable(int64_t channels, int64_t block) {
  return block >= 1 && (block >= channels || blocked_tag(block).has_value());
}

// The descriptor of the blocked tensor of plain geometry [n, c, h, w] in blocks of `block`
// (describable(c, block)), by the rule of the file comment.
inline dnnl::memory::desc blocked_memory_desc(int64_t n, int64_t c, int64_t h, int64_t w, int64_t block,
                                              dnnl::memory::data_type dt) {
  if (block == c) return dnnl::memory::desc({n, c, h, w}, dt, dnnl::memory::format_tag::nhwc);
  if (blocked_tag(block)) return blocked_desc(n, c, h, w, block, dt);
  return dnnl::memory::desc({n, c, h, w}, dt, {h * w * block, 1, w * block, block});
}

// Every descriptor of those same bytes that oneDNN's primitives may take, blocked_memory_desc's first: a
// channels-last tensor of 4, 8 or 16 channels is also nChw<C>c (the kernels oneDNN picks differ).
inline std::vector<dnnl::memory::desc> blocked_memory_descs(int64_t n, int64_t c, int64_t h, int64_t w, int64_t block,
                                                            dnnl::memory::data_type dt) {
  std::vector<dnnl::memory::desc> all{blocked_memory_desc(n, c, h, w, block, dt)};
  if (blocked_tag(block) && block == c) all.push_back(blocked_desc(n, c, h, w, block, dt));
  return all;
}

}  // namespace doppel::onednn
