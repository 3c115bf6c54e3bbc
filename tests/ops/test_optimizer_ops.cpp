// Spec and value tests of the fused optimizer ops.
#include <cmath>
#include <cstring>
#include <limits>

#include "cpu/vector_isa.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/optimizer.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

using vector_isa::Isa;

Attrs adam_attrs(double wd, bool amsgrad, bool decoupled, bool maximize) {
  return AdamAttrs{.beta1 = 0.9,
                   .beta2 = 0.999,
                   .eps = 1e-8,
                   .weight_decay = wd,
                   .amsgrad = amsgrad,
                   .decoupled = decoupled,
                   .maximize = maximize}
      .pack();
}

// `in` with input k replaced by v (an error sample).
std::vector<Tensor> with_input(std::vector<Tensor> in, size_t k, Tensor v) {
  in[k] = std::move(v);
  return in;
}

// Inputs in the op's order: p, grad, exp_avg, exp_avg_sq, step, lr[, max_exp_avg_sq].
std::vector<Tensor> adam_inputs(IntList shape, DType t, bool amsgrad, uint64_t seed, double lr, double step) {
  std::vector<Tensor> in = {make_input(shape, t, seed),
                            make_input(shape, t, seed + 1),
                            make_input(shape, t, seed + 2, -0.1, 0.1),
                            make_input(shape, t, seed + 3, 0.0, 0.2),
                            scalar(step, DType::Float64),
                            scalar(lr, DType::Float64)};
  if (amsgrad) in.push_back(make_input(shape, t, seed + 4, 0.0, 0.3));
  return in;
}

Attrs sgd_attrs(double momentum, double dampening, double wd, bool nesterov, bool maximize) {
  return SgdAttrs{
      .momentum = momentum, .dampening = dampening, .weight_decay = wd, .nesterov = nesterov, .maximize = maximize}
      .pack();
}

// Inputs in the op's order: p, grad, lr[, momentum_buffer].
std::vector<Tensor> sgd_inputs(IntList shape, DType t, bool buffer, uint64_t seed, double lr) {
  std::vector<Tensor> in = {make_input(shape, t, seed), make_input(shape, t, seed + 1), scalar(lr, DType::Float64)};
  if (buffer) in.push_back(make_input(shape, t, seed + 2, -0.5, 0.5));
  return in;
}

// One element of PyTorch 1.13's _single_tensor_sgd in double; buf null: no buffer yet.
struct SgdElement {
  double p, buf;
};
SgdElement sgd_reference(double p, double g, const double* buf, double lr, double momentum, double dampening, double wd,
                         bool nesterov, bool maximize) {
  double d = maximize ? -g : g;
  if (wd != 0) d = d + wd * p;
  double b = 0;
  if (momentum != 0) {
    b = buf ? *buf * momentum + (1 - dampening) * d : d;
    d = nesterov ? d + momentum * b : b;
  }
  return {p + -lr * d, b};
}

// Uniform values in [low, high) with a special value at every 5th element (NaN, ±Inf, a float32
// denormal, a float64 denormal, -0, 0 in turn).
Tensor special_input(int64_t n, DType t, uint64_t seed, double low, double high) {
  std::vector<double> v = make_input({n}, DType::Float64, seed, low, high).to_vector<double>();
  const double specials[] = {std::nan(""),
                             std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity(),
                             3e-40,
                             4e-310,
                             -0.0,
                             0.0};
  for (int64_t i = int64_t(seed % 5); i < n; i += 5) v[size_t(i)] = specials[size_t(i / 5) % std::size(specials)];
  return tensor(v).to(t);
}

std::vector<Isa> runnable_isas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::Portable, Isa::Avx2, Isa::Avx512})
    if (vector_isa::supported(isa)) isas.push_back(isa);
  return isas;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

constexpr int kNone = -1;   // an output the call does not write: an empty tensor
constexpr int kFresh = -2;  // a new tensor shaped as input 0

// Runs `op` in place on clones of `inputs` (output k is input in_of_out[k], or kNone/kFresh)
// under every ISA and checks each result against the portable one.
void check_isas_agree(OpId op, const std::vector<Tensor>& inputs, const Attrs& attrs,
                      const std::vector<int>& in_of_out) {
  std::vector<Tensor> portable;
  for (Isa isa : runnable_isas()) {
    INFO("ISA " << int(isa));
    std::vector<Tensor> in, out;
    for (const Tensor& t : inputs) in.push_back(t.clone());
    for (int k : in_of_out)
      out.push_back(k >= 0       ? in[size_t(k)]
                    : k == kNone ? empty({0}, {.dtype = inputs[0].dtype()})
                                 : empty_like(inputs[0]));
    {
      vector_isa::ForcedIsa forced(isa);
      CHECK(vector_isa::active() == isa);
      dispatch_out(op, in, attrs, out);
    }
    if (isa == Isa::Portable) {
      portable = out;
      continue;
    }
    for (size_t k = 0; k < out.size(); ++k) {
      INFO("output " << k);
      CHECK(same_bits(out[k], portable[k]));
    }
  }
}

}  // namespace

DOPPEL_OP_SPEC(sgd_step_spec) {
  return OpSpec{
      .op = OpId::sgd_step,
      .dtypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16},
      .samples =
          [](DType t) {
            return std::vector<Sample>{
                {"plain", sgd_inputs({5, 3}, t, false, 1, 0.1), sgd_attrs(0, 0, 0, false, false)},
                {"momentum first step", sgd_inputs({7}, t, false, 2, 0.1), sgd_attrs(0.9, 0, 0, false, false)},
                {"momentum", sgd_inputs({4, 4}, t, true, 3, 0.05), sgd_attrs(0.9, 0.1, 0, false, false)},
                {"nesterov decay", sgd_inputs({6}, t, true, 4, 0.05), sgd_attrs(0.8, 0, 0.01, true, false)},
                {"nesterov first step", sgd_inputs({6}, t, false, 5, 0.05), sgd_attrs(0.8, 0, 0, true, true)},
                {"decay maximize", sgd_inputs({9}, t, false, 6, 0.2), sgd_attrs(0, 0, 0.1, false, true)},
                {"negative lr", sgd_inputs({3}, t, false, 7, -0.1), sgd_attrs(0, 0, 0, false, false)},
                {"0-d", sgd_inputs({}, t, true, 8, 0.1), sgd_attrs(0.5, 0, 0, false, false)},
                {"empty", sgd_inputs({0, 3}, t, true, 9, 0.1), sgd_attrs(0.5, 0, 0, false, false)},
                // Both sides of the parallel grain (1 << 14 elements).
                {"large", sgd_inputs({300, 257}, t, true, 10, 0.01), sgd_attrs(0.9, 0, 1e-4, true, false)}};
          },
      .errors =
          [] {
            const Attrs plain = sgd_attrs(0, 0, 0, false, false), momentum = sgd_attrs(0.9, 0, 0, false, false);
            auto in = sgd_inputs({3}, DType::Float32, true, 1, 0.1);
            return std::vector<ErrorSample>{
                {"grad shape differs", with_input(in, 1, make_input({4}, DType::Float32, 9)), momentum,
                 ErrorKind::Shape, "sgd_step"},
                {"buffer dtype differs", with_input(in, 3, make_input({3}, DType::Float64, 9)), momentum,
                 ErrorKind::DType, "sgd_step"},
                {"buffer without momentum", in, plain, ErrorKind::Value, "momentum is 0"},
                {"nesterov with dampening", in, sgd_attrs(0.9, 0.1, 0, true, false), ErrorKind::Value, "Nesterov"},
                {"negative momentum", in, sgd_attrs(-0.5, 0, 0, false, false), ErrorKind::Value, "momentum"},
                {"integer parameters",
                 {tensor(std::vector<int64_t>{1}), tensor(std::vector<int64_t>{1}), scalar(0.1, DType::Float64)},
                 plain,
                 ErrorKind::DType,
                 "sgd_step"},
                {"grad undefined", with_input(in, 1, Tensor()), momentum, ErrorKind::Value, "sgd_step"},
                {"lr float32", with_input(in, 2, scalar(0.1, DType::Float32)), momentum, ErrorKind::DType, "sgd_step"},
                {"lr not 0-d", with_input(in, 2, tensor(std::vector<double>{0.1}, {1})), momentum, ErrorKind::Shape,
                 "sgd_step"},
                {"lr NaN", with_input(in, 2, scalar(std::nan(""), DType::Float64)), momentum, ErrorKind::Value,
                 "learning rate"}};
          },
      .test_noncontiguous = false};  // the op requires contiguous tensors
}

TEST_CASE("sgd_step equals PyTorch's single-tensor SGD computed in double", "[ops][optim]") {
  // Values chosen for the edge cases: ±Inf and NaN parameters with weight decay 0 stay as they are
  // (PyTorch adds no 0 * p term), -0 stays -0, a denormal gradient, a NaN gradient.
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  const std::vector<double> p0 = {0.5, -1.0, inf, -inf, nan, -0.0, 2.0, 1.0},
                            g = {0.1, -0.2, 0.0, 0.0, 0.0, 0.0, 4e-310, nan},
                            b0 = {0.01, 0.0, -0.02, 0.3, 0.0, 0.0, 1.0, 0.5};
  struct Case {
    double momentum, dampening, wd;
    bool nesterov, maximize, buffer;
  };
  // Every vector-ISA copy of the kernel this CPU runs (cpu/vector_isa.h); 8 float64 elements fill
  // the AVX-512 and AVX2 vector loops.
  for (const Isa isa : runnable_isas())
    for (const Case cs :
         {Case{0, 0, 0, false, false, false}, Case{0.9, 0, 0, false, false, false}, Case{0.9, 0, 0, false, false, true},
          Case{0.9, 0.25, 0, false, true, true}, Case{0.8, 0, 0.1, true, false, true},
          Case{0.8, 0, 0.1, true, true, false}, Case{0, 0, 0.01, false, true, false}}) {
      const vector_isa::ForcedIsa forced(isa);
      INFO("ISA " << int(isa));
      INFO("momentum " << cs.momentum << " dampening " << cs.dampening << " wd " << cs.wd << " nesterov " << cs.nesterov
                       << " maximize " << cs.maximize << " buffer " << cs.buffer);
      const double lr = 0.01;
      Tensor p = tensor(p0), buf = tensor(b0);
      const Tensor lr_t = scalar(lr, DType::Float64);
      std::vector<Tensor> in = {p, tensor(g), lr_t};
      if (cs.buffer) in.push_back(buf);
      const Tensor buf_out = cs.momentum != 0 ? buf : empty({0}, {.dtype = DType::Float64});
      dispatch_out(OpId::sgd_step, in, sgd_attrs(cs.momentum, cs.dampening, cs.wd, cs.nesterov, cs.maximize),
                   {p, buf_out});
      const std::vector<double> pv = p.to_vector<double>(), bv = buf.to_vector<double>();
      for (size_t i = 0; i < p0.size(); ++i) {
        const SgdElement want = sgd_reference(p0[i], g[i], cs.buffer ? &b0[i] : nullptr, lr, cs.momentum, cs.dampening,
                                              cs.wd, cs.nesterov, cs.maximize);
        INFO("element " << i);
        if (std::isnan(want.p)) {
          CHECK(std::isnan(pv[i]));
        } else {
          CHECK(pv[i] == want.p);
          CHECK(std::signbit(pv[i]) == std::signbit(want.p));
        }
        if (cs.momentum != 0 && !std::isnan(want.buf)) CHECK(bv[i] == want.buf);
        if (cs.momentum == 0) CHECK(bv[i] == b0[i]);  // not written without momentum
      }
      CHECK(lr_t.item<double>() == lr);
    }
}

DOPPEL_OP_SPEC(adam_step_spec) {
  return OpSpec{
      .op = OpId::adam_step,
      .dtypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16},
      .samples =
          [](DType t) {
            return std::vector<Sample>{
                {"adam", adam_inputs({5, 3}, t, false, 1, 1e-3, 1), adam_attrs(0, false, false, false)},
                {"adam l2 step 7", adam_inputs({40}, t, false, 2, 1e-2, 7), adam_attrs(0.1, false, false, false)},
                {"adamw amsgrad", adam_inputs({4, 4}, t, true, 3, 1e-3, 3), adam_attrs(1e-2, true, true, false)},
                {"maximize", adam_inputs({6}, t, false, 4, 1e-3, 2), adam_attrs(0, false, false, true)},
                {"lr 0", adam_inputs({6}, t, false, 7, 0.0, 2), adam_attrs(0, false, false, false)},
                {"0-d", adam_inputs({}, t, false, 5, 1e-3, 1), adam_attrs(0, false, false, false)},
                {"large", adam_inputs({300, 257}, t, false, 6, 1e-3, 5), adam_attrs(0, false, false, false)}};
          },
      .errors =
          [] {
            const Attrs plain = adam_attrs(0, false, false, false);
            auto in = adam_inputs({3}, DType::Float32, false, 1, 1e-3, 1);
            return std::vector<ErrorSample>{
                {"grad shape differs", with_input(in, 1, make_input({4}, DType::Float32, 9)), plain, ErrorKind::Shape,
                 "adam_step"},
                {"exp_avg dtype differs", with_input(in, 2, make_input({3}, DType::Float64, 9)), plain,
                 ErrorKind::DType, "adam_step"},
                {"amsgrad without max state", in, adam_attrs(0, true, false, false), ErrorKind::Value, "adam_step"},
                {"step 0", with_input(in, 4, scalar(0.0, DType::Float64)), plain, ErrorKind::Value, "adam_step"},
                {"step not 0-d", with_input(in, 4, tensor(std::vector<double>{1.0}, {1})), plain, ErrorKind::Shape,
                 "adam_step"},
                {"step int64", with_input(in, 4, scalar(int64_t(1), DType::Int64)), plain, ErrorKind::DType,
                 "adam_step"},
                {"lr float32", with_input(in, 5, scalar(1e-3, DType::Float32)), plain, ErrorKind::DType, "adam_step"},
                {"lr undefined", with_input(in, 5, Tensor()), plain, ErrorKind::Value, "adam_step"},
                {"lr negative", with_input(in, 5, scalar(-1.0, DType::Float64)), plain, ErrorKind::Value, "adam_step"}};
          },
      .test_noncontiguous = false};  // the op requires contiguous tensors (checked in its errors)
}

TEST_CASE("adam_step equals PyTorch's single-tensor Adam computed in double", "[ops][optim]") {
  const std::vector<double> p0 = {0.5, -1.0, 2.0}, g = {0.1, -0.2, 0.3}, m0 = {0.01, 0.0, -0.02},
                            v0 = {0.001, 0.002, 0.0};
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
  for (const double step : {1.0, 3.0, 250.0}) {
    Tensor p = tensor(p0), m = tensor(m0), v = tensor(v0);
    const Tensor step_t = scalar(step, DType::Float64), lr_t = scalar(lr, DType::Float64);
    dispatch_out(OpId::adam_step, {p, tensor(g), m, v, step_t, lr_t}, adam_attrs(wd, false, false, false),
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
    // The kernel reads step and lr but leaves them alone (the optimizer increments step).
    CHECK(step_t.item<double>() == step);
    CHECK(lr_t.item<double>() == lr);
  }
}

TEST_CASE("adam_step: AdamW amsgrad maximize against a double loop", "[ops][optim]") {
  const std::vector<double> p0 = {0.5, -1.0, 2.0, 0.0}, g = {0.1, -0.2, 0.3, 0.0}, m0 = {0.01, 0.0, -0.02, 0.0},
                            v0 = {0.001, 0.002, 0.0, 0.0}, vmax0 = {0.002, 0.0, 0.01, 0.0};
  const double lr = 0.02, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.05, step = 4;
  Tensor p = tensor(p0), m = tensor(m0), v = tensor(v0), vmax = tensor(vmax0);
  dispatch_out(OpId::adam_step, {p, tensor(g), m, v, scalar(step, DType::Float64), scalar(lr, DType::Float64), vmax},
               adam_attrs(wd, true, true, true), {p, m, v, vmax});
  for (size_t i = 0; i < p0.size(); ++i) {
    const double gi = -g[i], pd = p0[i] * (1 - lr * wd);
    const double mi = b1 * m0[i] + (1 - b1) * gi, vi = b2 * v0[i] + (1 - b2) * gi * gi;
    const double vh = std::max(vmax0[i], vi);
    const double pi =
        pd - lr / (1 - std::pow(b1, step)) * mi / (std::sqrt(vh) / std::sqrt(1 - std::pow(b2, step)) + eps);
    CHECK(std::fabs(vmax.to_vector<double>()[i] - vh) < 1e-15);
    CHECK(std::fabs(p.to_vector<double>()[i] - pi) < 1e-12);
  }
}

// The fused updates run in one copy per vector ISA (kernels/cpu/vector_isa.h): every copy this
// CPU can run must give the portable copy's bits (no FMA contraction, no reordering), for every
// loop variant, with NaN/±Inf/denormals/-0 in the data, on both sides of the parallel grain
// (1 << 14 elements).
TEST_CASE("sgd_step: every vector-ISA copy gives the portable copy's bits", "[ops][optim]") {
  struct Case {
    double momentum, dampening, wd;
    bool nesterov, maximize, buffer;
  };
  for (const DType t : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16})
    for (const int64_t n : {int64_t(1) << 14, (int64_t(1) << 16) + 37})
      for (const Case cs : {Case{0, 0, 0, false, false, false}, Case{0, 0, 0.01, false, true, false},
                            Case{0.9, 0, 0, false, false, false}, Case{0.9, 0.25, 1e-3, false, true, true},
                            Case{0.8, 0, 0.1, true, false, true}, Case{0.8, 0, 0.1, true, true, false}}) {
        INFO("dtype " << dtype_name(t) << " n " << n << " momentum " << cs.momentum << " wd " << cs.wd << " nesterov "
                      << cs.nesterov << " maximize " << cs.maximize << " buffer " << cs.buffer);
        std::vector<Tensor> in = {special_input(n, t, 1, -2, 2), special_input(n, t, 2, -1, 1),
                                  scalar(0.01, DType::Float64)};
        if (cs.buffer) in.push_back(special_input(n, t, 3, -0.5, 0.5));
        const Attrs attrs = sgd_attrs(cs.momentum, cs.dampening, cs.wd, cs.nesterov, cs.maximize);
        // Without a buffer yet (the first step), a fresh tensor receives it.
        check_isas_agree(OpId::sgd_step, in, attrs, {0, cs.momentum == 0 ? kNone : cs.buffer ? 3 : kFresh});
      }
}

TEST_CASE("adam_step: every vector-ISA copy gives the portable copy's bits", "[ops][optim]") {
  struct Case {
    double wd, lr;
    bool amsgrad, decoupled, maximize;
  };
  for (const DType t : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16})
    for (const int64_t n : {int64_t(1) << 14, (int64_t(1) << 16) + 37})
      for (const Case cs : {Case{0, 1e-3, false, false, false}, Case{0.1, 1e-2, false, false, true},
                            Case{1e-2, 1e-3, true, true, false}, Case{1e-2, 1e-3, true, false, true},
                            Case{0, 0, false, false, false}}) {
        INFO("dtype " << dtype_name(t) << " n " << n << " wd " << cs.wd << " lr " << cs.lr << " amsgrad " << cs.amsgrad
                      << " decoupled " << cs.decoupled << " maximize " << cs.maximize);
        std::vector<Tensor> in = {special_input(n, t, 1, -2, 2),     special_input(n, t, 2, -1, 1),
                                  special_input(n, t, 3, -0.1, 0.1), special_input(n, t, 4, 0, 0.2),
                                  scalar(3.0, DType::Float64),       scalar(cs.lr, DType::Float64)};
        if (cs.amsgrad) in.push_back(special_input(n, t, 5, 0, 0.3));
        const Attrs attrs = adam_attrs(cs.wd, cs.amsgrad, cs.decoupled, cs.maximize);
        check_isas_agree(OpId::adam_step, in, attrs, {0, 2, 3, cs.amsgrad ? 6 : kNone});
      }
}

TEST_CASE("sgd_step and adam_step refuse an output that partially overlaps an input", "[ops][optim]") {
  // The vectorized loops assume each output is its input's own buffer or apart from the inputs.
  const Tensor storage = make_input({65}, DType::Float32, 1);
  const Tensor p = storage.narrow(0, 0, 64), shifted = storage.narrow(0, 1, 64);
  const Tensor g = make_input({64}, DType::Float32, 2);
  const Attrs sgd = sgd_attrs(0, 0, 0, false, false);
  CHECK_THROWS_AS(dispatch_out(OpId::sgd_step, {p, g, scalar(0.1, DType::Float64)}, sgd,
                               {shifted, empty({0}, {.dtype = DType::Float32})}),
                  ValueError);
  // In place and apart are fine.
  dispatch_out(OpId::sgd_step, {p, g, scalar(0.1, DType::Float64)}, sgd, {p, empty({0}, {.dtype = DType::Float32})});
  const Tensor m = make_input({64}, DType::Float32, 3), v = make_input({64}, DType::Float32, 4, 0, 1);
  const Attrs adam = adam_attrs(0, false, false, false);
  CHECK_THROWS_AS(dispatch_out(OpId::adam_step, {p, g, m, v, scalar(1.0, DType::Float64), scalar(1e-3, DType::Float64)},
                               adam, {p, shifted, v, empty({0}, {.dtype = DType::Float32})}),
                  ValueError);
}

}  // namespace doppel::testing
