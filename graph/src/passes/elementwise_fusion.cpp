// Elementwise fusion: a maximal tree of cheap elementwise nodes (add, sub, mul, div, maximum,
// minimum, neg, abs, relu, sqrt, rsqrt) whose intermediates each feed only the next node of the
// tree and all have the tree's output shape becomes one fused_elementwise node: one read of each
// input and one write, instead of a full write and re-read of every intermediate.
//
// Transcendental ops (exp, log, tanh, sigmoid, gelu, silu) are deliberately not fused: the fused
// kernel evaluates them with scalar libm, measured ~10x slower than the unfused oneDNN eltwise
// primitives (gelu: 15 ms vs 1.6 ms on 2M elements), more than the saved memory traffic.
//
// Short programs are not fused either: on 2048x1024 float32 the fused kernel measured slower than
// the unfused oneDNN ops below 5 instructions (x*2+y: 1.25 vs 1.04 ms; relu(x*2+y)*0.5: 1.63 vs
// 1.51 ms) and faster from 5 (relu(x*0.5+y) - z*z: 1.89 vs 2.04 ms), so kMinInstructions is 5.
//
// Scalar constants (0-d constants, e.g. the wrapped C++ numbers of `x * 0.5`) become immediates
// of mul_imm / add_imm, since the fused op wants all its inputs in one dtype. The fused node
// replaces the tree's root in place (same output value), so its inputs are all defined there.
#include <algorithm>
#include <optional>
#include <unordered_map>

#include "doppel/graph/passes.h"
#include "doppel/kernels/op_attrs/fused.h"

namespace doppel::graph {

namespace {

// One operand of a node: a tensor value or an immediate.
struct Operand {
  ValueId v = kNoValue;  // kNoValue: the immediate `imm`
  double imm = 0;
};

// What one node computes, in fused terms: instructions over its operands (at most 2 per node;
// sub(scalar, x) needs neg then add_imm).
struct Translation {
  std::vector<Operand> tensors;  // the tensor operands, in the order the instructions read them
  struct Step {
    FusedOpcode op;
    double imm = 0;
  };
  std::vector<Step> steps;  // the first reads tensors (1 or 2), the next read the previous step
};

std::optional<FusedOpcode> cheap_unary(OpId op) {
  switch (op) {
    case OpId::neg:
      return FusedOpcode::neg;
    case OpId::abs:
      return FusedOpcode::abs;
    case OpId::relu:
      return FusedOpcode::relu;
    case OpId::sqrt:
      return FusedOpcode::sqrt;
    case OpId::rsqrt:
      return FusedOpcode::rsqrt;
    default:
      return std::nullopt;
  }
}

std::optional<FusedOpcode> cheap_binary(OpId op) {
  switch (op) {
    case OpId::add:
      return FusedOpcode::add;
    case OpId::sub:
      return FusedOpcode::sub;
    case OpId::mul:
      return FusedOpcode::mul;
    case OpId::div:
      return FusedOpcode::div;
    case OpId::maximum:
      return FusedOpcode::maximum;
    case OpId::minimum:
      return FusedOpcode::minimum;
    default:
      return std::nullopt;
  }
}

constexpr size_t kMinInstructions = 5;

class Fuser {
 public:
  explicit Fuser(Graph& g) : g_(g), uses_(g.use_counts()), absorbed_(g.nodes().size(), false) {}

  bool run() {
    bool changed = false;
    // From the back: the first fusible node seen is the root of a maximal tree.
    for (size_t k = g_.nodes().size(); k-- > 0;) {
      if (absorbed_[k]) continue;
      changed = fuse_from(int32_t(k)) || changed;
    }
    if (changed) {
      std::vector<bool> keep(absorbed_.size());
      for (size_t i = 0; i < keep.size(); ++i) keep[i] = !absorbed_[i];
      g_.remove_nodes(keep);
    }
    return changed;
  }

 private:
  // The scalar value of a 0-d constant, which becomes an immediate.
  std::optional<double> scalar_constant(ValueId v) const {
    const Value& val = g_.value(v);
    if (val.kind != ValueKind::Constant || !val.shape.empty()) return std::nullopt;
    const Tensor& t = g_.constants()[size_t(val.index)];
    if (t.numel() != 1) return std::nullopt;
    return t.to_vector<double>()[0];
  }

  // The node as fused instructions, or nullopt when it is not a cheap elementwise op on CPU
  // floating-point tensors of its output's dtype (no type promotion inside the program).
  std::optional<Translation> translate(const Node& n) const {
    if (n.outputs.size() != 1) return std::nullopt;
    const Value& out = g_.value(n.outputs[0]);
    if (out.device != kCPU || !is_floating(out.dtype)) return std::nullopt;
    const auto tensor_ok = [&](ValueId v) {
      return v != kNoValue && g_.value(v).dtype == out.dtype && g_.value(v).device == kCPU;
    };
    Translation t;
    if (const auto u = cheap_unary(n.op)) {
      if (n.inputs.size() != 1 || !tensor_ok(n.inputs[0])) return std::nullopt;
      t.tensors = {Operand{n.inputs[0]}};
      t.steps = {{*u}};
      return t;
    }
    const auto b = cheap_binary(n.op);
    if (!b || n.inputs.size() != 2) return std::nullopt;
    const ValueId x = n.inputs[0], y = n.inputs[1];
    const std::optional<double> sx = scalar_constant(x), sy = scalar_constant(y);
    if (!sx && !sy) {
      if (!tensor_ok(x) || !tensor_ok(y)) return std::nullopt;
      t.tensors = {Operand{x}, Operand{y}};
      t.steps = {{*b}};
      return t;
    }
    if (sx && sy) return std::nullopt;  // nothing to fuse: constant folding's job
    const ValueId v = sx ? y : x;
    const double s = sx ? *sx : *sy;
    if (!tensor_ok(v)) return std::nullopt;
    t.tensors = {Operand{v}};
    switch (n.op) {
      case OpId::add:
        t.steps = {{FusedOpcode::add_imm, s}};
        break;
      case OpId::mul:
        t.steps = {{FusedOpcode::mul_imm, s}};
        break;
      case OpId::sub:  // x - s = x + (-s);  s - x = -x + s
        t.steps = sx ? std::vector<Translation::Step>{{FusedOpcode::neg}, {FusedOpcode::add_imm, s}}
                     : std::vector<Translation::Step>{{FusedOpcode::add_imm, -s}};
        break;
      case OpId::div:  // x / s = x * (1/s), within a rounding of the division; s / x has no opcode
        if (sx || s == 0) return std::nullopt;
        t.steps = {{FusedOpcode::mul_imm, 1.0 / s}};
        break;
      default:  // maximum/minimum have no immediate form
        return std::nullopt;
    }
    return t;
  }

  // The node producing `v` when it can join the tree: fusible, `v` used only by the tree, and
  // of the tree's output shape (so no intermediate is computed on a broadcast-expanded domain).
  int32_t joinable_producer(ValueId v, const SymShape& shape) {
    const Value& val = g_.value(v);
    if (val.kind != ValueKind::Node || uses_[size_t(v)] != 1 || absorbed_[size_t(val.index)]) return -1;
    if (!(val.shape == shape)) return -1;
    return translation(val.index) ? val.index : -1;
  }

  const std::optional<Translation>& translation(int32_t node) {
    auto it = cache_.find(node);
    if (it == cache_.end()) it = cache_.emplace(node, translate(g_.node(node))).first;
    return it->second;
  }

  // Collects the tree under `node` (members) and its external inputs, depth first.
  void collect(int32_t node, const SymShape& shape, std::vector<int32_t>& members, std::vector<ValueId>& inputs) {
    members.push_back(node);
    for (const Operand& o : translation(node)->tensors) {
      const int32_t p = joinable_producer(o.v, shape);
      if (p >= 0) {
        collect(p, shape, members, inputs);
      } else if (std::find(inputs.begin(), inputs.end(), o.v) == inputs.end()) {
        inputs.push_back(o.v);
      }
    }
  }

  // Emits the instructions computing `node` and returns the register holding it. Intermediates
  // live in registers >= inputs.size() and are freed after their one use.
  int64_t emit(int32_t node, const std::vector<int32_t>& members, const std::vector<ValueId>& inputs, Shape& prog) {
    std::vector<int64_t> src;
    for (const Operand& o : translation(node)->tensors) {
      const Value& val = g_.value(o.v);
      const bool member = val.kind == ValueKind::Node &&
                          std::find(members.begin(), members.end(), val.index) != members.end();
      src.push_back(member ? emit(val.index, members, inputs, prog)
                           : int64_t(std::find(inputs.begin(), inputs.end(), o.v) - inputs.begin()));
    }
    for (int64_t r : src) release(r, int64_t(inputs.size()));
    const int64_t dst = allocate(int64_t(inputs.size()));
    int64_t a = src[0];
    const int64_t b = src.size() > 1 ? src[1] : 0;
    for (const Translation::Step& s : translation(node)->steps) {
      append_instr(prog, FusedInstr{s.op, dst, a, fused_opcode_is_binary(s.op) ? b : 0, s.imm});
      a = dst;
    }
    return dst;
  }

  int64_t allocate(int64_t first) {
    if (!free_.empty()) {
      const int64_t r = free_.back();
      free_.pop_back();
      return r;
    }
    return first + next_++;
  }
  void release(int64_t r, int64_t first) {
    if (r >= first) free_.push_back(r);
  }

  bool fuse_from(int32_t root) {
    if (!translation(root)) return false;
    const SymShape shape = g_.value(g_.node(root).outputs[0]).shape;
    std::vector<int32_t> members;
    std::vector<ValueId> inputs;
    collect(root, shape, members, inputs);
    if (members.size() < 2) return false;
    Shape prog;
    free_.clear();
    next_ = 0;
    emit(root, members, inputs, prog);
    // Register file: inputs first, then the peak number of live intermediates.
    if (int64_t(inputs.size()) + next_ > kFusedMaxRegisters) return false;
    if (prog.size() / kFusedInstrWords < kMinInstructions) return false;
    Node& n = g_.nodes()[size_t(root)];
    n.op = OpId::fused_elementwise;
    n.inputs = inputs;
    n.attrs = FusedElementwiseAttrs{.program = prog}.pack();
    n.sym_attrs.clear();
    for (int32_t m : members)
      if (m != root) absorbed_[size_t(m)] = true;
    return true;
  }

  Graph& g_;
  const std::vector<int32_t> uses_;
  std::vector<bool> absorbed_;
  std::unordered_map<int32_t, std::optional<Translation>> cache_;
  std::vector<int64_t> free_;
  int64_t next_ = 0;
};

}  // namespace

bool run_elementwise_fusion(Graph& g) { return Fuser(g).run(); }

}  // namespace doppel::graph
