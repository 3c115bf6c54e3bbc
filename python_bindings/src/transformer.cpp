// The transformer building blocks: doppel.scaled_dot_product_attention, doppel.rms_norm and
// doppel.apply_rotary (re-exported by doppel.nn.functional), and nn.RMSNorm.
#include "doppel/ops/transformer.h"
#include "bind.h"
#include "doppel/nn/rms_norm.h"

namespace doppel::py {

void bind_transformer_ops(nb::module_& m) {
  auto opt = [](const std::optional<Tensor>& t) { return t.value_or(Tensor{}); };
  m.def(
      "scaled_dot_product_attention",
      [opt](const Tensor& q, const Tensor& k, const Tensor& v, std::optional<Tensor> mask, double dropout_p,
            bool is_causal, std::optional<double> scale, bool enable_gqa) {
        return scaled_dot_product_attention(q, k, v, opt(mask), dropout_p, is_causal, scale, enable_gqa);
      },
      nb::arg("query"), nb::arg("key"), nb::arg("value"), nb::arg("attn_mask") = nb::none(), nb::arg("dropout_p") = 0.0,
      nb::arg("is_causal") = false, nb::kw_only(), nb::arg("scale") = nb::none(), nb::arg("enable_gqa") = false,
      Release());
  m.def(
      "rms_norm",
      [opt](const Tensor& x, Ints shape, std::optional<Tensor> w, std::optional<double> eps) {
        return rms_norm(x, shape, opt(w), eps);
      },
      nb::arg("input"), nb::arg("normalized_shape"), nb::arg("weight") = nb::none(), nb::arg("eps") = nb::none(),
      Release());
  m.def(
      "apply_rotary", [](const Tensor& x, const Tensor& c, const Tensor& s) { return apply_rotary(x, c, s); },
      nb::arg("x"), nb::arg("cos"), nb::arg("sin"), Release());
  nb::module_ nn = nb::borrow<nb::module_>(m.attr("nn"));  // bound by bind_nn
  nb::class_<nn::RMSNorm, nn::Module>(nn, "RMSNorm")
      .def(
          "__init__",
          [](nn::RMSNorm* self, Ints shape, std::optional<double> eps, bool affine, DType dt) {
            new (self) nn::RMSNorm(shape.v, eps, affine, dt);
          },
          nb::arg("normalized_shape"), nb::arg("eps") = nb::none(), nb::arg("elementwise_affine") = true,
          nb::arg("dtype") = DType::Float32);
}

}  // namespace doppel::py
