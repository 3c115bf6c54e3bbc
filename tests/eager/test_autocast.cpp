// Autocast on the CPU in bfloat16: the per-op policy (output dtypes), guards nesting and
// restoring, gradients of an autocast MLP against float32 gradients, and a compiled function
// under autocast against eager under autocast (the casts are traced; the state guards the trace).
#include <catch2/catch_test_macros.hpp>

#include "doppel/autocast.h"
#include "doppel/graph/compile.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;

constexpr DType kF32 = DType::Float32, kBF16 = DType::BFloat16, kF16 = DType::Float16, kF64 = DType::Float64;

std::shared_ptr<nn::Sequential> make_mlp(uint64_t seed) {
  manual_seed(seed);
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Linear>(16, 32), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(32, 4)});
}

Tensor labels() { return tensor(std::vector<int64_t>{0, 1, 2, 3, 3, 2, 1, 0}, {8}); }

}  // namespace

TEST_CASE("autocast: the policy table names each listed op", "[autocast]") {
  CHECK(autocast_policy(OpId::matmul) == AutocastPolicy::Lower);
  CHECK(autocast_policy(OpId::fused_conv2d) == AutocastPolicy::Lower);
  CHECK(autocast_policy(OpId::softmax) == AutocastPolicy::Fp32);
  CHECK(autocast_policy(OpId::cross_entropy) == AutocastPolicy::Fp32);
  CHECK(autocast_policy(OpId::cat) == AutocastPolicy::Promote);
  CHECK(autocast_policy(OpId::relu) == AutocastPolicy::None);
  CHECK(autocast_policy(OpId::cast) == AutocastPolicy::None);
  CHECK(std::string(autocast_policy_name(AutocastPolicy::Fp32)) == "fp32");
}

TEST_CASE("autocast: output dtypes per policy on the CPU in bfloat16", "[autocast]") {
  const Tensor a = make_input({4, 8}, kF32, 1), b = make_input({8, 3}, kF32, 2);
  const Tensor w = make_input({3, 8}, kF32, 3), bias = make_input({3}, kF32, 4);
  const Tensor img = make_input({2, 3, 6, 6}, kF32, 5), k = make_input({4, 3, 3, 3}, kF32, 6);
  const Tensor low = make_input({4, 8}, kBF16, 7);
  AutocastGuard amp(DeviceType::CPU);
  REQUIRE(autocast_enabled(DeviceType::CPU));
  CHECK(autocast_dtype(DeviceType::CPU) == kBF16);
  SECTION("lower: matmul, linear and convolution run in bfloat16 and match the bf16 computation") {
    const Tensor mm = matmul(a, b);
    CHECK(mm.dtype() == kBF16);
    Tensor expected;
    {
      AutocastGuard off(DeviceType::CPU, std::nullopt, false);
      expected = matmul(a.to(kBF16), b.to(kBF16));
    }
    DOPPEL_REQUIRE_CLOSE(mm, expected, (testing::Tolerance{0, 0}));
    CHECK(linear(a, w, bias).dtype() == kBF16);
    CHECK(conv2d(img, k, {}, {1, 1}, {1, 1}).dtype() == kBF16);
    CHECK(matmul(a, low.t()).dtype() == kBF16);  // mixed inputs: both lowered
  }
  SECTION("fp32: softmax, exp, sum, mean, layer_norm and losses upcast bfloat16 inputs") {
    CHECK(softmax(low, 1).dtype() == kF32);
    CHECK(log_softmax(low, 1).dtype() == kF32);
    CHECK(exp(low).dtype() == kF32);
    CHECK(sum(low).dtype() == kF32);
    CHECK(mean(low).dtype() == kF32);
    CHECK(layer_norm(low, {8}).dtype() == kF32);
    CHECK(cross_entropy(low, tensor(std::vector<int64_t>{0, 1, 2, 3}, {4})).dtype() == kF32);
    CHECK(mse_loss(low, a).dtype() == kF32);
    CHECK(softmax(a, 1).dtype() == kF32);  // float32 stays
  }
  SECTION("promote: cat and scatter_add take the widest floating dtype") {
    CHECK(cat({low, a}).dtype() == kF32);
    const Tensor idx = tensor(std::vector<int64_t>{0, 1, 2, 3}, {4, 1});
    CHECK(scatter_add(a, 1, idx, make_input({4, 1}, kBF16, 8)).dtype() == kF32);
  }
  SECTION("none: other ops keep their input dtypes") {
    CHECK(relu(low).dtype() == kBF16);
    CHECK(relu(a).dtype() == kF32);
    CHECK(add(low, low).dtype() == kBF16);
  }
  SECTION("float64, integer tensors and wrapped numbers are never cast") {
    CHECK(matmul(a.to(kF64), b.to(kF64)).dtype() == kF64);
    CHECK(softmax(a.to(kF64), 1).dtype() == kF64);
    CHECK(sum(tensor(std::vector<int64_t>{1, 2, 3}, {3})).dtype() == DType::Int64);
    CHECK(pow(low, 2.0).dtype() == kF32);
  }
}

TEST_CASE("autocast: guards nest, disable, restore, and apply to their device type only", "[autocast]") {
  const Tensor a = make_input({4, 8}, kF32, 1), b = make_input({8, 3}, kF32, 2);
  CHECK(!autocast_enabled(DeviceType::CPU));
  CHECK(matmul(a, b).dtype() == kF32);
  {
    AutocastGuard amp(DeviceType::CPU);
    CHECK(matmul(a, b).dtype() == kBF16);
    {
      AutocastGuard off(DeviceType::CPU, std::nullopt, false);
      CHECK(matmul(a, b).dtype() == kF32);
    }
    {
      AutocastGuard half(DeviceType::CPU, kF16);
      CHECK(matmul(a, b).dtype() == kF16);  // float16 computed by the reference kernel
    }
    CHECK(matmul(a, b).dtype() == kBF16);
  }
  CHECK(!autocast_enabled(DeviceType::CPU));
  CHECK(matmul(a, b).dtype() == kF32);
  {
    AutocastGuard cuda_amp(DeviceType::CUDA);
    CHECK(autocast_dtype(DeviceType::CUDA) == kF16);
    CHECK(matmul(a, b).dtype() == kF32);  // CPU tensors: CPU autocast is off
  }
  const std::string msg =
      testing::error_message<ValueError>([] { AutocastGuard bad(DeviceType::CPU, DType::Float32); });
  CHECK(msg.find("float16 or bfloat16") != std::string::npos);
  CHECK(!autocast_enabled(DeviceType::CPU));
}

TEST_CASE("autocast: gradients of a bf16 MLP match float32 gradients and arrive in float32", "[autocast][autograd]") {
  auto fp32 = make_mlp(3), amp = make_mlp(3);
  const Tensor x = make_input({8, 16}, kF32, 11);
  cross_entropy(fp32->forward(x), labels()).backward();
  Tensor loss;
  {
    AutocastGuard guard(DeviceType::CPU);
    const Tensor logits = amp->forward(x);
    CHECK(logits.dtype() == kBF16);
    loss = cross_entropy(logits, labels());
  }
  CHECK(loss.dtype() == kF32);
  loss.backward();
  const auto pf = fp32->named_parameters(), pa = amp->named_parameters();
  REQUIRE(pf.size() == pa.size());
  for (size_t k = 0; k < pf.size(); ++k) {
    INFO(pf[k].first);
    const Tensor ga = pa[k].second.grad();
    REQUIRE(ga.defined());
    CHECK(ga.dtype() == kF32);
    // bfloat16 keeps 8 significant bits: relative error ~1e-2 per op, a few ops deep.
    DOPPEL_REQUIRE_CLOSE(ga, pf[k].second.grad(), (testing::Tolerance{3e-2, 3e-3}));
  }
}

TEST_CASE("autocast: a compiled function under autocast equals eager under autocast", "[autocast][graph]") {
  auto model = make_mlp(5);
  auto forward = [&](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{cross_entropy(model->forward(in[0]), in[1]), model->forward(in[0])};
  };
  CompiledFunction compiled = compile(forward);
  for (int s = 0; s < 4; ++s) {
    const Tensor x = make_input({8, 16}, kF32, uint64_t(40 + s));
    AutocastGuard amp(DeviceType::CPU);
    const std::vector<Tensor> eager = forward({x, labels()});
    const std::vector<Tensor> graph = compiled({x, labels()});
    INFO("call " << s);
    CHECK(graph[1].dtype() == kBF16);
    CHECK(graph[0].dtype() == kF32);
    DOPPEL_REQUIRE_CLOSE(graph[1], eager[1], (testing::Tolerance{1e-2, 1e-2}));
    DOPPEL_REQUIRE_CLOSE(graph[0], eager[0], (testing::Tolerance{1e-3, 1e-3}));
  }
  REQUIRE(compiled.num_traces() == 1);
  {
    AutocastGuard amp(DeviceType::CPU);
    auto g = compiled.graph_for({make_input({8, 16}, kF32, 40), labels()});
    REQUIRE(g);
    int casts = 0;
    for (const graph::Node& n : g->nodes()) casts += n.op == OpId::cast;
    CHECK(casts >= 4);  // x and both weights and biases lowered (passes may merge the two forwards)
  }
  SECTION("without autocast the trace's guard fails and the function traces again in float32") {
    const Tensor x = make_input({8, 16}, kF32, 50);
    std::vector<Tensor> out;
    for (int s = 0; s < 2; ++s) out = compiled({x, labels()});
    CHECK(out[1].dtype() == kF32);
    DOPPEL_REQUIRE_CLOSE(out[1], forward({x, labels()})[1], (testing::Tolerance{1e-5, 1e-6}));
    CHECK(compiled.num_traces() == 2);
  }
}

TEST_CASE("autocast: a compiled training step under autocast follows eager under autocast", "[autocast][graph]") {
  auto eager_model = make_mlp(9), graph_model = make_mlp(9);
  optim::SGD eager_opt(eager_model->parameters(), optim::SGDOptions(0.1));
  optim::SGD graph_opt(graph_model->parameters(), optim::SGDOptions(0.1));
  auto step = [](nn::Module& m, optim::Optimizer& o) {
    return [&m, &o](const std::vector<Tensor>& in) {
      o.zero_grad();
      Tensor loss;
      {
        AutocastGuard amp(DeviceType::CPU);
        loss = cross_entropy(m.forward(in[0]), in[1]);
      }
      loss.backward();
      o.step();
      return std::vector<Tensor>{loss};
    };
  };
  auto eager_step = step(*eager_model, eager_opt);
  CompiledFunction graph_step = compile(step(*graph_model, graph_opt));
  for (int s = 0; s < 6; ++s) {
    const Tensor x = make_input({8, 16}, kF32, uint64_t(60 + s));
    const Tensor le = eager_step({x, labels()})[0];
    const Tensor lg = graph_step({x, labels()})[0];
    INFO("step " << s);
    DOPPEL_REQUIRE_CLOSE(lg, le, (testing::Tolerance{1e-3, 1e-3}));
  }
  CHECK(graph_step.num_traces() == 1);
  const auto pe = eager_model->named_parameters(), pg = graph_model->named_parameters();
  for (size_t k = 0; k < pe.size(); ++k) {
    INFO(pe[k].first);
    CHECK(pg[k].second.dtype() == kF32);
    DOPPEL_REQUIRE_CLOSE(pg[k].second, pe[k].second, (testing::Tolerance{1e-3, 1e-3}));
  }
}

}  // namespace doppel
