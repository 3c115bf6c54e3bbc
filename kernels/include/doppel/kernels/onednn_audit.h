#pragma once
// Which oneDNN primitives ran their reference implementation: oneDNN falls back to a generic
// loop ("ref:any", "simple:any", ...) for a geometry or layout its optimized kernels lack,
// typically 10-1000x slower, without an error. Every primitive the library executes is checked
// (kernels/cpu/onednn/implementation_audit.cpp); the ones listed here ran anyway. Tests require
// this list to stay empty for the shapes the library claims to run fast.
// DOPPEL_LOG_REF_PRIMITIVES=1 also prints each one to stderr on its first run.
#include <cstdint>
#include <string>
#include <vector>

namespace doppel {

struct ReferencePrimitive {
  std::string kind;    // oneDNN's primitive kind: "convolution", "pooling", "reorder", ...
  std::string impl;    // its implementation name, e.g. "ref:any"
  std::string shapes;  // its memory descriptors, e.g. "src 8x8x32x32:aBcd16b wei 8x8x3x3:abcd dst ..."
  int64_t runs = 0;    // executions since the last reset
};

// The reference-class primitives (implementation name starting with "ref" or "simple") that
// ran since the last reset, one entry per (kind, implementation, shapes), in that order.
// Not listed: reorders named "simple:any". oneDNN gives that name both to its direct copies
// (same layout on both sides: a parallel memcpy, e.g. a weight's clone) and to its generic
// strided reorder, which it picks only where no jit reorder exists for the two layouts; the
// reference kernel's copy loop would be no faster there.
std::vector<ReferencePrimitive> onednn_reference_primitives();
void reset_onednn_reference_primitives();

}  // namespace doppel
