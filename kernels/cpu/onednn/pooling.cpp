// oneDNN kernels of the 2-d pooling ops (pooling_max, pooling_avg_include_padding /
// exclude_padding) on the plain dense layout (a strided input is copied first); the 2x2 float32
// max pool is left to the reference kernel's faster loop, and int8/uint8 max pooling (quantized
// graphs) runs the direct loops of integer_max_pool.h (oneDNN's int8 NCHW pooling is its
// reference implementation). ceil_mode maps
// to extra right padding; the cases whose divisor would then differ from PyTorch's are declined.
#include "cpu/onednn/integer_max_pool.h"
#include "cpu/onednn/pooling_common.h"
#include "cpu/reference/max_pool_2x2.h"
#include "doppel/kernels/kernel_table.h"
#include "registration.h"

namespace doppel::registration {

void onednn_pooling_backward_kernels();  // pooling_backward.cpp

namespace {

using namespace onednn::pooling;
using dnnl::memory;

struct PoolEntry {
  bool ok = false;  // false: no oneDNN implementation; supports() declines the call
  dnnl::pooling_forward prim;
  memory::desc src_md, dst_md;
};

std::shared_ptr<PoolEntry> pool_entry(const OpCall& c, const Pool2dGeometry& g, dnnl::algorithm alg) {
  const Tensor& x = c.in(0);
  return onednn::cached<PoolEntry>(pool_key(c, x), [&] {
    PoolEntry e;
    e.src_md = dense_src_desc(x);
    e.dst_md = dense_dst_desc(x, g);
    try {
      e.prim = dnnl::pooling_forward(forward_pd(dnnl::prop_kind::forward_inference, alg, e.src_md, e.dst_md, g));
      e.ok = true;
    } catch (const dnnl::error&) {
      e.ok = false;
    }
    return e;
  });
}

void run_pool(const OpCall& c, std::span<const Tensor> out, const Pool2dGeometry& g, dnnl::algorithm alg) {
  const Tensor& y = out[0];
  if (y.numel() == 0) return;
  DOPPEL_INTERNAL_ASSERT(y.is_contiguous());
  const Tensor x = contiguous_of(c.in(0));
  const auto e = pool_entry(c, g, alg);
  DOPPEL_INTERNAL_ASSERT(e->ok);
  onednn::execute(e->prim,
                  {{DNNL_ARG_SRC, onednn::memory_of(x, e->src_md)}, {DNNL_ARG_DST, onednn::memory_of(y, e->dst_md)}});
}

bool dtype_ok(const OpCall& c) { return pool_dtype(c.in(0).dtype()); }
bool integer_max(const OpCall& c) { return c.in(0).dtype() == DType::Int8 || c.in(0).dtype() == DType::UInt8; }
// The 2x2 float32 case is the reference kernel's streaming loop (max_pool_2x2.h): faster than
// this primitive on the plain layout, and without its NaN scan.
bool supports_max(const OpCall& c) {
  if (integer_max(c)) return true;
  const Tensor& x = c.in(0);
  const Pool2dGeometry g = max_geom(c, x);
  if (x.dtype() == DType::Float32 && x.is_contiguous() && disjoint_2x2(g, x.size(-2), x.size(-1))) return false;
  return dtype_ok(c) && pool_entry(c, g, dnnl::algorithm::pooling_max)->ok;
}
bool supports_avg(const OpCall& c) {
  if (!dtype_ok(c)) return false;
  const Pool2dGeometry g = avg_geom(c, c.in(0));
  return avg_divisor_matches(c, g) && pool_entry(c, g, avg_algorithm(c))->ok;
}
bool supports_adaptive(const OpCall& c) {
  return dtype_ok(c) && adaptive_divides(c, c.in(0)) &&
         pool_entry(c, adaptive_geom(c, c.in(0)), dnnl::algorithm::pooling_avg_exclude_padding)->ok;
}

// int8/uint8 planes (a strided input copied first) by integer_max_pool.h's loops.
void integer_max_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(0));
  const int64_t h = x.size(-2), w = x.size(-1), n = h * w == 0 ? 0 : x.numel() / (h * w);
  const Pool2dGeometry g = max_geom(c, x);
  if (x.dtype() == DType::Int8)
    return integer_max_pool::forward(x.data_ptr<int8_t>(), out[0].data_ptr<int8_t>(), n, h, w, g);
  integer_max_pool::forward(x.data_ptr<uint8_t>(), out[0].data_ptr<uint8_t>(), n, h, w, g);
}

// oneDNN's max pooling skips NaN; PyTorch's (and the reference kernel's) window maximum is NaN
// when the window holds one: such (rare) input is pooled by the reference loop.
void max_kernel(const OpCall& c, std::span<const Tensor> out) {
  if (integer_max(c)) return integer_max_kernel(c, out);
  if (onednn::holds(c.in(0), onednn::Special::nan)) return kernel_for(c.op, Backend::Reference).run(c, out);
  run_pool(c, out, max_geom(c, c.in(0)), dnnl::algorithm::pooling_max);
}
void avg_kernel(const OpCall& c, std::span<const Tensor> out) {
  run_pool(c, out, avg_geom(c, c.in(0)), avg_algorithm(c));
}
void adaptive_kernel(const OpCall& c, std::span<const Tensor> out) {
  run_pool(c, out, adaptive_geom(c, c.in(0)), dnnl::algorithm::pooling_avg_exclude_padding);
}

}  // namespace

void onednn_pooling_kernels() {
  onednn::register_onednn_kernel(OpId::max_pool2d, max_kernel, supports_max);
  onednn::register_onednn_kernel(OpId::avg_pool2d, avg_kernel, supports_avg);
  onednn::register_onednn_kernel(OpId::adaptive_avg_pool2d, adaptive_kernel, supports_adaptive);
  onednn_pooling_backward_kernels();
}

}  // namespace doppel::registration
