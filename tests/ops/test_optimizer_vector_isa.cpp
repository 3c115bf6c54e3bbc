// The fused optimizer updates run in one copy per vector ISA (kernels/cpu/vector_isa.h): every
// copy this CPU can run must give the portable copy's bits (no FMA contraction, no reordering),
// for every loop variant, with NaN/±Inf/denormals/-0 in the data, on both sides of the parallel
// grain (1 << 14 elements).
#include <cmath>
#include <cstring>
#include <limits>

#include "cpu/vector_isa.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/optimizer.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

using vector_isa::Isa;

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
        const Attrs attrs = SgdAttrs{.momentum = cs.momentum,
                                     .dampening = cs.dampening,
                                     .weight_decay = cs.wd,
                                     .nesterov = cs.nesterov,
                                     .maximize = cs.maximize}
                                .pack();
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
        const Attrs attrs = AdamAttrs{.beta1 = 0.9,
                                      .beta2 = 0.999,
                                      .eps = 1e-8,
                                      .weight_decay = cs.wd,
                                      .amsgrad = cs.amsgrad,
                                      .decoupled = cs.decoupled,
                                      .maximize = cs.maximize}
                                .pack();
        check_isas_agree(OpId::adam_step, in, attrs, {0, 2, 3, cs.amsgrad ? 6 : kNone});
      }
}

TEST_CASE("sgd_step and adam_step refuse an output that partially overlaps an input", "[ops][optim]") {
  // The vectorized loops assume each output is its input's own buffer or apart from the inputs.
  const Tensor storage = make_input({65}, DType::Float32, 1);
  const Tensor p = storage.narrow(0, 0, 64), shifted = storage.narrow(0, 1, 64);
  const Tensor g = make_input({64}, DType::Float32, 2);
  const Attrs sgd =
      SgdAttrs{.momentum = 0, .dampening = 0, .weight_decay = 0, .nesterov = false, .maximize = false}.pack();
  CHECK_THROWS_AS(dispatch_out(OpId::sgd_step, {p, g, scalar(0.1, DType::Float64)}, sgd,
                               {shifted, empty({0}, {.dtype = DType::Float32})}),
                  ValueError);
  // In place and apart are fine.
  dispatch_out(OpId::sgd_step, {p, g, scalar(0.1, DType::Float64)}, sgd, {p, empty({0}, {.dtype = DType::Float32})});
  const Tensor m = make_input({64}, DType::Float32, 3), v = make_input({64}, DType::Float32, 4, 0, 1);
  const Attrs adam = AdamAttrs{.beta1 = 0.9,
                               .beta2 = 0.999,
                               .eps = 1e-8,
                               .weight_decay = 0,
                               .amsgrad = false,
                               .decoupled = false,
                               .maximize = false}
                         .pack();
  CHECK_THROWS_AS(dispatch_out(OpId::adam_step, {p, g, m, v, scalar(1.0, DType::Float64), scalar(1e-3, DType::Float64)},
                               adam, {p, shifted, v, empty({0}, {.dtype = DType::Float32})}),
                  ValueError);
}

}  // namespace doppel::testing
