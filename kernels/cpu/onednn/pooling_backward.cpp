// oneDNN kernels of the 2-d pooling backward ops (pooling_backward on the plain layout, and
// blocked_max_pool2d_backward on the channel-blocked one). Max
// pooling's backward needs the forward's workspace (where each maximum was): the op runs a cached
// forward_training primitive on the input to get it, then the backward primitive. The geometry
// mapping (ceil_mode as extra right padding, floor-mode leftovers left to oneDNN's rounding down)
// and the declined cases are those of the forward kernels (pooling.cpp).
#include <type_traits>
#include <unordered_map>

#include "cpu/onednn/blocked_desc.h"
#include "cpu/onednn/pooling_common.h"
#include "cpu/reference/max_pool_2x2.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace onednn::pooling;
using dnnl::memory;

struct PoolBwdEntry {
  bool ok = false;                           // false: no oneDNN implementation; supports() declines the call
  std::optional<dnnl::pooling_forward> fwd;  // max pooling: produces the workspace
  dnnl::pooling_backward bwd;
  memory::desc src_md, dst_md, ws_md;  // src_md also describes grad_input (same dense layout)
};

// c: the backward call (grad_output, x); src_md / dst_md: x's and grad_output's descriptors.
std::shared_ptr<PoolBwdEntry> pool_bwd_entry(const OpCall& c, const Pool2dGeometry& g, dnnl::algorithm alg,
                                             const memory::desc& src_md, const memory::desc& dst_md) {
  return onednn::cached<PoolBwdEntry>(pool_key(c, c.in(1)), [&] {
    PoolBwdEntry e;
    e.src_md = src_md;
    e.dst_md = dst_md;
    try {
      const auto hint = forward_pd(dnnl::prop_kind::forward_training, alg, e.src_md, e.dst_md, g);
      dnnl::pooling_backward::primitive_desc pd(onednn::engine(), alg, e.src_md, e.dst_md, strides_of(g), kernel_of(g),
                                                dilation_of(g), pad_l(g), pad_r(g), hint, onednn::attr());
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
  });
}

// The plain entry: x and grad_output dense NCHW.
std::shared_ptr<PoolBwdEntry> plain_entry(const OpCall& c, const Pool2dGeometry& g, dnnl::algorithm alg) {
  return pool_bwd_entry(c, g, alg, dense_src_desc(c.in(1)), dense_dst_desc(c.in(1), g));
}

// Runs e's primitives on dense go and x into gi (contiguous: described by x's own descriptor).
void run_pool_backward(const PoolBwdEntry* e, const Tensor& go, const Tensor& x, const Tensor& gi) {
  DOPPEL_INTERNAL_ASSERT(gi.is_contiguous());
  DOPPEL_INTERNAL_ASSERT(e->ok);
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, onednn::memory_of(go, e->dst_md)},
                                       {DNNL_ARG_DIFF_SRC, onednn::memory_of(gi, e->src_md)}};
  onednn::LayoutBuffer ws_b, dst_b;  // max pooling: the forward's workspace (argmax) and output
  if (e->fwd) {
    const memory ws = ws_b.fresh(e->ws_md), dst = dst_b.fresh(e->dst_md);
    onednn::execute(*e->fwd,
                    {{DNNL_ARG_SRC, onednn::memory_of(x, e->src_md)}, {DNNL_ARG_DST, dst}, {DNNL_ARG_WORKSPACE, ws}});
    args.emplace(DNNL_ARG_WORKSPACE, ws);
  }
  onednn::execute(e->bwd, std::move(args));
}

void run_plain_backward(const OpCall& c, std::span<const Tensor> out, const Pool2dGeometry& g, dnnl::algorithm alg) {
  if (out[0].numel() == 0) return;
  run_pool_backward(plain_entry(c, g, alg).get(), contiguous_of(c.in(0)), contiguous_of(c.in(1)), out[0]);
}

bool dtype_ok(const OpCall& c) { return pool_dtype(c.in(1).dtype()); }

// 16-bit inputs have many equal values per window, and oneDNN's 16-bit max pooling does not
// always route a tie's gradient to the first maximum as PyTorch does (seen with bfloat16): those
// take the reference kernel. float32 follows the first-maximum rule (tested with ties).
// The 2x2 case is the reference kernel's one streaming pass (max_pool_2x2.h), where this
// primitive needs the forward again for its workspace and a NaN scan.
bool supports_max(const OpCall& c) {
  const Tensor& x = c.in(1);
  if (x.dtype() != DType::Float32) return false;
  const Pool2dGeometry g = max_geom(c, x);
  if (x.is_contiguous() && disjoint_2x2(g, x.size(-2), x.size(-1))) return false;
  return plain_entry(c, g, dnnl::algorithm::pooling_max)->ok;
}

// The divisor cases the forward kernel declines (see pooling.cpp) are declined here too.
bool supports_avg(const OpCall& c) {
  if (!dtype_ok(c)) return false;
  const Pool2dGeometry g = avg_geom(c, c.in(1));
  if (!avg_divisor_matches(c, g)) return false;
  return plain_entry(c, g, avg_algorithm(c))->ok;
}

bool supports_adaptive(const OpCall& c) {
  return dtype_ok(c) && adaptive_divides(c, c.in(1)) &&
         plain_entry(c, adaptive_geom(c, c.in(1)), dnnl::algorithm::pooling_avg_exclude_padding)->ok;
}

// oneDNN's workspace records the window's maximum skipping NaN; PyTorch sends the gradient to the
// NaN's position (the first NaN of the window), as the reference loop does for such (rare) input.
void max_kernel(const OpCall& c, std::span<const Tensor> out) {
  if (onednn::holds(c.in(1), onednn::Special::nan)) return kernel_for(c.op, Backend::Reference).run(c, out);
  run_plain_backward(c, out, max_geom(c, c.in(1)), dnnl::algorithm::pooling_max);
}
void avg_kernel(const OpCall& c, std::span<const Tensor> out) {
  run_plain_backward(c, out, avg_geom(c, c.in(1)), avg_algorithm(c));
}
void adaptive_kernel(const OpCall& c, std::span<const Tensor> out) {
  run_plain_backward(c, out, adaptive_geom(c, c.in(1)), dnnl::algorithm::pooling_avg_exclude_padding);
}

// blocked_max_pool2d_backward (grad_output, x both [N, Cb, H, W, b]). The padded channels are
// pooled as ordinary (zero) channels: Cb*b channels of nChw<b>c memory. The 2x2 case is
// max_pool_2x2's streaming pass with the block as its lanes (relu fused into it); other
// geometries run the oneDNN primitives on the blocked memory, then zero the gradient where the
// input is <= 0 when relu is set.
Pool2dGeometry blocked_geom(const OpCall& c) {
  const auto a = BlockedMaxPool2dBackwardAttrs::of(c.attrs);
  const Tensor& x = c.in(1);
  return resolve_pool2d(x.size(2), x.size(3), a.kernel_size, a.stride, a.padding, a.dilation, a.ceil_mode);
}

bool blocked_2x2(const OpCall& c) {
  const Tensor& x = c.in(1);
  return disjoint_2x2(blocked_geom(c), x.size(2), x.size(3));
}

std::shared_ptr<PoolBwdEntry> blocked_entry(const OpCall& c) {
  const Tensor& x = c.in(1);
  const Pool2dGeometry g = blocked_geom(c);
  const int64_t b = x.size(4), ch = x.size(1) * b;
  return pool_bwd_entry(c, g, dnnl::algorithm::pooling_max,
                        onednn::blocked_desc(x.size(0), ch, x.size(2), x.size(3), b),
                        onednn::blocked_desc(x.size(0), ch, g.out[0], g.out[1], b));
}

// Calls f(std::integral_constant<int64_t, b>{}) for the channel block b of the 2x2 loops: 4, 8,
// else 16 (the blocks their callers admit).
template <class F>
void with_lanes(int64_t b, F&& f) {
  switch (b) {
    case 4:
      return f(std::integral_constant<int64_t, 4>{});
    case 8:
      return f(std::integral_constant<int64_t, 8>{});
    default:
      return f(std::integral_constant<int64_t, 16>{});
  }
}

template <bool Relu>
void blocked_2x2_backward(const Tensor& go, const Tensor& x, const Tensor& gi) {
  const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  const float *g = go.data_ptr<float>(), *xs = x.data_ptr<float>();
  float* o = gi.data_ptr<float>();
  with_lanes(x.size(4), [&](auto lanes) { max_pool_2x2::backward<lanes(), Relu>(g, xs, o, planes, h, w); });
}

// gi = 0 where x <= 0 (relu_backward's mask by the pooled input; NaN passes).
void relu_mask(const Tensor& x, const Tensor& gi) {
  const float* xs = x.data_ptr<float>();
  float* o = gi.data_ptr<float>();
  parallel_for(0, gi.numel(), 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) o[k] = xs[k] <= 0.f ? 0.f : o[k];
  });
}

void blocked_max_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& gi = out[0];
  if (gi.numel() == 0) return;
  DOPPEL_INTERNAL_ASSERT(gi.is_contiguous());
  const bool relu = BlockedMaxPool2dBackwardAttrs::of(c.attrs).relu;
  const Tensor go = contiguous_of(c.in(0)), x = contiguous_of(c.in(1));
  if (blocked_2x2(c)) return relu ? blocked_2x2_backward<true>(go, x, gi) : blocked_2x2_backward<false>(go, x, gi);
  if (onednn::holds(x, onednn::Special::nan)) return kernel_for(c.op, Backend::Reference).run(c, out);
  run_pool_backward(blocked_entry(c).get(), go, x, gi);
  if (relu) relu_mask(x, gi);
}

bool supports_blocked_max(const OpCall& c) {
  const Tensor& x = c.in(1);
  if (x.dtype() != DType::Float32 || c.in(0).dtype() != DType::Float32 || !onednn::blocked_tag(x.size(4))) return false;
  return blocked_2x2(c) || blocked_entry(c)->ok;
}

// blocked_max_pool2d_winners and blocked_max_pool2d_backward_winners (op_attrs/layout.h): the
// 2x2 pass's loops with the block (4, 8 or 16 channels) as lanes.
bool winners_block(int64_t b) { return b == 4 || b == 8 || b == 16; }

void blocked_winners_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(0));
  const Tensor &y = out[0], &mask = out[1];
  if (mask.numel() == 0) return;
  const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  const float* xs = x.data_ptr<float>();
  float* ys = y.data_ptr<float>();
  uint8_t* m = mask.data_ptr<uint8_t>();
  with_lanes(x.size(4), [&](auto lanes) { max_pool_2x2::forward_winners<lanes()>(xs, ys, m, planes, h, w); });
}

template <bool Relu>
void backward_from_winners(const Tensor& go, const Tensor& y, const Tensor& mask, const Tensor& gi) {
  const int64_t planes = mask.size(0) * mask.size(1), h = mask.size(2), w = mask.size(3);
  const float *g = go.data_ptr<float>(), *ys = y.data_ptr<float>();
  const uint8_t* m = mask.data_ptr<uint8_t>();
  float* o = gi.data_ptr<float>();
  with_lanes(mask.size(4),
             [&](auto lanes) { max_pool_2x2::backward_from_winners<lanes(), Relu>(g, ys, m, o, planes, h, w); });
}

void blocked_backward_winners_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& gi = out[0];
  if (gi.numel() == 0) return;
  DOPPEL_INTERNAL_ASSERT(gi.is_contiguous());
  const Tensor go = contiguous_of(c.in(0)), y = contiguous_of(c.in(1)), mask = contiguous_of(c.in(2));
  if (BlockedMaxPool2dBackwardAttrs::of(c.attrs).relu) return backward_from_winners<true>(go, y, mask, gi);
  backward_from_winners<false>(go, y, mask, gi);
}

bool supports_blocked_winners(const OpCall& c) { return winners_block(c.in(0).size(4)); }
bool supports_blocked_backward_winners(const OpCall& c) { return winners_block(c.in(2).size(4)); }

}  // namespace

void onednn_pooling_backward_kernels() {
  onednn::register_onednn_kernel(OpId::max_pool2d_backward, max_kernel, supports_max);
  onednn::register_onednn_kernel(OpId::avg_pool2d_backward, avg_kernel, supports_avg);
  onednn::register_onednn_kernel(OpId::adaptive_avg_pool2d_backward, adaptive_kernel, supports_adaptive);
  onednn::register_onednn_kernel(OpId::blocked_max_pool2d_backward, blocked_max_kernel, supports_blocked_max);
  onednn::register_onednn_kernel(OpId::blocked_max_pool2d_winners, blocked_winners_kernel, supports_blocked_winners);
  onednn::register_onednn_kernel(OpId::blocked_max_pool2d_backward_winners, blocked_backward_winners_kernel,
                                 supports_blocked_backward_winners);
}

}  // namespace doppel::registration
