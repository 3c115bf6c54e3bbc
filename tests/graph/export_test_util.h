#pragma once
// Models and helpers shared by the export tests.
#include <unistd.h>
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "doppel/nn/nn.h"

namespace doppel::testing {

inline std::shared_ptr<nn::Module> export_mlp(uint64_t seed = 11) {
  manual_seed(seed);
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Linear>(8, 16), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(16, 4)});
}

inline std::shared_ptr<nn::Module> export_cnn(uint64_t seed = 12) {
  manual_seed(seed);
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 3, .out = 4, .kernel = 3, .padding = 1}),
      std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(4 * 4 * 4, 4)});
}

// A fresh path under the temp folder, removed when the object goes.
struct TempPath {
  std::filesystem::path path;
  TempPath() {
    static std::atomic<int> n{0};
    path = std::filesystem::temp_directory_path() /
           ("doppel_export_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ".dpl");
  }
  ~TempPath() { std::filesystem::remove(path); }
  std::string str() const { return path.string(); }
};

}  // namespace doppel::testing
