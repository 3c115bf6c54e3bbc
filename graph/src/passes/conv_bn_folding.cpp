// Conv + batch-norm folding for inference: batch_norm(conv(x, w, b)) with running statistics
// becomes conv(x, w * s, (b - mean) * s + beta), s = gamma / sqrt(var + eps), per output
// channel. Only when every weight involved is frozen (a constant, or state that no update in
// this graph changes — PassOptions::inference promises that no one else changes it either),
// and the convolution's result feeds nothing but the batch norm.
#include <cmath>

#include "doppel/graph/passes.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "frozen.h"

namespace doppel::graph {

namespace {

std::vector<double> values_or(const Tensor& t, int64_t n, double fill) {
  return t.defined() ? t.to_vector<double>() : std::vector<double>(size_t(n), fill);
}

Tensor tensor_like(const std::vector<double>& v, IntList shape, DType dtype) {
  Tensor t = make_tensor(shape, DType::Float64, kCPU);
  std::copy(v.begin(), v.end(), t.data_ptr<double>());
  if (dtype == DType::Float64) return t;
  Tensor c = make_tensor(shape, dtype, kCPU);
  copy_strided(c, t);
  return c;
}

}  // namespace

bool run_conv_bn_folding(Graph& g) {
  const std::vector<bool> updated = updated_state(g);
  const std::vector<int32_t> uses = g.use_counts();
  bool changed = false;
  for (Node& bn : g.nodes()) {
    if (bn.op != OpId::batch_norm || BatchNormAttrs::of(bn.attrs).training) continue;
    bool others_unused = true;
    for (size_t k = 1; k < bn.outputs.size(); ++k) others_unused = others_unused && uses[size_t(bn.outputs[k])] == 0;
    const ValueId conv_out = bn.inputs[nn_attrs::kBatchNormInput];
    const Value& cv = g.value(conv_out);
    if (!others_unused || cv.kind != ValueKind::Node || uses[size_t(conv_out)] != 1) continue;
    Node& conv = g.nodes()[size_t(cv.index)];
    if (conv.op != OpId::convolution || ConvolutionAttrs::of_prefix(conv.attrs).transposed) continue;
    if (cv.device != kCPU || (cv.dtype != DType::Float32 && cv.dtype != DType::Float64)) continue;
    const Tensor w = frozen(g, conv.inputs[1], updated);
    const ValueId conv_bias = conv.inputs.size() > 2 ? conv.inputs[2] : kNoValue;
    const Tensor b = frozen(g, conv_bias, updated);
    const Tensor gamma = frozen(g, bn.inputs[nn_attrs::kBatchNormWeight], updated);
    const Tensor beta = frozen(g, bn.inputs[nn_attrs::kBatchNormBias], updated);
    const Tensor mean = frozen(g, bn.inputs[nn_attrs::kBatchNormRunningMean], updated);
    const Tensor var = frozen(g, bn.inputs[nn_attrs::kBatchNormRunningVar], updated);
    const auto absent_or = [&](ValueId v, const Tensor& t) { return v == kNoValue || t.defined(); };
    if (!w.defined() || !mean.defined() || !var.defined() || !absent_or(conv_bias, b) ||
        !absent_or(bn.inputs[nn_attrs::kBatchNormWeight], gamma) ||
        !absent_or(bn.inputs[nn_attrs::kBatchNormBias], beta))
      continue;
    const int64_t channels = w.size(0);
    const double eps = BatchNormAttrs::of(bn.attrs).eps;
    const std::vector<double> gv = values_or(gamma, channels, 1), bv = values_or(beta, channels, 0),
                              mv = values_or(mean, channels, 0), vv = values_or(var, channels, 1),
                              cb = values_or(b, channels, 0);
    std::vector<double> wv = w.to_vector<double>();
    std::vector<double> nb(static_cast<size_t>(channels));
    const size_t per = wv.size() / size_t(channels);
    for (size_t c = 0; c < size_t(channels); ++c) {
      const double s = gv[c] / std::sqrt(vv[c] + eps);
      for (size_t i = 0; i < per; ++i) wv[c * per + i] *= s;
      nb[c] = (cb[c] - mv[c]) * s + bv[c];
    }
    const ValueId nw = g.add_constant(tensor_like(wv, w.shape(), w.dtype()), g.value(conv.inputs[1]).name + "_bnfold");
    const ValueId nbias =
        g.add_constant(tensor_like(nb, {channels}, w.dtype()), g.value(conv.inputs[1]).name + "_bnbias");
    conv.inputs.resize(3, kNoValue);
    conv.inputs[1] = nw;
    conv.inputs[2] = nbias;
    g.replace_uses(bn.outputs[0], conv_out);
    changed = true;
  }
  if (changed) run_dce(g);
  return changed;
}

}  // namespace doppel::graph
