// Specs and value tests of the fused ops (fused_linear, fused_conv2d, fused_elementwise). The
// generic spec test compares oneDNN against the reference kernels; the value tests here compare
// each fused op against the composition of the unfused eager ops it replaces (the independent
// oracle: graph passes must not change results).
#include <algorithm>
#include <bit>
#include <cstring>
#include <random>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "support/onednn_log.h"
#include "support/onednn_products.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kFloat = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};

constexpr FusedActivation kActivations[] = {
    FusedActivation::none,      FusedActivation::relu,    FusedActivation::leaky_relu, FusedActivation::gelu_erf,
    FusedActivation::gelu_tanh, FusedActivation::tanh,    FusedActivation::sigmoid,    FusedActivation::silu,
    FusedActivation::elu,       FusedActivation::softplus};

const char* act_name(FusedActivation a) {
  constexpr const char* names[] = {"none", "relu",    "leaky_relu", "gelu_erf", "gelu_tanh",
                                   "tanh", "sigmoid", "silu",       "elu",      "softplus"};
  return names[int(a)];
}

// alpha/beta exercising each parameterized activation (softplus: beta 2, threshold 1.5, so both
// of its branches are hit by O(1) inputs).
std::pair<double, double> params(FusedActivation a) {
  switch (a) {
    case FusedActivation::leaky_relu:
      return {0.1, 0};
    case FusedActivation::elu:
      return {0.7, 0};
    case FusedActivation::softplus:
      return {2.0, 1.5};
    default:
      return {0, 0};
  }
}

Attrs act_attrs(FusedActivation a) {
  const auto [alpha, beta] = params(a);
  return FusedLinearAttrs{.activation = int64_t(a), .alpha = alpha, .beta = beta}.pack();
}

Attrs conv_attrs(IntList stride, IntList pad, IntList dil, int64_t groups, FusedActivation a) {
  const auto [alpha, beta] = params(a);
  return FusedConv2dAttrs{.stride = stride,
                          .padding = pad,
                          .dilation = dil,
                          .groups = groups,
                          .activation = int64_t(a),
                          .alpha = alpha,
                          .beta = beta}
      .pack();
}

// The unfused eager composition (written out here rather than through unfused_activation(), so
// the test does not share the mapping under test).
Tensor activate(FusedActivation a, const Tensor& t) {
  const auto [alpha, beta] = params(a);
  switch (a) {
    case FusedActivation::none:
      return t;
    case FusedActivation::relu:
      return relu(t);
    case FusedActivation::leaky_relu:
      return leaky_relu(t, alpha);
    case FusedActivation::gelu_erf:
      return gelu(t, false);
    case FusedActivation::gelu_tanh:
      return gelu(t, true);
    case FusedActivation::tanh:
      return tanh(t);
    case FusedActivation::sigmoid:
      return sigmoid(t);
    case FusedActivation::silu:
      return silu(t);
    case FusedActivation::elu:
      return elu(t, alpha);
    case FusedActivation::softplus:
      return softplus(t, alpha, beta);
  }
  return t;
}

Tensor in(IntList shape, DType dt, uint64_t seed) { return make_input(shape, dt, seed); }

// 16-bit results: the fused kernels round once, the composition after each op.
Tolerance fused_tolerance(DType dt) {
  if (dt == DType::BFloat16) return {3e-2, 6e-2};
  if (dt == DType::Float16) return {5e-3, 2e-2};
  return dt == DType::Float64 ? Tolerance{1e-10, 1e-10} : Tolerance{1e-4, 1e-4};
}

// ---- fused_linear.

std::vector<Sample> linear_samples(DType dt) {
  std::vector<Sample> s;
  uint64_t seed = 1;
  for (FusedActivation a : kActivations) {
    s.push_back({fmt::format("{} bias", act_name(a)),
                 {in({4, 7}, dt, seed), in({5, 7}, dt, seed + 1), in({5}, dt, seed + 2)},
                 act_attrs(a)});
    s.push_back({fmt::format("{} no bias", act_name(a)),
                 {in({2, 3, 7}, dt, seed + 3), in({6, 7}, dt, seed + 4)},
                 act_attrs(a)});
    seed += 5;
  }
  s.push_back(
      {"1-d input", {in({7}, dt, 90), in({3, 7}, dt, 91), in({3}, dt, 92)}, act_attrs(FusedActivation::gelu_erf)});
  s.push_back({"transposed weight",
               {in({5, 8}, dt, 93), transpose(in({8, 6}, dt, 94), 0, 1), in({6}, dt, 95)},
               act_attrs(FusedActivation::silu)});
  s.push_back({"empty", {in({0, 7}, dt, 96), in({5, 7}, dt, 97)}, act_attrs(FusedActivation::relu)});
  s.push_back({"large",
               {in({96, 130}, dt, 98), in({70, 130}, dt, 99), in({70}, dt, 100)},
               act_attrs(FusedActivation::gelu_tanh)});
  return s;
}

DOPPEL_OP_SPEC(fused_linear_spec) {
  return OpSpec{
      .op = OpId::fused_linear,
      .dtypes = kFloat,
      .samples = linear_samples,
      .errors =
          [] {
            const Tensor x = in({4, 7}, DType::Float32, 1), w = in({5, 7}, DType::Float32, 2);
            return std::vector<ErrorSample>{
                {"feature mismatch",
                 {x, in({5, 6}, DType::Float32, 3)},
                 act_attrs(FusedActivation::relu),
                 ErrorKind::Shape,
                 "fused_linear"},
                {"integer dtype",
                 {in({4, 7}, DType::Int32, 1), in({5, 7}, DType::Int32, 2)},
                 act_attrs(FusedActivation::relu),
                 ErrorKind::DType,
                 "fused_linear"},
                {"bias shape",
                 {x, w, in({4}, DType::Float32, 3)},
                 act_attrs(FusedActivation::none),
                 ErrorKind::Shape,
                 "fused_linear"},
                {"unknown activation",
                 {x, w},
                 FusedLinearAttrs{.activation = 42, .alpha = 0, .beta = 0}.pack(),
                 ErrorKind::Value,
                 "activation"},
                {"NaN slope",
                 {x, w},
                 FusedLinearAttrs{.activation = int64_t(FusedActivation::leaky_relu), .alpha = NAN, .beta = 0}.pack(),
                 ErrorKind::Value,
                 "fused_linear"},
                {"zero softplus beta",
                 {x, w},
                 FusedLinearAttrs{.activation = int64_t(FusedActivation::softplus), .alpha = 0, .beta = 20}.pack(),
                 ErrorKind::Value,
                 "fused_linear"}};
          },
      .tolerance = fused_tolerance,
      .gradcheck = false};
}

// ---- fused_conv2d.

std::vector<Sample> conv_samples(DType dt) {
  std::vector<Sample> s;
  uint64_t seed = 1;
  const Tensor none;
  for (FusedActivation a : kActivations) {
    s.push_back({fmt::format("{} bias residual", act_name(a)),
                 {in({2, 3, 6, 5}, dt, seed), in({4, 3, 3, 2}, dt, seed + 1), in({4}, dt, seed + 2),
                  in({2, 4, 4, 4}, dt, seed + 3)},
                 conv_attrs({1, 1}, {0, 0}, {1, 1}, 1, a)});
    seed += 4;
  }
  s.push_back({"no bias no residual",
               {in({1, 3, 5, 5}, dt, 60), in({2, 3, 3, 3}, dt, 61)},
               conv_attrs({1, 1}, {0, 0}, {1, 1}, 1, FusedActivation::relu)});
  s.push_back({"bias only",
               {in({1, 3, 5, 5}, dt, 62), in({2, 3, 3, 3}, dt, 63), in({2}, dt, 64)},
               conv_attrs({1, 1}, {1, 1}, {1, 1}, 1, FusedActivation::elu)});
  s.push_back({"residual only",
               {in({1, 3, 5, 5}, dt, 65), in({2, 3, 3, 3}, dt, 66), none, in({1, 2, 3, 3}, dt, 67)},
               conv_attrs({1, 1}, {0, 0}, {1, 1}, 1, FusedActivation::none)});
  s.push_back({"stride pad dilation groups",
               {in({1, 4, 7, 6}, dt, 68), in({6, 2, 3, 3}, dt, 69), in({6}, dt, 70), in({1, 6, 4, 4}, dt, 71)},
               conv_attrs({2, 1}, {1, 1}, {1, 2}, 2, FusedActivation::silu)});
  s.push_back({"depthwise",
               {in({2, 4, 6, 6}, dt, 72), in({4, 1, 3, 3}, dt, 73), in({4}, dt, 74)},
               conv_attrs({1, 1}, {1, 1}, {1, 1}, 4, FusedActivation::leaky_relu)});
  s.push_back({"empty batch",
               {in({0, 3, 5, 5}, dt, 75), in({4, 3, 3, 3}, dt, 76), none, in({0, 4, 3, 3}, dt, 77)},
               conv_attrs({1, 1}, {0, 0}, {1, 1}, 1, FusedActivation::relu)});
  s.push_back({"large",
               {in({4, 16, 14, 14}, dt, 78), in({16, 16, 3, 3}, dt, 79), in({16}, dt, 80), in({4, 16, 14, 14}, dt, 81)},
               conv_attrs({1, 1}, {1, 1}, {1, 1}, 1, FusedActivation::relu)});
  return s;
}

// Convolutions sum a few hundred products: the tolerance of the convolution spec.
Tolerance conv_tolerance(DType dt) {
  Tolerance t = fused_tolerance(dt);
  if (dt == DType::Float32) t = {2e-4, 2e-4};
  return t;
}

DOPPEL_OP_SPEC(fused_conv2d_spec) {
  return OpSpec{
      .op = OpId::fused_conv2d,
      .dtypes = kFloat,
      .samples = conv_samples,
      .errors =
          [] {
            const Tensor x = in({1, 3, 5, 5}, DType::Float32, 1), w = in({4, 3, 3, 3}, DType::Float32, 2), none;
            const Attrs a = conv_attrs({1, 1}, {0, 0}, {1, 1}, 1, FusedActivation::relu);
            return std::vector<ErrorSample>{
                {"1-d convolution",
                 {in({1, 3, 5}, DType::Float32, 1), in({4, 3, 3}, DType::Float32, 2)},
                 a,
                 ErrorKind::Shape,
                 "fused_conv2d"},
                {"channel mismatch", {x, in({4, 2, 3, 3}, DType::Float32, 2)}, a, ErrorKind::Shape, "fused_conv2d"},
                {"zero stride",
                 {x, w},
                 conv_attrs({0, 1}, {0, 0}, {1, 1}, 1, FusedActivation::relu),
                 ErrorKind::Value,
                 "fused_conv2d"},
                {"residual shape", {x, w, none, in({1, 4, 2, 3}, DType::Float32, 3)}, a, ErrorKind::Shape, "residual"},
                {"residual dtype", {x, w, none, in({1, 4, 3, 3}, DType::Float64, 3)}, a, ErrorKind::DType, "residual"},
                {"unknown activation",
                 {x, w},
                 conv_attrs({1, 1}, {0, 0}, {1, 1}, 1, FusedActivation(-1)),
                 ErrorKind::Value,
                 "activation"}};
          },
      .tolerance = conv_tolerance,
      .gradcheck = false};
}

// ---- fused_elementwise.

Attr program(std::initializer_list<FusedInstr> code) {
  Shape p;
  for (const FusedInstr& i : code) append_instr(p, i);
  return Attr::of_ints(p);
}

using Op = FusedOpcode;

// Every opcode: log/sqrt/rsqrt read |x| + 0.5; the results are combined into register 3.
Attr every_opcode_program() {
  return program({{Op::abs, 2, 0},     {Op::add_imm, 2, 2, 0, 0.5},
                  {Op::log, 3, 2},     {Op::sqrt, 4, 2},
                  {Op::rsqrt, 5, 2},   {Op::add, 3, 3, 4},
                  {Op::sub, 3, 3, 5},  {Op::exp, 4, 1},
                  {Op::mul, 3, 3, 4},  {Op::tanh, 4, 0},
                  {Op::div, 4, 4, 2},  {Op::maximum, 3, 3, 4},
                  {Op::sigmoid, 4, 1}, {Op::minimum, 3, 3, 4},
                  {Op::gelu, 4, 0},    {Op::gelu, 5, 1, 0, 1.0},  // tanh approximation
                  {Op::add, 4, 4, 5},  {Op::silu, 5, 0},
                  {Op::sub, 4, 4, 5},  {Op::relu, 5, 1},
                  {Op::neg, 5, 5},     {Op::mul_imm, 5, 5, 0, -0.25},
                  {Op::add, 4, 4, 5},  {Op::add, 3, 3, 4}});
}

// What every_opcode_program computes, with the eager ops.
Tensor every_opcode_unfused(const Tensor& a, const Tensor& b) {
  const Tensor p = add(abs(a), 0.5);
  Tensor r = sub(add(log(p), sqrt(p)), rsqrt(p));
  r = mul(r, exp(b));
  r = maximum(r, div(tanh(a), p));
  r = minimum(r, sigmoid(b));
  Tensor q = add(gelu(a, false), gelu(b, true));
  q = sub(q, silu(a));
  q = add(q, mul(neg(relu(b)), -0.25));
  return add(r, q);
}

// relu(x * y + z) - reused registers: the input registers are overwritten.
Attr fma_relu_program() { return program({{Op::mul, 0, 0, 1}, {Op::add, 0, 0, 2}, {Op::relu, 0, 0}}); }

std::vector<Sample> elementwise_samples(DType dt) {
  const Attr every = every_opcode_program();
  return {{"every opcode", {in({4, 5}, dt, 1), in({4, 5}, dt, 2)}, {every}},
          {"every opcode broadcast", {in({3, 1, 5}, dt, 3), in({4, 1}, dt, 4)}, {every}},
          {"fma relu 3 inputs", {in({3, 1, 4}, dt, 5), in({1, 5, 1}, dt, 6), in({}, dt, 7)}, {fma_relu_program()}},
          {"0-d", {in({}, dt, 8)}, {program({{Op::sigmoid, 1, 0}, {Op::mul, 1, 1, 0}})}},
          {"empty", {in({0, 3}, dt, 9), in({3}, dt, 10)}, {program({{Op::add, 2, 0, 1}})}},
          {"large", {in({300, 257}, dt, 11), in({257}, dt, 12)}, {every}},
          {"large broadcast rows",
           {in({260, 1}, dt, 13), in({1, 300}, dt, 14), in({260, 300}, dt, 15)},
           {fma_relu_program()}}};
}

DOPPEL_OP_SPEC(fused_elementwise_spec) {
  return OpSpec{
      .op = OpId::fused_elementwise,
      .dtypes = kFloat,
      .samples = elementwise_samples,
      .errors =
          [] {
            const Tensor a = in({2, 3}, DType::Float32, 1), b = in({2, 3}, DType::Float32, 2);
            const Attr ok = program({{Op::add, 2, 0, 1}});
            auto words = [](std::vector<int64_t> w) { return Attr::of_ints(IntList(w.data(), w.size())); };
            return std::vector<ErrorSample>{
                {"empty program",
                 {a},
                 FusedElementwiseAttrs{.program = {}}.pack(),
                 ErrorKind::Value,
                 "fused_elementwise"},
                {"truncated instruction",
                 {a, b},
                 {words({int64_t(Op::add), 2, 0, 1})},
                 ErrorKind::Value,
                 "fused_elementwise"},
                {"unknown opcode", {a, b}, {words({99, 2, 0, 1, 0})}, ErrorKind::Value, "opcode"},
                {"negative opcode", {a, b}, {words({-1, 2, 0, 1, 0})}, ErrorKind::Value, "opcode"},
                {"register out of range",
                 {a, b},
                 {words({int64_t(Op::add), 2, 0, 32, 0})},
                 ErrorKind::Value,
                 "out of range"},
                {"negative destination",
                 {a, b},
                 {words({int64_t(Op::neg), -3, 0, 0, 0})},
                 ErrorKind::Value,
                 "out of range"},
                {"read before write", {a, b}, {words({int64_t(Op::add), 3, 0, 2, 0})}, ErrorKind::Value, "before"},
                {"mixed dtypes", {a, in({2, 3}, DType::Float64, 2)}, {ok}, ErrorKind::DType, "fused_elementwise"},
                {"integer inputs",
                 {in({2, 3}, DType::Int32, 1), in({2, 3}, DType::Int32, 2)},
                 {ok},
                 ErrorKind::DType,
                 "fused_elementwise"},
                {"bad broadcast", {a, in({4}, DType::Float32, 2)}, {ok}, ErrorKind::Shape, "fused_elementwise"}};
          },
      .tolerance = fused_tolerance,
      .gradcheck = false};
}

// Runs a fused op on the default backend (oneDNN where it accepts) and on the reference kernel.
std::pair<Tensor, Tensor> both_backends(OpId op, std::vector<Tensor> inputs, const Attrs& attrs) {
  Tensor fast = dispatch1(op, inputs, attrs);
  ForceBackendGuard g(Backend::Reference);
  return {fast, dispatch1(op, inputs, attrs)};
}

// Lines of `log` creating a matmul primitive with a relu post-op.
int64_t relu_matmuls_created(const std::vector<std::string>& log) {
  return std::count_if(log.begin(), log.end(), [](const std::string& l) {
    return l.rfind("onednn_verbose,create:", 0) == 0 && l.find(",matmul,") != std::string::npos &&
           l.find("eltwise_relu") != std::string::npos;
  });
}

}  // namespace

// fused_linear's kernel is chosen with the primitive's descriptor alone; the primitive (its code
// generated) is made on its first run. A training step's weight, new at every call, sends relu to
// the unfused ops: its primitive is never made. A weight that stays put runs the fused primitive
// from its second call (weight_cache.h), made then, once.
TEST_CASE("fused_linear makes its primitive on its first fused run, not when its kernel is chosen", "[ops][fused]") {
  const testing::OneDnnProducts onednn_products;  // the primitives this test is about
  // A geometry no other test uses, so neither doppel's entry nor oneDNN's cache holds it yet.
  const Tensor x = in({37, 113}, DType::Float32, 1), w = in({29, 113}, DType::Float32, 2);
  const Tensor b = in({29}, DType::Float32, 3);
  const Attrs attrs = act_attrs(FusedActivation::relu);
  std::vector<Tensor> got;
  const auto training = onednn_log([&] {
    for (int step = 0; step < 3; ++step) {
      add_(w, 0.01);  // the optimizer's update: a new version
      got.push_back(dispatch1(OpId::fused_linear, {x, w, b}, attrs));
      got.push_back(relu(linear(x, w, b)));
    }
  });
  CHECK(last_selected_backend() == Backend::Reference);  // the eager relu's, last
  CHECK(relu_matmuls_created(training) == 0);
  for (size_t k = 0; k < got.size(); k += 2)  // eager's unfused ops: its bits
    CHECK(std::memcmp(got[k].raw_data(), got[k + 1].raw_data(), size_t(got[k].numel()) * sizeof(float)) == 0);
  got.clear();
  const auto stable = onednn_log([&] {
    for (int call = 0; call < 4; ++call) got.push_back(dispatch1(OpId::fused_linear, {x, w, b}, attrs));
  });
  CHECK(relu_matmuls_created(stable) == 1);
  for (const Tensor& y : got) DOPPEL_REQUIRE_CLOSE(y, relu(linear(x, w, b)), fused_tolerance(DType::Float32));
}

TEST_CASE("fused_linear equals the activation of linear, for every activation", "[ops][fused]") {
  for (DType dt : {DType::Float32, DType::Float64, DType::BFloat16}) {
    const Tensor x = in({3, 4, 20}, dt, 1), w = in({9, 20}, dt, 2), b = in({9}, dt, 3);
    for (FusedActivation a : kActivations) {
      INFO(fmt::format("{} {}", dtype_name(dt), act_name(a)));
      const Tensor expected = activate(a, linear(x, w, b));
      auto [fast, ref] = both_backends(OpId::fused_linear, {x, w, b}, act_attrs(a));
      DOPPEL_REQUIRE_CLOSE(fast, expected, fused_tolerance(dt));
      DOPPEL_REQUIRE_CLOSE(ref, expected, fused_tolerance(dt));
      auto [fast_nb, ref_nb] = both_backends(OpId::fused_linear, {x, w}, act_attrs(a));
      DOPPEL_REQUIRE_CLOSE(fast_nb, activate(a, linear(x, w)), fused_tolerance(dt));
    }
  }
}

TEST_CASE("fused_conv2d equals the activation of conv2d plus the residual", "[ops][fused]") {
  for (DType dt : {DType::Float32, DType::Float64, DType::BFloat16}) {
    const Tensor x = in({2, 4, 9, 8}, dt, 1), w = in({6, 2, 3, 3}, dt, 2), b = in({6}, dt, 3);
    for (FusedActivation a : kActivations) {
      INFO(fmt::format("{} {}", dtype_name(dt), act_name(a)));
      const Attrs attrs = conv_attrs({2, 1}, {1, 2}, {1, 2}, 2, a);
      const Tensor conv = conv2d(x, w, b, {2, 1}, {1, 2}, {1, 2}, 2);
      const Tensor res = in(conv.shape(), dt, 4);
      auto [fast, ref] = both_backends(OpId::fused_conv2d, {x, w, b, res}, attrs);
      DOPPEL_REQUIRE_CLOSE(fast, activate(a, add(conv, res)), conv_tolerance(dt));
      DOPPEL_REQUIRE_CLOSE(ref, activate(a, add(conv, res)), conv_tolerance(dt));
      // A residual in another layout (channels last) and no bias.
      const Tensor res_cl = permute(contiguous(permute(res, {0, 2, 3, 1})), {0, 3, 1, 2});
      auto [fast2, ref2] = both_backends(OpId::fused_conv2d, {x, w, Tensor(), res_cl}, attrs);
      const Tensor expected2 = activate(a, add(conv2d(x, w, {}, {2, 1}, {1, 2}, {1, 2}, 2), res));
      DOPPEL_REQUIRE_CLOSE(fast2, expected2, conv_tolerance(dt));
      DOPPEL_REQUIRE_CLOSE(ref2, expected2, conv_tolerance(dt));
    }
  }
}

TEST_CASE("fused linear and conv2d run on oneDNN and decline what it cannot do", "[ops][fused]") {
  const Tensor x = in({8, 64}, DType::Float32, 1), w = in({32, 64}, DType::Float32, 2);
  dispatch1(OpId::fused_linear, {x, w}, act_attrs(FusedActivation::gelu_erf));
  CHECK(last_selected_backend() == Backend::OneDNN);
  dispatch1(OpId::fused_linear, {x, w}, act_attrs(FusedActivation::softplus));
  CHECK(last_selected_backend() == Backend::Reference);
  dispatch1(OpId::fused_linear, {to_dtype(x, DType::Float64), to_dtype(w, DType::Float64)},
            act_attrs(FusedActivation::relu));
  CHECK(last_selected_backend() == Backend::Reference);
  const Tensor cx = in({1, 3, 8, 8}, DType::Float32, 3), cw = in({4, 3, 3, 3}, DType::Float32, 4);
  dispatch1(OpId::fused_conv2d, {cx, cw, Tensor(), in({1, 4, 6, 6}, DType::Float32, 5)},
            conv_attrs({1, 1}, {0, 0}, {1, 1}, 1, FusedActivation::relu));
  CHECK(last_selected_backend() == Backend::OneDNN);
}

TEST_CASE("fused_elementwise equals the composition of the unfused ops", "[ops][fused]") {
  for (DType dt : {DType::Float32, DType::Float64, DType::Float16}) {
    INFO(dtype_name(dt));
    const Tensor a = in({37, 300}, dt, 1), b = in({300}, dt, 2);
    DOPPEL_REQUIRE_CLOSE(dispatch1(OpId::fused_elementwise, {a, b}, {every_opcode_program()}),
                         every_opcode_unfused(a, b), fused_tolerance(dt));
    // Non-contiguous inputs (a transposed view) and broadcasting from both sides.
    const Tensor at = transpose(in({300, 37}, dt, 3), 0, 1), c = in({37, 1}, dt, 4);
    DOPPEL_REQUIRE_CLOSE(dispatch1(OpId::fused_elementwise, {at, b, c}, {fma_relu_program()}), relu(add(mul(at, b), c)),
                         fused_tolerance(dt));
  }
}

TEST_CASE("fused_elementwise: hand-computed values and strided outputs", "[ops][fused]") {
  const Tensor x = tensor(std::vector<float>{-1.f, 0.f, 2.f, 4.f}).reshape({2, 2});
  const Tensor y = tensor(std::vector<float>{10.f, 20.f});
  // (x + y) * 0.5 - 1, then max with x.
  const Attr p =
      program({{Op::add, 2, 0, 1}, {Op::mul_imm, 2, 2, 0, 0.5}, {Op::add_imm, 2, 2, 0, -1.0}, {Op::maximum, 2, 2, 0}});
  CHECK(dispatch1(OpId::fused_elementwise, {x, y}, {p}).to_vector<float>() == std::vector<float>{3.5f, 9.f, 5.f, 11.f});
  // The kernel honours output strides (dispatch_out may hand it a transposed view).
  const Tensor storage = zeros({2, 2});
  const Tensor out = transpose(storage, 0, 1);
  dispatch_out(OpId::fused_elementwise, {x, y}, {p}, {out});
  CHECK(out.contiguous().to_vector<float>() == std::vector<float>{3.5f, 9.f, 5.f, 11.f});
  CHECK(storage.to_vector<float>() == std::vector<float>{3.5f, 5.f, 9.f, 11.f});
}

TEST_CASE("fused_elementwise rejects corrupt programs without crashing", "[ops][fused]") {
  std::mt19937_64 rng(7);
  const Tensor a = in({3, 4}, DType::Float32, 1), b = in({4}, DType::Float32, 2);
  int ran = 0, rejected = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    // 1 to 3 instructions with fields near their valid ranges (so some programs are valid), the
    // immediate any bit pattern, and now and then a truncated tail.
    std::vector<int64_t> words;
    for (uint64_t k = 0, n = 1 + rng() % 3; k < n; ++k) {
      words.push_back(int64_t(rng() % 22) - 1);  // opcode
      for (int r = 0; r < 3; ++r) words.push_back(int64_t(rng() % 6) - 1);
      words.push_back(int64_t(rng()));
    }
    if (rng() % 8 == 0) words.resize(words.size() - 1 - rng() % 4);
    try {
      const Tensor r = dispatch1(OpId::fused_elementwise, {a, b},
                                 FusedElementwiseAttrs{.program = IntList(words.data(), words.size())}.pack());
      CHECK(r.shape() == Shape{3, 4});
      ++ran;
    } catch (const ValueError&) {
      ++rejected;
    }
  }
  CHECK(rejected > 0);
  CHECK(ran > 0);
}

}  // namespace doppel::testing
