#pragma once
// The main job's CNN (examples/fashion_mnist.cpp), also exported by the ONNX fixtures
// (tools/doppel_onnx_fixtures.cpp) so the ONNX tests check the model that ships.
#include <memory>

#include "doppel/doppel.h"
#include "doppel/nn/nn.h"

namespace doppel::examples {

// conv(1→32) bn relu pool, conv(32→64) bn relu pool, fc(3136→128) relu dropout, fc(128→10).
inline std::shared_ptr<nn::Sequential> make_fashion_mnist_cnn() {
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 32, .kernel = 3, .padding = 1, .bias = false}),
      std::make_shared<nn::BatchNorm2d>(32), std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 32, .out = 64, .kernel = 3, .padding = 1, .bias = false}),
      std::make_shared<nn::BatchNorm2d>(64), std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(64 * 7 * 7, 128), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Dropout>(0.25), std::make_shared<nn::Linear>(128, 10)});
}

// How many rows of `logits` pick their `target` class (an int64 scalar).
inline Tensor count_correct(const Tensor& logits, const Tensor& target) { return sum(eq(argmax(logits, 1), target)); }

}  // namespace doppel::examples
