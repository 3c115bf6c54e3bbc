// Kernel of fused_elementwise: the output is processed in tiles of kTile elements; each tile
// loads the inputs it needs into register buffers on the stack (in the compute type), runs the
// program instruction by instruction over the tile, and stores the output register. Memory
// traffic is one read of each input and one write of the output, whatever the program length.
// It serves as both the reference and the fast kernel: the scalar math is that of the unary and
// binary ops (cpu/fused_math.h), and the op spec compares it against the unfused ops.
#include <bit>
#include <vector>

#include "cpu/fused_math.h"
#include "cpu/reference/elementwise_loops.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "registration.h"

namespace doppel::registration {
namespace {

constexpr int64_t kTile = 256;  // 32 registers x 256 doubles = 64 KiB of stack at most

// Calls f(i, offset, n, stride) for runs of the elements begin .. begin+len-1 (row-major order of
// `shape`) of an operand with element strides `st`: run element i + j is at offset + j * stride.
// Runs are the innermost dim, so the callers' loops over them vectorize (stride 1 or 0).
template <typename F>
void walk(IntList shape, IntList st, int64_t begin, int64_t len, F&& f) {
  const size_t nd = shape.size();  // at least 1: 0-d operands are dense or scalar
  Shape idx(nd, int64_t(0));
  int64_t off = 0;
  for (size_t d = nd, rest = size_t(begin); d-- > 0;) {
    idx[d] = int64_t(rest % size_t(shape[d]));
    rest /= size_t(shape[d]);
    off += idx[d] * st[d];
  }
  const int64_t inner = shape[nd - 1], inner_st = st[nd - 1];
  for (int64_t i = 0; i < len;) {
    const int64_t run = std::min(len - i, inner - idx[nd - 1]);
    f(i, off, run, inner_st);
    i += run;
    off += run * inner_st;
    idx[nd - 1] += run;
    for (size_t d = nd - 1; d > 0 && idx[d] == shape[d]; --d) {  // carry into the outer dims
      off -= idx[d] * st[d];
      idx[d] = 0;
      ++idx[d - 1];
      off += st[d - 1];
    }
  }
}

template <typename T>
struct Operand {
  const T* p;
  Strides st;          // broadcast to the output shape
  bool dense = false;  // contiguous with the output's shape: element i is p[i]
  bool scalar = false;
};

template <typename C>
void apply(const FusedInstr& in, C (*r)[kTile], int64_t n) {
  C* d = r[in.dst];
  const C* a = r[in.a];
  const C* b = r[fused_opcode_is_binary(in.op) ? in.b : in.a];
  const C imm = C(in.imm);
  switch (in.op) {
#define DOPPEL_FUSED_CASE(OP, EXPR)   \
  case FusedOpcode::OP:               \
    for (int64_t i = 0; i < n; ++i) { \
      const C x = a[i];               \
      [[maybe_unused]] const C y = b[i]; \
      d[i] = EXPR;                    \
    }                                 \
    return;
    DOPPEL_FUSED_OPCODES(DOPPEL_FUSED_CASE)
#undef DOPPEL_FUSED_CASE
  }
}

template <typename T>
void run_program(const OpCall& c, const Tensor& out) {
  using C = compute_t<T>;
  const Shape& shape = out.shape();
  const int64_t numel = out.numel();
  if (numel == 0) return;
  // Inference validated the program; decode it once.
  const Shape prog = FusedElementwiseAttrs::of(c.attrs).program;
  std::vector<FusedInstr> code;
  for (size_t i = 0; i < prog.size(); i += kFusedInstrWords)
    code.push_back(
        FusedInstr{FusedOpcode(prog[i]), prog[i + 1], prog[i + 2], prog[i + 3], std::bit_cast<double>(prog[i + 4])});
  // Inputs whose value is read before an instruction overwrites their register.
  uint64_t live_in = 0, written = 0;
  for (const FusedInstr& in : code) {
    for (int64_t r : {in.a, fused_opcode_is_binary(in.op) ? in.b : in.a})
      if (!((written >> r) & 1u)) live_in |= uint64_t(1) << r;
    written |= uint64_t(1) << in.dst;
  }
  std::vector<Operand<T>> ins;
  for (const Tensor& x : c.inputs)
    ins.push_back(Operand<T>{static_cast<const T*>(x.raw_data()), ew_loops::broadcast_strides(x, shape),
                             x.is_contiguous() && x.shape() == shape, x.numel() == 1});
  // 0-d operands are dense or scalar: walk() only sees shapes with dims.
  const bool out_dense = out.is_contiguous();
  T* op = static_cast<T*>(out.raw_data());
  const int64_t result = code.back().dst;
  const int64_t ntiles = (numel + kTile - 1) / kTile;
  parallel_for(0, ntiles, std::max<int64_t>(1, ew_loops::kGrain / kTile), [&](int64_t tb, int64_t te) {
    C regs[kFusedMaxRegisters][kTile];
    for (int64_t t = tb; t < te; ++t) {
      const int64_t begin = t * kTile, n = std::min(kTile, numel - begin);
      for (size_t k = 0; k < ins.size(); ++k) {
        if (!((live_in >> k) & 1u)) continue;
        const Operand<T>& o = ins[k];
        C* r = regs[k];
        if (o.dense) {
          for (int64_t i = 0; i < n; ++i) r[i] = static_cast<C>(o.p[begin + i]);
        } else if (o.scalar) {
          const C v = static_cast<C>(o.p[0]);
          for (int64_t i = 0; i < n; ++i) r[i] = v;
        } else {
          walk(shape, o.st, begin, n, [&](int64_t i, int64_t off, int64_t run, int64_t st) {
            const T* src = o.p + off;
            C* dst = r + i;
            if (st == 1) {
              for (int64_t j = 0; j < run; ++j) dst[j] = static_cast<C>(src[j]);
            } else if (st == 0) {
              const C v = static_cast<C>(src[0]);
              for (int64_t j = 0; j < run; ++j) dst[j] = v;
            } else {
              for (int64_t j = 0; j < run; ++j) dst[j] = static_cast<C>(src[j * st]);
            }
          });
        }
      }
      for (const FusedInstr& in : code) apply<C>(in, regs, n);
      const C* r = regs[result];
      if (out_dense) {
        for (int64_t i = 0; i < n; ++i) op[begin + i] = static_cast<T>(r[i]);
      } else {
        walk(shape, out.strides(), begin, n, [&](int64_t i, int64_t off, int64_t run, int64_t st) {
          for (int64_t j = 0; j < run; ++j) op[off + j * st] = static_cast<T>(r[i + j]);
        });
      }
    }
  });
}

void fused_elementwise_kernel(const OpCall& c, std::span<const Tensor> out) {
  DOPPEL_DISPATCH_FLOATING(out[0].dtype(), "fused_elementwise", [&]<typename T>() { run_program<T>(c, out[0]); });
}

}  // namespace

void reference_fused_elementwise_kernels() {
  register_kernel(OpId::fused_elementwise, Backend::Reference, {fused_elementwise_kernel, nullptr});
}

}  // namespace doppel::registration
