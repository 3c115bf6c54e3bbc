#pragma once
// The benchmark models and optimizers on doppel's side, shared by the eager (doppel_bench.cpp)
// and graph-mode (doppel_graph_bench.cpp) benchmarks so both time exactly the same network.
// The peer builds the same layers in bench/peer/torch_bench.cpp.
#include <memory>
#include <string>

#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"

namespace bench {

// mlp: Flatten, Linear 784-512, ReLU, Linear 512-512, ReLU, Linear 512-10; cnn: the main job's
// model (examples/fashion_mnist.cpp's make_cnn without its BatchNorm layers, as the peer has).
inline std::shared_ptr<doppel::nn::Sequential> make_model(const std::string& kind) {
  namespace nn = doppel::nn;
  if (kind == "mlp") {
    return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 512), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Linear>(512, 512), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(512, 10)});
  }
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 32, .kernel = 3, .padding = 1}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 32, .out = 64, .kernel = 3, .padding = 1}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(64 * 7 * 7, 128), std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.25),
      std::make_shared<nn::Linear>(128, 10)});
}

// sgd: SGD(lr 0.01, momentum 0.9); adam: Adam(lr 1e-3); sgdfused, adamfused: the same with
// fused = true (flat parameter buffers, one update per group). A suffix (the graph benchmarks'
// "_ingraph") does not change the optimizer.
inline std::unique_ptr<doppel::optim::Optimizer> make_optimizer(const std::string& kind,
                                                                std::vector<doppel::Tensor> params) {
  namespace optim = doppel::optim;
  const bool fused = kind.find("fused") != std::string::npos;
  if (kind.rfind("sgd", 0) == 0)
    return std::make_unique<optim::SGD>(std::move(params),
                                        optim::SGDOptions{.lr = 0.01, .momentum = 0.9, .fused = fused});
  return std::make_unique<optim::Adam>(std::move(params), optim::AdamOptions{.lr = 1e-3, .fused = fused});
}

}  // namespace bench
