// Gradient accumulation through doppel::compile: steps that do not zero the gradients add the
// backward pass into the existing .grad(), within one call (two backward passes) and across
// calls (the optimizer steps and zeroes outside the compiled function, every second call).
// After every call, parameters and gradients equal eager's.
#include <catch2/catch_test_macros.hpp>

#include "doppel/graph/compile.h"
#include "doppel/nn/nn.h"
#include "doppel/ops/loss.h"
#include "doppel/optim/optim.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;

constexpr int kCalls = 6;
const testing::Tolerance kTol{1e-6, 1e-7};

Tensor labels(int64_t batch, int64_t shift) {
  std::vector<int64_t> l;
  for (int64_t k = 0; k < batch; ++k) l.push_back((k + shift) % 3);
  return tensor(l, {batch});
}

void backward_on(nn::Module& model, const Tensor& x, const Tensor& y) { cross_entropy(model.forward(x), y).backward(); }

void require_same_params_and_grads(nn::Module& got, nn::Module& want) {
  const auto g = got.named_parameters(), w = want.named_parameters();
  REQUIRE(g.size() == w.size());
  for (size_t k = 0; k < w.size(); ++k) {
    INFO("parameter " << w[k].first);
    DOPPEL_REQUIRE_CLOSE(g[k].second, w[k].second, kTol);
    REQUIRE(g[k].second.grad().defined() == w[k].second.grad().defined());
    if (w[k].second.grad().defined()) DOPPEL_REQUIRE_CLOSE(g[k].second.grad(), w[k].second.grad(), kTol);
  }
}

// Two models built alike, each with its SGD: one runs a step eagerly, the other through compile().
struct Pair {
  static std::shared_ptr<nn::Module> mlp() {
    manual_seed(21);
    return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
        std::make_shared<nn::Linear>(6, 10), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(10, 3)});
  }
  std::shared_ptr<nn::Module> eager_model = mlp(), graph_model = mlp();
  optim::SGD eager_opt{eager_model->parameters(), {.lr = 0.1}};
  optim::SGD graph_opt{graph_model->parameters(), {.lr = 0.1}};
};

TEST_CASE("compile: two backward passes and an SGD step per call accumulate like eager", "[graph][compile]") {
  // Without zero_grad the gradients grow over the calls, each call adding two passes; with
  // zero_grad(set_to_none) first, the second pass adds into the first one's gradient.
  for (const bool zero_first : {false, true}) {
    INFO("zero_grad first: " << zero_first);
    Pair p;
    auto make_step = [zero_first](nn::Module& m, optim::Optimizer& opt) {
      return [&m, &opt, zero_first](const Tensors& in) {
        if (zero_first) opt.zero_grad();
        backward_on(m, in[0], in[1]);
        backward_on(m, in[2], in[3]);
        opt.step();
        return Tensors{};
      };
    };
    auto eager_step = make_step(*p.eager_model, p.eager_opt);
    CompiledFunction graph_step = compile(make_step(*p.graph_model, p.graph_opt));
    for (int call = 0; call < kCalls; ++call) {
      INFO("call " << call);
      const Tensors in{testing::make_input({4, 6}, DType::Float32, uint64_t(300 + call)), labels(4, call),
                       testing::make_input({4, 6}, DType::Float32, uint64_t(400 + call)), labels(4, call + 1)};
      eager_step(in);
      graph_step(in);
      require_same_params_and_grads(*p.graph_model, *p.eager_model);
    }
    CHECK(graph_step.num_graph_runs() == kCalls - 2);
  }
}

TEST_CASE("compile: a backward-only step accumulates across calls like eager, zeroed outside", "[graph][compile]") {
  for (const bool set_to_none : {true, false}) {
    INFO("zero_grad(set_to_none = " << set_to_none << ")");
    Pair p;
    auto make_step = [](nn::Module& m) {
      return [&m](const Tensors& in) {
        backward_on(m, in[0], in[1]);
        return Tensors{};
      };
    };
    auto eager_step = make_step(*p.eager_model);
    CompiledFunction graph_step = compile(make_step(*p.graph_model));
    for (int call = 0; call < kCalls; ++call) {
      INFO("call " << call);
      const Tensors in{testing::make_input({5, 6}, DType::Float32, uint64_t(500 + call)), labels(5, call)};
      eager_step(in);
      graph_step(in);
      require_same_params_and_grads(*p.graph_model, *p.eager_model);
      if (call % 2 == 1) {  // one optimizer step per two calls
        p.eager_opt.step();
        p.eager_opt.zero_grad(set_to_none);
        p.graph_opt.step();
        p.graph_opt.zero_grad(set_to_none);
        require_same_params_and_grads(*p.graph_model, *p.eager_model);
      }
    }
    // Each call served by a graph once traced: at most one graph per state of .grad at the call's start.
    CHECK(graph_step.num_traces() <= 2);
  }
}

}  // namespace
}  // namespace doppel
