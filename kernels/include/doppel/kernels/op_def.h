#pragma once
// OpDef: the single declaration of an op that every stage reads: eager (shape/dtype
// inference before running a kernel), autograd (which inputs are differentiable), the tracer
// and passes (purity, views, randomness), the executor (kernel lookup) and the tests.
#include <cstdint>
#include <span>
#include <string_view>

#include "doppel/core/tensor.h"
#include "doppel/kernels/attrs.h"
#include "doppel/kernels/op_id.h"

namespace doppel {

inline constexpr int kMaxOutputs = 6;  // batch_norm: out, save_mean, save_invstd, new running mean/var

// One invocation of an op: what inference, kernels and view functions see. Optional tensor
// inputs (a bias) are passed as undefined Tensors. The attributes are read through the op's
// struct (op_attrs/table.h): SoftplusAttrs::of(call.attrs).beta.
struct OpCall {
  OpId op;
  std::span<const Tensor> inputs;
  const Attrs& attrs;

  const Tensor& in(size_t k) const { return inputs[k]; }
  std::string_view name() const;
};

// What inference says about each output.
struct OutputMeta {
  Shape shape;
  DType dtype = DType::Float32;
  Device device = kCPU;
};

enum OpFlags : uint32_t {
  kNoFlags = 0,
  kFactory = 1u << 0,      // no tensor inputs; device and dtype come from attributes
  kView = 1u << 1,         // output aliases input 0's storage; `view` computes its geometry
  kRandom = 1u << 2,       // draws random numbers (seed and offset are attributes)
  kElementwise = 1u << 3,  // output[i] depends on input[i] only (after broadcasting)
  kVariadic = 1u << 4,     // any number (>= 1) of tensor inputs (cat)
};

using InferFn = void (*)(const OpCall& call, std::span<OutputMeta> outputs);
// For kView ops: the output geometry (shape, strides, offset) for input 0.
struct ViewGeometry {
  Shape shape;
  Strides strides;
  int64_t offset = 0;
};
using ViewFn = ViewGeometry (*)(const OpCall& call);

struct OpDef {
  OpId id{};
  const char* name = nullptr;
  int min_inputs = 0;   // required tensor inputs
  int max_inputs = 0;   // required + optional tensor inputs (ignored when kVariadic)
  int num_outputs = 1;
  std::span<const AttrSpec> attrs;
  InferFn infer = nullptr;
  ViewFn view = nullptr;
  uint32_t flags = kNoFlags;
  uint32_t differentiable_inputs = 0;  // bit k: gradients flow to input k
  // kRandom ops: their last two attributes are the Philox seed and offset, and a call draws
  // ceil(numel(output 0) / rng_elems_per_block) blocks (eager and the graph executor agree).
  int32_t rng_elems_per_block = 1;

  bool has(OpFlags f) const { return (flags & f) != 0; }
};

// The Philox blocks one call of a kRandom op draws for an output of `numel` elements.
inline uint64_t rng_blocks(const OpDef& def, int64_t numel) {
  return numel <= 0 ? 0 : uint64_t((numel + def.rng_elems_per_block - 1) / def.rng_elems_per_block);
}

// The op table. Throws InternalError for an op whose definition is missing.
const OpDef& op_def(OpId id);
// The definition for `id` if registered, else nullptr (for the completeness test).
const OpDef* find_op_def(OpId id);
std::string_view op_name(OpId id);
// Looks an op up by name (graph files, Python); nullptr when unknown.
const OpDef* op_def_by_name(std::string_view name);

// Validates arity and attribute kinds against the definition; throws naming the op.
void check_call(const OpDef& def, const OpCall& call);

}  // namespace doppel
