// fused_linear (linear_conv_fusion's rewrite of linear + activation) computes eager's bits: on
// both sides of the size below which eager's linear is a direct loop (4096 multiply-adds) —
// where the oneDNN primitive would accumulate in another order — and with NaN, infinities and
// -0 in the input (which oneDNN's post-ops map differently). Above the threshold the activations
// oneDNN's post-ops compute exactly (relu, leaky_relu) are bitwise too.
#include <bit>
#include <catch2/catch_test_macros.hpp>
#include <cmath>
#include <limits>

#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;

// Eager's op sequence: linear, then the activation's own op.
Tensor eager_linear_activation(const Tensor& x, const Tensor& w, const Tensor& b, FusedActivation act, double alpha) {
  Tensor y = dispatch(OpId::linear, {x, w, b})[0];
  const auto u = unfused_activation(act, alpha, 0);
  return u ? dispatch(u->op, {y}, u->attrs)[0] : y;
}

// Bit for bit (any NaN matches any NaN).
void require_same_bits(const Tensor& got, const Tensor& want) {
  const std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>();
  REQUIRE(g.size() == w.size());
  for (size_t k = 0; k < w.size(); ++k) {
    INFO("element " << k << ": got " << g[k] << " want " << w[k]);
    const bool same =
        std::isnan(w[k]) ? std::isnan(g[k]) : std::bit_cast<uint32_t>(g[k]) == std::bit_cast<uint32_t>(w[k]);
    REQUIRE(same);
  }
}

struct Case {
  int64_t rows, in, out;
};

void check(const Case& c, FusedActivation act, bool special) {
  INFO("x [" << c.rows << ", " << c.in << "], w [" << c.out << ", " << c.in << "], activation " << int(act)
             << (special ? ", with NaN/Inf/-0" : ""));
  Tensor x = make_input({c.rows, c.in}, DType::Float32, 7);
  if (special) {
    std::vector<float> v = x.to_vector<float>();
    v[0] = std::numeric_limits<float>::quiet_NaN();
    v[size_t(c.in)] = std::numeric_limits<float>::infinity();
    v[size_t(2 * c.in) + 1] = -std::numeric_limits<float>::infinity();
    v[size_t(3 * c.in)] = -0.0f;
    x = tensor(v, {c.rows, c.in});
  }
  const Tensor w = make_input({c.out, c.in}, DType::Float32, 8, -0.5, 0.5);
  const Tensor b = make_input({c.out}, DType::Float32, 9);
  const double alpha = act == FusedActivation::leaky_relu ? 0.1 : act == FusedActivation::elu ? 1.0 : 0.0;
  const Attrs attrs = FusedLinearAttrs{.activation = int64_t(act), .alpha = alpha, .beta = 0}.pack();
  require_same_bits(dispatch(OpId::fused_linear, {x, w, b}, attrs)[0], eager_linear_activation(x, w, b, act, alpha));
}

TEST_CASE("fused_linear: equals eager's linear then activation bit for bit", "[graph][fusion]") {
  // rows * out * in multiply-adds: 2048 and 4096 (direct loop in eager), 4224 and 10240 (primitive).
  const Case direct[] = {{16, 8, 16}, {4, 32, 32}, {5, 8, 8}};
  const Case primitive[] = {{4, 32, 33}, {16, 20, 32}};
  for (const bool special : {false, true}) {
    for (const Case& c : direct)
      for (const FusedActivation act : {FusedActivation::none, FusedActivation::relu, FusedActivation::leaky_relu,
                                        FusedActivation::gelu_erf, FusedActivation::gelu_tanh, FusedActivation::tanh,
                                        FusedActivation::sigmoid, FusedActivation::silu, FusedActivation::elu})
        check(c, act, special);
    for (const Case& c : primitive)
      for (const FusedActivation act : {FusedActivation::none, FusedActivation::relu, FusedActivation::leaky_relu})
        check(c, act, special);
  }
}

}  // namespace
}  // namespace doppel
