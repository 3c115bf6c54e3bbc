#pragma once
// Where each matrix of a scaled_dot_product_attention call lives: for every index n of the
// (broadcast) batch, the element offset of query's [L, E], key's [S, E], value's [S, Ev] and the
// mask's [L, S] matrices, and their row and column strides, read from each tensor's own strides
// (broadcast dims get stride 0; under enable_gqa, query head h reads key/value head h / rep).
// Shared by the CPU kernels of the op and its backward; offsets are relative to data_ptr().
#include <vector>

#include "doppel/core/tensor.h"
#include "doppel/kernels/op_attrs/transformer.h"

namespace doppel::attention {

// One operand's matrices: offsets per batch index, and the strides inside a matrix.
struct Operand {
  std::vector<int64_t> offset;
  int64_t row = 0, col = 0;
};

struct Geometry {
  Shape batch;
  int64_t nbatch = 0, L = 0, S = 0, E = 0, Ev = 0;
  Operand q, k, v, mask;
  bool has_mask = false, mask_bool = false;
  double scale = 1;
};

// `shape`/`strides` of a tensor whose trailing two dims are its matrix (fewer dims for a mask
// broadcast over rows), aligned right against batch; `rep` > 1 maps batch's last dim h to h / rep.
inline Operand operand(IntList batch, IntList shape, IntList strides, int64_t rep) {
  Operand o;
  const int64_t nd = int64_t(shape.size()), nb = int64_t(batch.size());
  const auto stride_of = [&](int64_t d) { return d >= 0 && shape[size_t(d)] != 1 ? strides[size_t(d)] : 0; };
  o.row = stride_of(nd - 2);
  o.col = stride_of(nd - 1);
  const int64_t n = numel_of(batch);
  o.offset.assign(size_t(n), 0);
  for (int64_t flat = 0; flat < n; ++flat) {
    int64_t rest = flat, off = 0;
    for (int64_t d = nb - 1; d >= 0; --d) {
      const int64_t idx = rest % batch[size_t(d)];
      rest /= batch[size_t(d)];
      const int64_t td = nd - 2 - (nb - d);
      if (td < 0 || shape[size_t(td)] == 1) continue;
      const int64_t i = shape[size_t(td)] == batch[size_t(d)] ? idx : idx / rep;
      off += i * strides[size_t(td)];
    }
    o.offset[size_t(flat)] = off;
  }
  return o;
}

// The key/value head repeat of enable_gqa: query heads per key (or value) head.
inline int64_t gqa_repeat(IntList batch, const Tensor& kv, bool enable_gqa) {
  if (!enable_gqa || batch.empty() || kv.dim() < 3) return 1;
  const int64_t h = kv.shape()[size_t(kv.dim() - 3)];
  return h > 0 && h != 1 ? batch.back() / h : 1;
}

// The geometry of a call with `out_shape` ([..., L, Ev], the forward output's shape) and the
// attention operands q, k, v and optional mask (undefined when absent).
inline Geometry geometry(IntList out_shape, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                         bool enable_gqa, std::optional<double> scale) {
  Geometry g;
  g.batch = Shape(out_shape.begin(), out_shape.end() - 2);
  g.nbatch = numel_of(g.batch);
  g.L = q.shape()[size_t(q.dim() - 2)];
  g.E = q.shape()[size_t(q.dim() - 1)];
  g.S = k.shape()[size_t(k.dim() - 2)];
  g.Ev = v.shape()[size_t(v.dim() - 1)];
  g.scale = transformer_attrs::sdpa_scale(scale, g.E);
  g.q = operand(g.batch, q.shape(), q.strides(), 1);
  g.k = operand(g.batch, k.shape(), k.strides(), gqa_repeat(g.batch, k, enable_gqa));
  g.v = operand(g.batch, v.shape(), v.strides(), gqa_repeat(g.batch, v, enable_gqa));
  g.has_mask = mask.defined();
  if (g.has_mask) {
    g.mask_bool = mask.dtype() == DType::Bool;
    // A mask of fewer than two dims broadcasts over rows (and columns when 0-d).
    Shape ms(mask.shape()), st(mask.strides());
    while (ms.size() < 2) {
      ms.insert(0, 1);
      st.insert(0, 0);
    }
    g.mask = operand(g.batch, ms, st, 1);
  }
  return g;
}

}  // namespace doppel::attention
