#include "row_blocks.h"

#include <algorithm>

#include "doppel/kernels/matmul_row_blocks.h"
#include "doppel/kernels/op_attrs/views.h"

namespace doppel::graph {

namespace {

constexpr int64_t kMinBlocks = 4, kMaxBlocks = 8;     // blocks per gradient
constexpr size_t kMinBlockedBytes = size_t(1) << 18;  // smaller gradients stay whole

// Rows per block: m in equal blocks where some count from kMinBlocks to kMaxBlocks divides it
// (one block shape: one primitive more than the whole product needs), else kMinBlocks blocks,
// the last one shorter.
int64_t block_rows(int64_t m) {
  for (int64_t k = kMinBlocks; k <= kMaxBlocks; ++k)
    if (m % k == 0) return m / k;
  return (m + kMinBlocks - 1) / kMinBlocks;
}

// Rows [row0, row0 + rows) of a 2-d tensor.
Tensor row_block(const Tensor& t, int64_t row0, int64_t rows) {
  return make_view(t, {rows, t.size(1)}, t.strides(), t.storage_offset() + row0 * t.stride(0));
}

// A dense [rows, cols] tensor at element `offset` of t's storage.
Tensor dense_at(const Tensor& t, int64_t offset, int64_t rows, int64_t cols) {
  return make_view(t, {rows, cols}, {cols, 1}, t.storage_offset() + offset);
}

}  // namespace

std::vector<RowBlocks> find_row_blocks(const Graph& g, const std::vector<int32_t>& kernel_nodes,
                                       const std::vector<ValueId>& root, const std::vector<Shape>& shapes,
                                       const std::vector<int32_t>& last, const std::vector<int32_t>& buffer_of,
                                       const std::vector<bool>& claimed, const std::vector<int32_t>& state_of,
                                       const std::vector<int32_t>& state_alias) {
  std::vector<RowBlocks> out;
  std::vector<bool> viewed(root.size(), false);
  for (size_t v = 0; v < root.size(); ++v)
    if (root[v] != ValueId(v)) viewed[size_t(root[v])] = true;
  // The memory a value lives in: a state's storage, or an arena buffer (by index).
  auto memory_of = [&](ValueId v) -> std::pair<const void*, int32_t> {
    const ValueId r = root[size_t(v)];
    if (state_of[size_t(r)] >= 0) return {g.state()[size_t(state_of[size_t(r)])].storage().get(), -1};
    if (state_alias[size_t(r)] >= 0) return {g.state()[size_t(state_alias[size_t(r)])].storage().get(), -1};
    return {nullptr, buffer_of[size_t(r)]};
  };
  for (size_t s = 0; s + 1 < kernel_nodes.size(); ++s) {
    const Node& mm = g.node(kernel_nodes[s]);
    const Node& up = g.node(kernel_nodes[s + 1]);
    if (mm.op != OpId::matmul || mm.inputs.size() != 2 || mm.outputs.size() != 1) continue;
    if (up.op != OpId::adam_step && up.op != OpId::sgd_step) continue;
    const ValueId o = mm.outputs[0];
    const Shape& sh = shapes[size_t(o)];
    const Shape& a = shapes[size_t(mm.inputs[0])];
    if (sh.size() != 2 || a.size() != 2 || shapes[size_t(mm.inputs[1])].size() != 2) continue;
    const size_t bytes = size_t(numel_of(sh)) * element_size(g.value(o).dtype);
    if (bytes < kMinBlockedBytes || sh[0] < kMinBlocks || buffer_of[size_t(o)] < 0 || claimed[size_t(o)] ||
        viewed[size_t(o)] || last[size_t(o)] != int32_t(s + 1))
      continue;
    bool ok = std::find(up.inputs.begin(), up.inputs.end(), o) != up.inputs.end();
    auto rows_or_scalar = [&](ValueId v) {
      return v == kNoValue || v == o || numel_of(shapes[size_t(v)]) == 1 ||
             (shapes[size_t(v)] == sh && root[size_t(v)] == v &&
              (state_of[size_t(v)] < 0 || g.state()[size_t(state_of[size_t(v)])].is_contiguous()));
    };
    for (ValueId v : up.inputs) ok = ok && rows_or_scalar(v);
    for (ValueId v : up.outputs)  // (adam_step without amsgrad has an empty fourth output)
      ok = ok && (numel_of(shapes[size_t(v)]) == 0 || (shapes[size_t(v)] == sh && memory_of(v) != memory_of(o)));
    for (ValueId w : up.outputs)
      for (ValueId r : mm.inputs) ok = ok && memory_of(w) != memory_of(r);
    // The first operand: a value of its own row-major buffer, or the transpose of one (a weight
    // gradient's), whose row blocks are read in place or copied dense block by block. Blocks only
    // where the kernels give each row the whole product's bits (matmul_row_blocks.h).
    const ValueId a_value = mm.inputs[0];
    auto dense = [&](ValueId v) { return root[size_t(v)] == v && state_of[size_t(v)] < 0; };
    const bool a_dense = dense(a_value);
    const Value& av = g.value(a_value);
    const Node* producer = av.kind == ValueKind::Node ? &g.node(av.index) : nullptr;
    const bool a_transposed = !a_dense && producer && producer->op == OpId::permute &&
                              PermuteAttrs::of(producer->attrs).dims == Shape{1, 0} && dense(producer->inputs[0]);
    const int64_t rows = block_rows(sh[0]);
    if (!ok || !(a_dense || a_transposed)) continue;
    const RowBlockRead read = matmul_row_blocks(g.value(o).dtype, sh[0], a[1], sh[1], rows, a_transposed);
    if (read != RowBlockRead::None)
      out.push_back({int32_t(s), o, sh[0], sh[1], a[1], rows, !a_dense && read == RowBlockRead::DenseCopy});
  }
  return out;
}

void narrow_to_block(const Node& n, const RowBlocks& rb, int64_t row0, int64_t rows, const Tensor& block,
                     std::vector<Tensor>& ins, std::vector<Tensor>& outs, Tensor& copy_from) {
  copy_from = Tensor();
  const Tensor result = dense_at(block, 0, rows, rb.n);
  if (n.outputs[0] == rb.grad) {  // the matmul: its first operand's rows into the result's block
    ins[0] = row_block(ins[0], row0, rows);
    if (rb.copy_a) {
      copy_from = ins[0];
      ins[0] = dense_at(block, rows * rb.n, rows, rb.k);
    }
    outs[0] = result;
    return;
  }
  // The update: the block, and the same rows of every other [m, n] operand.
  auto narrow = [&](ValueId v, Tensor& t) {
    if (v == rb.grad)
      t = result;
    else if (t.defined() && t.dim() == 2 && t.size(0) == rb.m && t.size(1) == rb.n)
      t = row_block(t, row0, rows);
  };
  for (size_t k = 0; k < ins.size(); ++k) narrow(n.inputs[k], ins[k]);
  for (size_t k = 0; k < outs.size(); ++k) narrow(n.outputs[k], outs[k]);
}

}  // namespace doppel::graph
