// Reference kernels of the blocked-layout ops. to_blocked / from_blocked move elements between
// [N, C, H, W] and [N, ceil(C/b), H, W, b] as raw bits of the element's size (any dtype; the
// padded channels get all-zero bits, which is 0 for every numeric dtype). blocked_conv2d and
// blocked_max_pool2d unblock their input, run fused_conv2d's / max_pool2d's reference kernel and
// block the result, so they compute exactly what the plain ops compute; their backward ops
// likewise run convolution_backward's / max_pool2d_backward's (and relu_backward's) reference
// kernels on the unblocked operands; the winners ops, max_pool2d_backward's reference kernel (the
// winners: where it sends a gradient of ones) and its scatter written out.
#include <algorithm>
#include <type_traits>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

// Unsigned integer of each element size: elements are copied as bits.
template <size_t N>
using Bits = std::conditional_t<N == 1, uint8_t,
                                std::conditional_t<N == 2, uint16_t, std::conditional_t<N == 4, uint32_t, uint64_t>>>;

template <typename F>
void with_bits(DType t, F&& f) {
  switch (element_size(t)) {
    case 1:
      return f(Bits<1>{});
    case 2:
      return f(Bits<2>{});
    case 4:
      return f(Bits<4>{});
    case 8:
      return f(Bits<8>{});
    default:
      DOPPEL_INTERNAL_ASSERT(!"blocked layout: every dtype has 1, 2, 4 or 8 bytes");
  }
}

// Runs body(src, dst, lo, hi) with src/dst as element-sized unsigned pointers over [0, rows)
// split across the threads (each row is row_elems elements).
template <typename Body>
void parallel_rows(const Tensor& dst, const Tensor& src, int64_t rows, int64_t row_elems, Body&& body) {
  with_bits(dst.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* s = static_cast<const T*>(src.raw_data());
    T* d = static_cast<T*>(dst.raw_data());
    parallel_for(0, rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(row_elems, 1)),
                 [&](int64_t lo, int64_t hi) { body(s, d, lo, hi); });
  });
}

// dst [N, Cb, H, W, b] (contiguous) <- src [N, C, H, W] (any strides); channels >= C are zero.
void block_into(const Tensor& dst, const Tensor& src_any) {
  const Tensor src = contiguous_of(src_any);
  const int64_t Cb = dst.size(1), HW = dst.size(2) * dst.size(3), b = dst.size(4), C = src.size(1);
  parallel_rows(dst, src, dst.size(0) * Cb, HW * b, [&](const auto* s, auto* d, int64_t lo, int64_t hi) {
    using T = std::remove_cvref_t<decltype(*d)>;
    for (int64_t nb = lo; nb < hi; ++nb) {  // one block of channels of one sample
      const int64_t n = nb / Cb, cb = nb % Cb;
      T* out = d + nb * HW * b;
      for (int64_t j = 0; j < b; ++j) {
        const int64_t c = cb * b + j;
        const T* in = c < C ? s + (n * C + c) * HW : nullptr;
        for (int64_t p = 0; p < HW; ++p) out[p * b + j] = in ? in[p] : T(0);
      }
    }
  });
}

// dst [N, C, H, W] (contiguous) <- the first C channels of src [N, Cb, H, W, b] (any strides).
void unblock_into(const Tensor& dst, const Tensor& src_any) {
  const Tensor src = contiguous_of(src_any);
  const int64_t C = dst.size(1), HW = dst.size(2) * dst.size(3), Cb = src.size(1), b = src.size(4);
  parallel_rows(dst, src, dst.size(0) * C, HW, [&](const auto* s, auto* d, int64_t lo, int64_t hi) {
    for (int64_t nc = lo; nc < hi; ++nc) {  // one channel of one sample
      const int64_t n = nc / C, c = nc % C;
      const auto* in = s + ((n * Cb + c / b) * HW) * b + c % b;
      auto* out = d + nc * HW;
      for (int64_t p = 0; p < HW; ++p) out[p] = in[p * b];
    }
  });
}

Tensor unblocked(const Tensor& xb, int64_t channels) {
  Tensor x = make_tensor({xb.size(0), channels, xb.size(2), xb.size(3)}, xb.dtype(), xb.device());
  unblock_into(x, xb);
  return x;
}

// Runs `op`'s reference kernel into a plain temporary of the blocked output's geometry with
// `channels` channels, then blocks it into y.
void run_plain_and_block(OpId op, std::span<const Tensor> inputs, const Attrs& attrs, int64_t channels,
                         const Tensor& y) {
  const Tensor tmp = make_tensor({y.size(0), channels, y.size(2), y.size(3)}, y.dtype(), y.device());
  const Tensor outs[1] = {tmp};
  kernel_for(op, Backend::Reference).run(OpCall{op, inputs, attrs}, std::span<const Tensor>(outs, 1));
  block_into(y, tmp);
}

void to_blocked_kernel(const OpCall& c, std::span<const Tensor> out) { block_into(out[0], c.in(0)); }

void from_blocked_kernel(const OpCall& c, std::span<const Tensor> out) { unblock_into(out[0], c.in(0)); }

void blocked_conv2d_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& w = c.in(1);
  const Tensor x = c.in(0).dim() == 5 ? unblocked(c.in(0), w.size(1)) : c.in(0);
  const bool residual = c.inputs.size() > 3 && c.in(3).defined();
  const Tensor inputs[4] = {x, w, c.inputs.size() > 2 ? c.in(2) : Tensor(),
                            residual ? unblocked(c.in(3), w.size(0)) : Tensor()};
  const Attrs fa = fused_conv2d_of(BlockedConv2dAttrs::of(c.attrs)).pack();
  run_plain_and_block(OpId::fused_conv2d, std::span<const Tensor>(inputs, residual ? 4 : 3), fa, w.size(0), out[0]);
}

void blocked_max_pool2d_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& xb = c.in(0);
  // The padded channels (zeros) are pooled too: they stay zero.
  const Tensor inputs[1] = {unblocked(xb, xb.size(1) * xb.size(4))};
  run_plain_and_block(OpId::max_pool2d, inputs, c.attrs, xb.size(1) * xb.size(4), out[0]);
}

void run_reference(OpId op, std::span<const Tensor> inputs, const Attrs& attrs, std::span<const Tensor> outs) {
  kernel_for(op, Backend::Reference).run(OpCall{op, inputs, attrs}, outs);
}

void blocked_conv2d_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& w = c.in(2);
  const auto a = BlockedConv2dBackwardAttrs::of(c.attrs);
  const bool blocked_x = c.in(1).dim() == 5;
  const Tensor x = blocked_x ? unblocked(c.in(1), w.size(1)) : c.in(1);
  const Tensor inputs[3] = {unblocked(c.in(0), w.size(0)), x, w};
  const bool block_gi = blocked_x && a.output_mask[0];
  const Tensor outs[3] = {block_gi ? make_tensor(x.shape(), x.dtype(), x.device()) : out[0], out[1], out[2]};
  run_reference(OpId::convolution_backward, inputs, convolution_backward_of(a).pack(), outs);
  if (block_gi) block_into(out[0], outs[0]);
}

void blocked_max_pool2d_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& xb = c.in(1);
  const auto a = BlockedMaxPool2dBackwardAttrs::of(c.attrs);
  // The padded channels (zeros) are pooled too: their gradient is zero.
  const int64_t channels = xb.size(1) * xb.size(4);
  const Tensor x = unblocked(xb, channels);
  const Tensor inputs[2] = {unblocked(c.in(0), channels), x};
  const Tensor gi[1] = {make_tensor(x.shape(), x.dtype(), x.device())};
  run_reference(OpId::max_pool2d_backward, inputs, max_pool_of(a).pack(), gi);
  if (!a.relu) return block_into(out[0], gi[0]);
  const Tensor masked_inputs[2] = {gi[0], x};
  const Tensor masked[1] = {make_tensor(x.shape(), x.dtype(), x.device())};
  run_reference(OpId::relu_backward, masked_inputs, Attrs{}, masked);
  block_into(out[0], masked[0]);
}

// blocked_max_pool2d's output, and the winners of x's disjoint 2x2 windows: where
// max_pool2d_backward's reference kernel sends a gradient of ones.
void blocked_max_pool2d_winners_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& xb = c.in(0);
  const int64_t channels = xb.size(1) * xb.size(4);
  const Tensor x = unblocked(xb, channels);
  const Tensor pool_in[1] = {x};
  run_plain_and_block(OpId::max_pool2d, pool_in, c.attrs, channels, out[0]);
  const Tensor ones = make_tensor({x.size(0), channels, x.size(2) / 2, x.size(3) / 2}, DType::Float32, x.device());
  std::fill_n(ones.data_ptr<float>(), ones.numel(), 1.f);
  const Tensor inputs[2] = {ones, x};
  const Tensor gi[1] = {make_tensor(x.shape(), DType::Float32, x.device())};
  run_reference(OpId::max_pool2d_backward, inputs, c.attrs, gi);
  const Tensor mask = make_tensor(x.shape(), DType::UInt8, x.device());
  const float* g = gi[0].data_ptr<float>();
  uint8_t* m = mask.data_ptr<uint8_t>();
  for (int64_t k = 0; k < mask.numel(); ++k) m[k] = g[k] != 0.f;
  block_into(out[1], mask);
}

// max_pool2d_backward's scatter by the winners, then (relu) relu_backward by the window's maximum,
// which the pooled output holds: gi = winner ? relu_backward(0 + gy, y) : 0.
void blocked_max_pool2d_backward_winners_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& wb = c.in(2);
  const int64_t channels = wb.size(1) * wb.size(4);
  const Tensor gy = unblocked(c.in(0), channels), y = unblocked(c.in(1), channels), win = unblocked(wb, channels);
  const bool relu = BlockedMaxPool2dBackwardAttrs::of(c.attrs).relu;
  const Tensor gi = make_tensor(win.shape(), DType::Float32, win.device());
  const int64_t planes = win.size(0) * channels, h = win.size(2), w = win.size(3), oh = h / 2, ow = w / 2;
  const float *g = gy.data_ptr<float>(), *ys = y.data_ptr<float>();
  const uint8_t* m = win.data_ptr<uint8_t>();
  float* o = gi.data_ptr<float>();
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        const int64_t at = (p * h + i) * w + j, pooled = (p * oh + i / 2) * ow + j / 2;
        const bool read = i < 2 * oh && j < 2 * ow && m[at];
        const float v = read ? 0.f + g[pooled] : 0.f;
        o[at] = read && relu && ys[pooled] <= 0.f ? 0.f : v;  // relu_backward(v, y)
      }
  block_into(out[0], gi);
}

}  // namespace

void reference_layout_kernels() {
  register_kernel(OpId::to_blocked, Backend::Reference, {to_blocked_kernel, nullptr});
  register_kernel(OpId::from_blocked, Backend::Reference, {from_blocked_kernel, nullptr});
  register_kernel(OpId::blocked_conv2d, Backend::Reference, {blocked_conv2d_kernel, nullptr});
  register_kernel(OpId::blocked_max_pool2d, Backend::Reference, {blocked_max_pool2d_kernel, nullptr});
  register_kernel(OpId::blocked_conv2d_backward, Backend::Reference, {blocked_conv2d_backward_kernel, nullptr});
  register_kernel(OpId::blocked_max_pool2d_backward, Backend::Reference, {blocked_max_pool2d_backward_kernel, nullptr});
  register_kernel(OpId::blocked_max_pool2d_winners, Backend::Reference, {blocked_max_pool2d_winners_kernel, nullptr});
  register_kernel(OpId::blocked_max_pool2d_backward_winners, Backend::Reference,
                  {blocked_max_pool2d_backward_winners_kernel, nullptr});
}

}  // namespace doppel::registration
