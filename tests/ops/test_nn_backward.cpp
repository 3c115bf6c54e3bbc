// Specs of the norm backward ops (batch_norm_backward, layer_norm_backward,
// group_norm_backward). Their samples carry statistics computed by the forward op, as the rules
// pass them. Values against independent formulas: tests/eager/test_grad_nn.cpp.
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kFloatDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};

Shape mask(int a, int b, int c) { return {a, b, c}; }

// (mean, rstd) of the forward op on x (reference kernel: the statistics are inputs here).
std::pair<Tensor, Tensor> stats_of(OpId op, TensorList inputs, const Attrs& attrs) {
  ForceBackendGuard g(Backend::Reference);
  const OpOutputs o = dispatch(op, inputs, attrs);
  return {o[1], o[2]};
}

Sample bn_sample(std::string name, IntList shape, DType dt, bool training, bool weight, const Shape& m, uint64_t seed) {
  const int64_t C = shape[1];
  const Tensor x = make_input(shape, dt, seed);
  const Tensor w = weight ? make_input({C}, dt, seed + 1) : Tensor();
  const Tensor rm = make_input({C}, dt, seed + 2), rv = make_input({C}, dt, seed + 3, 0.5, 1.5);
  const auto [mean, invstd] = stats_of(OpId::batch_norm, {x, w, Tensor(), rm, rv},
                                       BatchNormAttrs{.training = training, .momentum = 0.1, .eps = 1e-5}.pack());
  return {name,
          {make_input(shape, dt, seed + 4), x, mean, invstd, w},
          BatchNormBackwardAttrs{.training = training, .output_mask = m}.pack()};
}

Sample ln_sample(std::string name, IntList shape, IntList ns, DType dt, bool weight, const Shape& m, uint64_t seed) {
  const Tensor x = make_input(shape, dt, seed);
  const Tensor w = weight ? make_input(ns, dt, seed + 1) : Tensor();
  const auto [mean, rstd] =
      stats_of(OpId::layer_norm, {x, w}, LayerNormAttrs{.normalized_shape = ns, .eps = 1e-5}.pack());
  return {name,
          {make_input(shape, dt, seed + 4), x, mean, rstd, w},
          LayerNormBackwardAttrs{.normalized_shape = ns, .output_mask = m}.pack()};
}

Sample gn_sample(std::string name, IntList shape, int64_t G, DType dt, bool weight, const Shape& m, uint64_t seed) {
  const Tensor x = make_input(shape, dt, seed);
  const Tensor w = weight ? make_input({shape[1]}, dt, seed + 1) : Tensor();
  const auto [mean, rstd] = stats_of(OpId::group_norm, {x, w}, GroupNormAttrs{.num_groups = G, .eps = 1e-5}.pack());
  return {name,
          {make_input(shape, dt, seed + 4), x, mean, rstd, w},
          GroupNormBackwardAttrs{.num_groups = G, .output_mask = m}.pack()};
}

// Low-precision outputs sum many rounded terms: a little looser than the defaults.
Tolerance norm_bw_tolerance(DType dt) {
  if (dt == DType::BFloat16) return {3e-2, 3e-2};
  if (dt == DType::Float16) return {5e-3, 5e-3};
  if (dt == DType::Float32) return {1e-4, 1e-4};
  return default_tolerance(dt);
}

}  // namespace

DOPPEL_OP_SPEC(batch_norm_backward_spec) {
  return OpSpec{
      .op = OpId::batch_norm_backward,
      .dtypes = kFloatDTypes,
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
                bn_sample("train NCHW affine", {4, 3, 5, 6}, dt, true, true, mask(1, 1, 1), 1),
                bn_sample("eval NCHW affine", {4, 3, 5, 6}, dt, false, true, mask(1, 1, 1), 10),
                bn_sample("train NC no weight", {8, 5}, dt, true, false, mask(1, 0, 1), 20),
                bn_sample("train 5-d input only", {2, 3, 2, 3, 4}, dt, true, true, mask(1, 0, 0), 30),
                bn_sample("params only", {4, 3, 7}, dt, true, true, mask(0, 1, 1), 40),
                bn_sample("eval empty batch", {0, 3, 4}, dt, false, true, mask(1, 1, 1), 50),
                bn_sample("train large", {8, 32, 20, 20}, dt, true, true, mask(1, 1, 1), 60)};
          },
      .errors =
          [] {
            const DType f = DType::Float32;
            const Tensor x = make_input({4, 3, 2}, f, 1), s = make_input({3}, f, 2);
            const Attrs a = BatchNormBackwardAttrs{.training = true, .output_mask = mask(1, 1, 1)}.pack();
            return std::vector<ErrorSample>{
                {"grad shape", {make_input({4, 3}, f, 3), x, s, s}, a, ErrorKind::Shape, "grad_out"},
                {"grad dtype", {make_input({4, 3, 2}, DType::Float64, 3), x, s, s}, a, ErrorKind::DType, "grad_out"},
                {"stats size", {x, x, make_input({4}, f, 4), s}, a, ErrorKind::Shape, "statistics"},
                {"mask length",
                 {x, x, s, s},
                 BatchNormBackwardAttrs{.training = true, .output_mask = {1, 1}}.pack(),
                 ErrorKind::Value,
                 "output_mask"},
                {"weight shape", {x, x, s, s, make_input({2}, f, 5)}, a, ErrorKind::Shape, "weight"}};
          },
      .tolerance = norm_bw_tolerance};
}

DOPPEL_OP_SPEC(layer_norm_backward_spec) {
  return OpSpec{.op = OpId::layer_norm_backward,
                .dtypes = kFloatDTypes,
                .samples =
                    [](DType dt) {
                      return std::vector<Sample>{ln_sample("rows affine", {4, 6}, {6}, dt, true, mask(1, 1, 1), 1),
                                                 ln_sample("two dims", {2, 3, 4}, {3, 4}, dt, true, mask(1, 1, 1), 10),
                                                 ln_sample("no weight", {5, 7}, {7}, dt, false, mask(1, 0, 0), 20),
                                                 ln_sample("params only", {3, 8}, {8}, dt, true, mask(0, 1, 1), 30),
                                                 ln_sample("empty rows", {3, 0, 4}, {4}, dt, true, mask(1, 1, 1), 40),
                                                 ln_sample("large", {64, 1024}, {1024}, dt, true, mask(1, 1, 1), 50)};
                    },
                .errors =
                    [] {
                      const DType f = DType::Float32;
                      const Tensor x = make_input({4, 6}, f, 1), s = make_input({4, 1}, f, 2);
                      return std::vector<ErrorSample>{
                          {"normalized_shape",
                           {x, x, s, s},
                           LayerNormBackwardAttrs{.normalized_shape = {5}, .output_mask = mask(1, 1, 1)}.pack(),
                           ErrorKind::Shape,
                           "normalized_shape"},
                          {"stats size",
                           {x, x, make_input({3}, f, 3), s},
                           LayerNormBackwardAttrs{.normalized_shape = {6}, .output_mask = mask(1, 1, 1)}.pack(),
                           ErrorKind::Shape,
                           "statistics"},
                          {"integer input",
                           {x, make_input({4, 6}, DType::Int32, 4), s, s},
                           LayerNormBackwardAttrs{.normalized_shape = {6}, .output_mask = mask(1, 1, 1)}.pack(),
                           ErrorKind::DType,
                           "layer_norm_backward"}};
                    },
                .tolerance = norm_bw_tolerance};
}

DOPPEL_OP_SPEC(group_norm_backward_spec) {
  return OpSpec{.op = OpId::group_norm_backward,
                .dtypes = kFloatDTypes,
                .samples =
                    [](DType dt) {
                      return std::vector<Sample>{gn_sample("NCHW affine", {2, 6, 4, 4}, 3, dt, true, mask(1, 1, 1), 1),
                                                 gn_sample("NCL no weight", {3, 4, 5}, 2, dt, false, mask(1, 0, 1), 10),
                                                 gn_sample("params only", {2, 4, 3}, 4, dt, true, mask(0, 1, 1), 20),
                                                 gn_sample("empty batch", {0, 4, 3}, 2, dt, true, mask(1, 1, 1), 30),
                                                 gn_sample("large", {4, 32, 16, 16}, 8, dt, true, mask(1, 1, 1), 40)};
                    },
                .errors =
                    [] {
                      const DType f = DType::Float32;
                      const Tensor x = make_input({2, 6, 3}, f, 1), s = make_input({2, 3}, f, 2);
                      return std::vector<ErrorSample>{
                          {"groups",
                           {x, x, s, s},
                           GroupNormBackwardAttrs{.num_groups = 4, .output_mask = mask(1, 1, 1)}.pack(),
                           ErrorKind::Value,
                           "num_groups"},
                          {"stats size",
                           {x, x, make_input({2, 2}, f, 3), s},
                           GroupNormBackwardAttrs{.num_groups = 3, .output_mask = mask(1, 1, 1)}.pack(),
                           ErrorKind::Shape,
                           "statistics"}};
                    },
                .tolerance = norm_bw_tolerance};
}

}  // namespace doppel::testing
