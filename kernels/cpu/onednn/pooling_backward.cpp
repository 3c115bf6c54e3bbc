// oneDNN kernels of the 2-d pooling backward ops (pooling_backward on the plain layout). Max
// pooling's backward needs the forward's workspace (where each maximum was): the op runs a cached
// forward_training primitive on the input to get it, then the backward primitive. The geometry
// mapping (ceil_mode as extra right padding, floor-mode leftovers cut from the input's
// description) and the declined cases are those of the forward kernels (pooling.cpp).
#include <cstring>
#include <unordered_map>

#include "cpu/onednn/onednn_common.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace pooling_attrs;
using dnnl::memory;

struct PoolBwdEntry {
  bool ok = false;                           // false: no oneDNN implementation; the reference kernel runs instead
  std::optional<dnnl::pooling_forward> fwd;  // max pooling: produces the workspace
  dnnl::pooling_backward bwd;
  memory::desc src_md, dst_md, ws_md;  // src_md also describes grad_input (same dense layout)
  bool narrowed = false;               // trailing rows/columns no window reads: zeroed separately
};

// [C, H, W] tensors are pooled as [1, C, H, W].
memory::desc nchw_desc(const Tensor& t) {
  if (t.dim() == 4) return onednn::desc_of(t);
  return onednn::desc_of(t, {1, t.size(0), t.size(1), t.size(2)},
                         {t.size(0) * t.stride(0), t.stride(0), t.stride(1), t.stride(2)});
}

int64_t right_pad(const Pool2dGeometry& g, int d) {
  return (g.out[d] - 1) * g.stride[d] + (g.kernel[d] - 1) * g.dilation[d] + 1 - g.in[d] - g.pad[d];
}

PoolBwdEntry make_entry(const Tensor& x, const Tensor& go, const Pool2dGeometry& g, dnnl::algorithm alg) {
  PoolBwdEntry e;
  e.src_md = nchw_desc(x);
  e.dst_md = nchw_desc(go);
  if (right_pad(g, 0) < 0 || right_pad(g, 1) < 0) {
    memory::dims dims = e.src_md.get_dims();
    dims[2] += std::min<int64_t>(right_pad(g, 0), 0);
    dims[3] += std::min<int64_t>(right_pad(g, 1), 0);
    e.src_md = memory::desc(dims, e.src_md.get_data_type(), e.src_md.get_strides());
    e.narrowed = true;
  }
  try {
    const memory::dims strides{g.stride[0], g.stride[1]}, kernel{g.kernel[0], g.kernel[1]},
        dil{g.dilation[0] - 1, g.dilation[1] - 1}, pl{g.pad[0], g.pad[1]},
        pr{std::max<int64_t>(right_pad(g, 0), 0), std::max<int64_t>(right_pad(g, 1), 0)};
    dnnl::pooling_forward::primitive_desc hint(onednn::engine(), dnnl::prop_kind::forward_training, alg, e.src_md,
                                               e.dst_md, strides, kernel, dil, pl, pr);
    dnnl::pooling_backward::primitive_desc pd(onednn::engine(), alg, e.src_md, e.dst_md, strides, kernel, dil, pl, pr,
                                              hint);
    if (alg == dnnl::algorithm::pooling_max) {
      e.ws_md = hint.workspace_desc();
      e.fwd = dnnl::pooling_forward(hint);
    }
    e.bwd = dnnl::pooling_backward(pd);
    e.ok = true;
  } catch (const dnnl::error&) {
    e.ok = false;
  }
  return e;
}

void run_pool_backward(const OpCall& call, std::span<const Tensor> out, const Pool2dGeometry& g, dnnl::algorithm alg) {
  const Tensor& gi = out[0];
  if (gi.numel() == 0) return;
  // Dense inputs: grad_input (contiguous) is then described by the input's own descriptor.
  const Tensor inputs[2] = {contiguous_of(call.in(0)), contiguous_of(call.in(1))};
  const OpCall c{call.op, inputs, call.attrs};
  const Tensor &go = inputs[0], &x = inputs[1];
  auto e = onednn::cached<PoolBwdEntry>(onednn::KeyBuilder(c.op).add(x).add(go).add(c.attrs),
                                        [&] { return make_entry(x, go, g, alg); });
  if (!e->ok) return kernel_for(c.op, Backend::Reference).run(c, out);
  dnnl::stream& s = onednn::stream();
  if (e->narrowed) std::memset(gi.raw_data(), 0, gi.nbytes());
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, onednn::memory_of(go, e->dst_md)},
                                       {DNNL_ARG_DIFF_SRC, onednn::memory_of(gi, e->src_md)}};
  if (e->fwd) {
    memory ws(e->ws_md, onednn::engine()), dst(e->dst_md, onednn::engine());
    e->fwd->execute(s,
                    {{DNNL_ARG_SRC, onednn::memory_of(x, e->src_md)}, {DNNL_ARG_DST, dst}, {DNNL_ARG_WORKSPACE, ws}});
    args.emplace(DNNL_ARG_WORKSPACE, ws);
  }
  e->bwd.execute(s, args);
  s.wait();
}

Pool2dGeometry max_geom(const OpCall& c) {
  const Tensor& x = c.in(1);
  return resolve_pool2d(x.size(-2), x.size(-1), c.attr(kMaxKernel).ints, c.attr(kMaxStride).ints,
                        c.attr(kMaxPadding).ints, c.attr(kMaxDilation).ints, c.attr(kMaxCeilMode).as_bool());
}

Pool2dGeometry avg_geom(const OpCall& c) {
  const Tensor& x = c.in(1);
  return resolve_pool2d(x.size(-2), x.size(-1), c.attr(kAvgKernel).ints, c.attr(kAvgStride).ints,
                        c.attr(kAvgPadding).ints, {}, c.attr(kAvgCeilMode).as_bool());
}

bool dtype_ok(const OpCall& c) {
  const DType t = c.in(1).dtype();
  return t == DType::Float32 || t == DType::BFloat16 || t == DType::Float16;
}

// 16-bit inputs have many equal values per window, and oneDNN's 16-bit max pooling does not
// always route a tie's gradient to the first maximum as PyTorch does (seen with bfloat16): those
// take the reference kernel. float32 follows the first-maximum rule (tested with ties).
bool supports_max(const OpCall& c) { return c.in(1).dtype() == DType::Float32; }

// The divisor cases the forward kernel declines (see pooling.cpp) are declined here too.
bool supports_avg(const OpCall& c) {
  if (!dtype_ok(c) || !c.attr(kAvgDivisorOverride).is_none()) return false;
  const Pool2dGeometry g = avg_geom(c);
  for (int d = 0; d < 2; ++d) {
    if (c.attr(kAvgCountIncludePad).as_bool() && right_pad(g, d) > g.pad[d]) return false;
    // 16-bit backward over a narrowed (non-dense) grad_input description left rows unwritten
    // (seen with bfloat16 and floor-mode leftovers); float32 handles it.
    if (c.in(1).dtype() != DType::Float32 && right_pad(g, d) < 0) return false;
  }
  return true;
}

bool supports_adaptive(const OpCall& c) {
  if (!dtype_ok(c)) return false;
  const Tensor& x = c.in(1);
  const auto o = pool_pair(c.attr(kAdaptiveOutputSize).ints, {});
  return o[0] > 0 && o[1] > 0 && x.size(-2) % o[0] == 0 && x.size(-1) % o[1] == 0;
}

void max_kernel(const OpCall& c, std::span<const Tensor> out) {
  run_pool_backward(c, out, max_geom(c), dnnl::algorithm::pooling_max);
}

void avg_kernel(const OpCall& c, std::span<const Tensor> out) {
  run_pool_backward(c, out, avg_geom(c),
                    c.attr(kAvgCountIncludePad).as_bool() ? dnnl::algorithm::pooling_avg_include_padding
                                                          : dnnl::algorithm::pooling_avg_exclude_padding);
}

void adaptive_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(1);
  const auto o = pool_pair(c.attr(kAdaptiveOutputSize).ints, {});
  const int64_t k[2] = {x.size(-2) / o[0], x.size(-1) / o[1]};
  const Pool2dGeometry g = resolve_pool2d(x.size(-2), x.size(-1), IntList(k, 2), IntList(k, 2), {0, 0}, {}, false);
  run_pool_backward(c, out, g, dnnl::algorithm::pooling_avg_exclude_padding);
}

}  // namespace

void onednn_pooling_backward_kernels() {
  register_kernel(OpId::max_pool2d_backward, Backend::OneDNN, {max_kernel, supports_max});
  register_kernel(OpId::avg_pool2d_backward, Backend::OneDNN, {avg_kernel, supports_avg});
  register_kernel(OpId::adaptive_avg_pool2d_backward, Backend::OneDNN, {adaptive_kernel, supports_adaptive});
}

}  // namespace doppel::registration
