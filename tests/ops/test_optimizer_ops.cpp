// Spec and value tests of the fused optimizer ops.
#include <cmath>

#include "support/op_spec.h"

namespace doppel::testing {
namespace {

Attrs adam_attrs(double lr, double wd, int64_t step, bool amsgrad, bool decoupled, bool maximize) {
  return {Attr::of_float(lr),  Attr::of_float(0.9),       Attr::of_float(0.999),     Attr::of_float(1e-8),
          Attr::of_float(wd),  Attr::of_int(step),        Attr::of_bool(amsgrad),    Attr::of_bool(decoupled),
          Attr::of_bool(maximize)};
}

std::vector<Tensor> adam_inputs(IntList shape, DType t, bool amsgrad, uint64_t seed) {
  std::vector<Tensor> in = {make_input(shape, t, seed), make_input(shape, t, seed + 1),
                            make_input(shape, t, seed + 2, -0.1, 0.1), make_input(shape, t, seed + 3, 0.0, 0.2)};
  if (amsgrad) in.push_back(make_input(shape, t, seed + 4, 0.0, 0.3));
  return in;
}

}  // namespace

DOPPEL_OP_SPEC(adam_step_spec) {
  return OpSpec{
      .op = OpId::adam_step,
      .dtypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16},
      .samples =
          [](DType t) {
            return std::vector<Sample>{
                {"adam", adam_inputs({5, 3}, t, false, 1), adam_attrs(1e-3, 0, 1, false, false, false)},
                {"adam l2 step 7", adam_inputs({40}, t, false, 2), adam_attrs(1e-2, 0.1, 7, false, false, false)},
                {"adamw amsgrad", adam_inputs({4, 4}, t, true, 3), adam_attrs(1e-3, 1e-2, 3, true, true, false)},
                {"maximize", adam_inputs({6}, t, false, 4), adam_attrs(1e-3, 0, 2, false, false, true)},
                {"0-d", adam_inputs({}, t, false, 5), adam_attrs(1e-3, 0, 1, false, false, false)},
                {"large", adam_inputs({300, 257}, t, false, 6), adam_attrs(1e-3, 0, 5, false, false, false)}};
          },
      .errors =
          [] {
            auto in = adam_inputs({3}, DType::Float32, false, 1);
            auto bad = in;
            bad[1] = make_input({4}, DType::Float32, 9);
            return std::vector<ErrorSample>{
                {"grad shape differs", bad, adam_attrs(1e-3, 0, 1, false, false, false), ErrorKind::Shape,
                 "adam_step"},
                {"amsgrad without max state", in, adam_attrs(1e-3, 0, 1, true, false, false), ErrorKind::Value,
                 "adam_step"},
                {"step 0", in, adam_attrs(1e-3, 0, 0, false, false, false), ErrorKind::Value, "adam_step"}};
          },
      .test_noncontiguous = false};  // the op requires contiguous tensors (checked in its errors)
}

TEST_CASE("adam_step equals PyTorch's single-tensor Adam computed in double", "[ops][optim]") {
  const std::vector<double> p0 = {0.5, -1.0, 2.0}, g = {0.1, -0.2, 0.3}, m0 = {0.01, 0.0, -0.02},
                            v0 = {0.001, 0.002, 0.0};
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
  const int64_t step = 3;
  Tensor p = tensor(p0), m = tensor(m0), v = tensor(v0);
  dispatch_out(OpId::adam_step, {p, tensor(g), m, v}, adam_attrs(lr, wd, step, false, false, false),
               {p, m, v, empty({0}, {.dtype = DType::Float64})});
  for (size_t i = 0; i < 3; ++i) {
    const double gi = g[i] + wd * p0[i];
    const double mi = b1 * m0[i] + (1 - b1) * gi, vi = b2 * v0[i] + (1 - b2) * gi * gi;
    const double denom = std::sqrt(vi) / std::sqrt(1 - std::pow(b2, step)) + eps;
    const double pi = p0[i] - lr / (1 - std::pow(b1, step)) * mi / denom;
    CHECK(std::fabs(m.to_vector<double>()[i] - mi) < 1e-15);
    CHECK(std::fabs(v.to_vector<double>()[i] - vi) < 1e-15);
    CHECK(std::fabs(p.to_vector<double>()[i] - pi) < 1e-12);
  }
}

}  // namespace doppel::testing
