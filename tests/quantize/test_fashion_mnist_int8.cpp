// The main job's CNN (examples/fashion_mnist_cnn.h) trained briefly on Fashion-MNIST, calibrated
// on a few training batches and converted to int8: its accuracy on the full 10k test set stays
// within 0.5 points of float32's, the int8 model file is at most 0.3x the float32 one, and the
// exported int8 file gives the executor's predictions in runtime::Model.
#include <catch2/catch_test_macros.hpp>
#include <cstdio>
#include <filesystem>

#include "doppel/data/dataloader.h"
#include "doppel/data/fashion_mnist.h"
#include "doppel/graph/executor.h"
#include "doppel/graph/export.h"
#include "doppel/optim/adam.h"
#include "doppel/quantize/prepare.h"
#include "doppel/runtime/model.h"
#include "fashion_mnist_cnn.h"
#include "graph/export_test_util.h"
#include "support/train_step.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;

TEST_CASE("quantize: the main job's CNN in int8 keeps its Fashion-MNIST accuracy", "[quantize][fashion_mnist]") {
  manual_seed(0);
  auto train_set = std::make_shared<data::FashionMNIST>(std::string(data::kFashionMNISTRoot), true);
  auto test_set = std::make_shared<data::FashionMNIST>(std::string(data::kFashionMNISTRoot), false);
  const data::Normalize normalize({0.2860}, {0.3530});
  data::DataLoader train_loader(train_set, {.batch_size = 64, .shuffle = true, .seed = 0, .transform = normalize});
  data::DataLoader test_loader(test_set, {.batch_size = 1000, .transform = normalize});

  // 450 steps of 64 images (~29k, half an epoch), Adam, the training step compiled: > 85% float
  // accuracy.
  auto model = examples::make_fashion_mnist_cnn();
  optim::Adam opt(model->parameters(), {.lr = 2e-3});
  CompiledFunction step = compile(testing::cross_entropy_step(*model, opt));
  int steps = 0;
  std::vector<Tensor> calibration;
  for (const data::Batch& b : train_loader) {
    if (calibration.size() < 8) calibration.push_back(b.data);
    step({b.data, b.target});
    if (++steps == 450) break;
  }

  model->eval();
  CompiledFunction forward = compile(
      [&](const Tensors& in) {
        NoGradGuard no_grad;
        return Tensors{model->forward(in[0])};
      },
      {.dynamic = {{0, 0, "batch"}}, .passes = {.inference = true}});
  auto prepared = quantization::prepare(*model, {calibration[0]});
  for (const Tensor& x : calibration) prepared.calibrate({x});
  const auto int8_graph = prepared.convert();
  graph::Executor int8(int8_graph);

  testing::TempPath float_file, int8_file;
  export_model(forward, {calibration[0]}, float_file.path.string());
  export_graph(*int8_graph, int8_file.path.string());
  const auto loaded = runtime::Model::load(int8_file.path.string());

  int64_t float_correct = 0, int8_correct = 0, total = 0, runtime_differs = 0;
  for (const data::Batch& b : test_loader) {
    float_correct += examples::count_correct(forward({b.data})[0], b.target).item<int64_t>();
    const Tensor logits = int8.run(Tensors{b.data})[0];
    int8_correct += examples::count_correct(logits, b.target).item<int64_t>();
    runtime_differs += sum(ne(argmax(loaded.run({b.data})[0], 1), argmax(logits, 1))).item<int64_t>();
    total += b.target.numel();
  }
  const double float_acc = double(float_correct) / double(total), int8_acc = double(int8_correct) / double(total);
  const auto float_bytes = std::filesystem::file_size(float_file.path),
             int8_bytes = std::filesystem::file_size(int8_file.path);
  std::printf("fashion-mnist int8: float32 %.4f, int8 %.4f on %lld test images; files %llu -> %llu bytes (%.3fx)\n",
              float_acc, int8_acc, (long long)total, (unsigned long long)float_bytes, (unsigned long long)int8_bytes,
              double(int8_bytes) / double(float_bytes));
  CHECK(total == 10000);
  CHECK(float_acc >= 0.85);
  CHECK(std::abs(int8_acc - float_acc) <= 0.005);
  CHECK(double(int8_bytes) <= 0.3 * double(float_bytes));
  CHECK(runtime_differs == 0);
}

}  // namespace
}  // namespace doppel
