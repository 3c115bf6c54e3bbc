// The main job's CNN (examples/fashion_mnist_cnn.h) trained for 20 SGD-momentum steps on cuda:0:
// eager on the device against eager on the CPU (losses each step, every parameter and buffer at
// the end), and a doppel::compile'd step on the device against eager on the device. The inputs
// are fixed synthetic Fashion-MNIST-shaped batches; dropout is in eval mode so that both runs
// draw no random masks (dropout's device kernel is compared in the op specs).
#include <catch2/catch_test_macros.hpp>

#include "doppel/autocast.h"
#include "doppel/graph/compile.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "fashion_mnist_cnn.h"
#include "support/gpu.h"
#include "support/test_util.h"
#include "support/train_step.h"

namespace doppel {
namespace {

using testing::kCuda0;
using testing::make_input;

constexpr int kSteps = 20;
constexpr int64_t kBatch = 32;

std::shared_ptr<nn::Sequential> build_cnn(Device device) {
  manual_seed(31);
  auto model = examples::make_fashion_mnist_cnn();
  model->train();
  (*model)[-2]->eval();  // Dropout
  model->to(device);
  return model;
}

std::unique_ptr<optim::Optimizer> make_sgd(const nn::Module& m) {
  return std::make_unique<optim::SGD>(m.parameters(), optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
}

struct Batch {
  Tensor x, y;
};

Batch batch(int step, Device device) {
  const Tensor x = make_input({kBatch, 1, 28, 28}, DType::Float32, uint64_t(500 + step), 0.0, 1.0);
  std::vector<int64_t> labels;
  for (int64_t k = 0; k < kBatch; ++k) labels.push_back((k * 7 + step) % 10);
  return {x.to(device), tensor(labels, {kBatch}).to(device)};
}

// Same names in the same order; `got` (on any device) within `tol` of `want`.
void require_same_state(const StateDict& got, const StateDict& want, testing::Tolerance tol) {
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    INFO(want[k].first);
    REQUIRE(got[k].first == want[k].first);
    DOPPEL_REQUIRE_CLOSE(got[k].second.to(kCPU), want[k].second.to(kCPU), tol);
  }
}

}  // namespace

TEST_CASE("cuda training: 20 eager CNN steps on cuda:0 follow the CPU", "[gpu][training]") {
  DOPPEL_REQUIRE_GPU();
  auto cpu_model = build_cnn(kCPU), gpu_model = build_cnn(kCuda0);
  for (const Tensor& p : gpu_model->parameters()) REQUIRE(p.device() == kCuda0);
  auto cpu_opt = make_sgd(*cpu_model), gpu_opt = make_sgd(*gpu_model);
  auto cpu_step = testing::cross_entropy_step(*cpu_model, *cpu_opt);
  auto gpu_step = testing::cross_entropy_step(*gpu_model, *gpu_opt);
  // Reductions and convolution algorithms sum in other orders on the device: float32 rounding
  // differences that 20 steps of SGD carry along.
  const testing::Tolerance tol{2e-3, 2e-4};
  for (int s = 0; s < kSteps; ++s) {
    const Batch c = batch(s, kCPU), g = batch(s, kCuda0);
    const Tensor lc = cpu_step({c.x, c.y})[0];
    const Tensor lg = gpu_step({g.x, g.y})[0];
    INFO("step " << s);
    REQUIRE(lg.device() == kCuda0);
    DOPPEL_REQUIRE_CLOSE(lg.to(kCPU), lc, tol);
  }
  require_same_state(gpu_model->state_dict(), cpu_model->state_dict(), tol);
}

TEST_CASE("cuda training: a compiled CNN step on cuda:0 equals eager on cuda:0", "[gpu][training][graph]") {
  DOPPEL_REQUIRE_GPU();
  auto eager_model = build_cnn(kCuda0), graph_model = build_cnn(kCuda0);
  auto eager_opt = make_sgd(*eager_model), graph_opt = make_sgd(*graph_model);
  auto eager_step = testing::cross_entropy_step(*eager_model, *eager_opt);
  CompiledFunction graph_step = compile(testing::cross_entropy_step(*graph_model, *graph_opt));
  const testing::Tolerance tol{1e-4, 1e-5};
  for (int s = 0; s < kSteps; ++s) {
    const Batch b = batch(s, kCuda0);
    const Tensor le = eager_step({b.x, b.y})[0];
    const Tensor lg = graph_step({b.x, b.y})[0];
    INFO("step " << s);
    REQUIRE(lg.device() == kCuda0);
    DOPPEL_REQUIRE_CLOSE(lg.to(kCPU), le.to(kCPU), tol);
  }
  CHECK(graph_step.num_traces() == 1);
  CHECK(graph_step.num_graph_runs() >= kSteps - 2);
  require_same_state(graph_model->state_dict(), eager_model->state_dict(), tol);
}

TEST_CASE("cuda training: autocast float16 with GradScaler on cuda:0 trains like float32",
          "[gpu][training][autocast]") {
  DOPPEL_REQUIRE_GPU();
  auto run = [](bool amp) {
    auto model = build_cnn(kCuda0);
    auto opt = make_sgd(*model);
    optim::GradScaler scaler(optim::GradScalerOptions{.enabled = amp});
    double last = 0;
    for (int s = 0; s < kSteps; ++s) {
      const Batch b = batch(s % 2, kCuda0);
      opt->zero_grad();
      Tensor loss;
      {
        AutocastGuard guard(DeviceType::CUDA, DType::Float16, amp);
        loss = cross_entropy(model->forward(b.x), b.y);
      }
      CHECK(loss.dtype() == DType::Float32);
      scaler.scale(loss).backward();
      scaler.step(*opt);
      scaler.update();
      last = loss.item<double>();
    }
    for (const Tensor& p : model->parameters()) CHECK(p.dtype() == DType::Float32);
    return last;
  };
  const double fp32 = run(false), fp16 = run(true);
  INFO("fp32 loss " << fp32 << ", fp16 autocast loss " << fp16);
  CHECK(std::abs(fp16 - fp32) < 0.05 * std::max(1.0, fp32));
}

}  // namespace doppel
