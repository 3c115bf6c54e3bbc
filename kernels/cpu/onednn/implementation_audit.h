#pragma once
// The check behind doppel::onednn_reference_primitives (doppel/kernels/onednn_audit.h).
#include <oneapi/dnnl/dnnl.hpp>
#include <string>

namespace doppel::onednn {

// Whether oneDNN chose a reference-class implementation ("ref…", "simple…"): a generic loop,
// typically 10-1000x slower than its optimized kernels. Kernels that have a better choice (another
// layout, a copy of the operands, the reference kernel) check this before keeping a primitive.
bool reference_implementation(const dnnl::primitive_desc_base& pd);

// Records `pd` when its implementation is reference-class; execute() calls it for every
// primitive it runs, so no kernel can run one unnoticed. The common case (an optimized
// implementation) costs one query and a string comparison. Returns whether it is reference-class
// (BoundArgs audits a primitive found optimized only once: its implementation never changes).
bool audit_implementation(const_dnnl_primitive_desc_t pd);

// The implementation's name as the profiler shows it: oneDNN's implementation string
// ("brgconv:avx512_core", "ref:any"), prefixed with "reorder " for reorders (layout copies
// around the op's main primitive).
std::string implementation_name(const_dnnl_primitive_desc_t pd);

}  // namespace doppel::onednn
