// Reductions over a set of dims (sum, mean, prod, amax, amin, var, std, logsumexp), the index
// reductions (argmax, argmin) and softmax / log_softmax, which normalize along one dim.
#include "doppel/kernels/op_attrs/reduction.h"
#include "registration.h"

namespace doppel::registration {
namespace {

// The output shape of reducing `dims` (sorted, wrapped) of `shape`.
Shape reduced_shape(IntList shape, IntList dims, bool keepdim) {
  Shape out;
  size_t r = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (r < dims.size() && dims[r] == int64_t(d)) {
      ++r;
      if (keepdim) out.push_back(1);
    } else {
      out.push_back(shape[d]);
    }
  }
  return out;
}

// max/min/argmax have no identity, so reducing a size-0 dim is an error (PyTorch: IndexError).
void check_nonempty_dims(const OpCall& c, IntList dims) {
  const Shape& s = c.in(0).shape();
  for (int64_t d : dims)
    DOPPEL_CHECK_INDEX(s[size_t(d)] != 0,
                       "{}: cannot reduce over an empty dimension (dim {} of shape {} has size 0); this reduction "
                       "has no identity value",
                       c.name(), d, shape_str(s));
}

void require_floating(const OpCall& c) {
  const DType t = c.in(0).dtype();
  DOPPEL_CHECK_DTYPE(is_floating(t), "{}: expects a floating-point input, got {}; cast it first, e.g. x.to({})",
                     c.name(), dtype_name(t), "DType::Float32");
}

void infer_reduce(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  const auto a = ReduceAttrs::of_prefix(c.attrs);
  const Shape dims = normalize_dims(c.name(), a.dims, x.dim());
  const DType t = x.dtype();
  switch (c.op) {
    case OpId::sum:
    case OpId::prod:
      out[0].dtype = is_floating(t) ? t : DType::Int64;
      break;  // PyTorch: integers sum to int64
    case OpId::amax:
    case OpId::amin:
      check_nonempty_dims(c, dims);
      out[0].dtype = t;
      break;
    default:  // mean, var, std, logsumexp
      require_floating(c);
      out[0].dtype = t;
      break;
  }
  out[0].shape = reduced_shape(x.shape(), dims, a.keepdim);
}

void infer_arg_reduce(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  const auto [dim, keepdim] = ArgReduceAttrs::of(c.attrs);
  Shape dims;
  if (!dim) {
    for (int64_t d = 0; d < x.dim(); ++d) dims.push_back(d);
    DOPPEL_CHECK_INDEX(x.numel() != 0,
                       "{}: cannot reduce over an empty dimension: the input of shape {} has no "
                       "elements",
                       c.name(), shape_str(x.shape()));
  } else if (x.dim() > 0) {
    dims.push_back(wrap_dim(c.name(), *dim, x.dim()));
  } else {
    wrap_dim(c.name(), *dim, 0);  // only checks the range
  }
  check_nonempty_dims(c, dims);
  out[0].shape = reduced_shape(x.shape(), dims, keepdim);
  out[0].dtype = DType::Int64;
}

void infer_softmax(const OpCall& c, std::span<OutputMeta> out) {
  require_floating(c);
  wrap_dim(c.name(), SoftmaxAttrs::of(c.attrs).dim, c.in(0).dim());
  out[0].shape = c.in(0).shape();
  out[0].dtype = c.in(0).dtype();
}

// softmax_backward / log_softmax_backward (grad_output, output; dim): the gradient of the
// input from the forward's output, which both gradients need (not its input).
void infer_softmax_backward(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& g = c.in(0);
  const Tensor& y = c.in(1);
  require_floating(c);
  DOPPEL_CHECK_DTYPE(g.dtype() == y.dtype(), "{}: grad_output has dtype {} but output has dtype {}; they must match",
                     c.name(), dtype_name(g.dtype()), dtype_name(y.dtype()));
  DOPPEL_CHECK_SHAPE(g.shape() == y.shape(), "{}: grad_output shape {} differs from output shape {}", c.name(),
                     shape_str(g.shape()), shape_str(y.shape()));
  wrap_dim(c.name(), SoftmaxAttrs::of(c.attrs).dim, y.dim());
  out[0].shape = y.shape();
  out[0].dtype = y.dtype();
}

void def(OpDef* table, OpId id, std::span<const AttrSpec> attrs, InferFn infer, uint32_t differentiable) {
  OpDef& d = table[int(id)];
  d.min_inputs = d.max_inputs = 1;
  d.attrs = attrs;
  d.infer = infer;
  d.differentiable_inputs = differentiable;
}

}  // namespace

void define_reduction_ops(OpDef* table) {
  for (OpId id : {OpId::sum, OpId::mean, OpId::prod, OpId::amax, OpId::amin, OpId::logsumexp})
    def(table, id, ReduceAttrs::kSpec, infer_reduce, 1);
  def(table, OpId::var, VarAttrs::kSpec, infer_reduce, 1);
  def(table, OpId::std, VarAttrs::kSpec, infer_reduce, 1);
  def(table, OpId::argmax, ArgReduceAttrs::kSpec, infer_arg_reduce, 0);
  def(table, OpId::argmin, ArgReduceAttrs::kSpec, infer_arg_reduce, 0);
  def(table, OpId::softmax, SoftmaxAttrs::kSpec, infer_softmax, 1);
  def(table, OpId::log_softmax, SoftmaxAttrs::kSpec, infer_softmax, 1);
  for (OpId id : {OpId::softmax_backward, OpId::log_softmax_backward}) {
    def(table, id, SoftmaxAttrs::kSpec, infer_softmax_backward, 0b11);
    table[int(id)].min_inputs = table[int(id)].max_inputs = 2;
  }
}

}  // namespace doppel::registration
