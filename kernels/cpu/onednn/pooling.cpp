// oneDNN kernels of the 2-d pooling ops (pooling_max, pooling_avg_include_padding /
// exclude_padding) on the plain layout with the input's own strides. ceil_mode maps to extra
// right padding; the cases whose divisor would then differ from PyTorch's are declined.
#include "cpu/onednn/pooling_common.h"
#include "doppel/kernels/kernel_table.h"
#include "registration.h"

namespace doppel::registration {

void onednn_pooling_backward_kernels();  // pooling_backward.cpp

namespace {

using namespace onednn::pooling;
using dnnl::memory;

struct PoolEntry {
  bool ok = false;  // false: no oneDNN implementation; the reference kernel runs instead
  dnnl::pooling_forward prim;
  memory::desc src_md, dst_md;
};

PoolEntry make_entry(const Tensor& x, const Tensor& y, const Pool2dGeometry& g, dnnl::algorithm alg) {
  PoolEntry e;
  e.src_md = nchw_desc(x);
  e.dst_md = nchw_desc(y);
  // Floor mode can leave trailing rows/columns that no window reads (negative right padding):
  // describe the input without them, over the same memory.
  if (right_pad(g, 0) < 0 || right_pad(g, 1) < 0) {
    memory::dims dims = e.src_md.get_dims();
    dims[2] += std::min<int64_t>(right_pad(g, 0), 0);
    dims[3] += std::min<int64_t>(right_pad(g, 1), 0);
    e.src_md = memory::desc(dims, e.src_md.get_data_type(), e.src_md.get_strides());
  }
  try {
    dnnl::pooling_forward::primitive_desc pd(
        onednn::engine(), dnnl::prop_kind::forward_inference, alg, e.src_md, e.dst_md, {g.stride[0], g.stride[1]},
        {g.kernel[0], g.kernel[1]}, {g.dilation[0] - 1, g.dilation[1] - 1}, {g.pad[0], g.pad[1]},
        {std::max<int64_t>(right_pad(g, 0), 0), std::max<int64_t>(right_pad(g, 1), 0)}, onednn::attr());
    e.prim = dnnl::pooling_forward(pd);
    e.ok = true;
  } catch (const dnnl::error&) {
    e.ok = false;
  }
  return e;
}

void run_pool(const OpCall& c, std::span<const Tensor> out, const Pool2dGeometry& g, dnnl::algorithm alg) {
  const Tensor& y = out[0];
  if (y.numel() == 0) return;
  // oneDNN pools strided (non-dense) memory only with its slow reference implementation; a
  // contiguous copy is cheaper.
  Tensor x = c.in(0);
  if (!x.is_contiguous()) {
    x = make_tensor(x.shape(), x.dtype(), x.device());
    copy_strided(x, c.in(0));
  }
  auto e =
      onednn::cached<PoolEntry>(onednn::KeyBuilder(c.op).add(x).add(c.attrs), [&] { return make_entry(x, y, g, alg); });
  if (!e->ok) return kernel_for(c.op, Backend::Reference).run(c, out);
  onednn::execute(e->prim,
                  {{DNNL_ARG_SRC, onednn::memory_of(x, e->src_md)}, {DNNL_ARG_DST, onednn::memory_of(y, e->dst_md)}});
}

bool dtype_ok(const OpCall& c) { return pool_dtype(c.in(0).dtype()); }
bool supports_max(const OpCall& c) { return dtype_ok(c); }
bool supports_avg(const OpCall& c) { return dtype_ok(c) && avg_divisor_matches(c, avg_geom(c, c.in(0))); }
bool supports_adaptive(const OpCall& c) { return dtype_ok(c) && adaptive_divides(c, c.in(0)); }

void max_kernel(const OpCall& c, std::span<const Tensor> out) {
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
  register_kernel(OpId::max_pool2d, Backend::OneDNN, {max_kernel, supports_max});
  register_kernel(OpId::avg_pool2d, Backend::OneDNN, {avg_kernel, supports_avg});
  register_kernel(OpId::adaptive_avg_pool2d, Backend::OneDNN, {adaptive_kernel, supports_adaptive});
  onednn_pooling_backward_kernels();
}

}  // namespace doppel::registration
