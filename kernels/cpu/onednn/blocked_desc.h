#pragma once
// oneDNN's view of the blocked layout (op_attrs/layout.h): a blocked tensor [N, ceil(C/b), H, W, b]
// is exactly oneDNN's nChw<b>c memory of the plain dims [N, C, H, W] (padded to a multiple of b
// channels, padding zeroed), so the blocked ops' kernels hand it to primitives as it is.
#include <optional>

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

// The nChw<b>c descriptor of a plain [N, C, H, W] geometry (b one blocked_tag knows).
inline dnnl::memory::desc blocked_desc(int64_t n, int64_t c, int64_t h, int64_t w, int64_t block,
                                       dnnl::memory::data_type dt = dnnl::memory::data_type::f32) {
  return dnnl::memory::desc({n, c, h, w}, dt, *blocked_tag(block));
}

}  // namespace doppel::onednn
