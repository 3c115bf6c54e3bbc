// doppel-make-test-model OUT_DIR [SEED] [--layers 4,16,3]: the fixture producer of
// tests/python/test_serve*.py and bench/serve_bench.py. Builds an MLP (Linear layers of the given
// widths with ReLU between them; default 4 -> 16 -> relu -> 3; weights from SEED, default 7),
// compiles it for inference with a dynamic batch dimension, exports it to OUT_DIR/mlp.dpl, and
// writes an input batch (x.npy, 5 rows) with the eager model's outputs for it (expected.npy): the
// oracle the runtime's answers are checked against. This is the one serve/ program that links
// the eager layer (it produces, not runs).
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "doppel/doppel.h"
#include "doppel/graph/compile.h"
#include "doppel/graph/export.h"
#include "doppel/nn/nn.h"
#include "doppel/serve/npy.h"

namespace {

constexpr const char* kUsage = "usage: doppel-make-test-model OUT_DIR [SEED] [--layers 4,16,3]\n";

// "784,512,10" -> {784, 512, 10}: at least an input and an output width.
std::vector<int64_t> parse_layers(const std::string& text) {
  std::vector<int64_t> widths;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    widths.push_back(std::stoll(text.substr(at, comma - at)));
    if (widths.back() < 1 || widths.back() > (1 << 16)) throw std::invalid_argument("layer widths are 1..65536");
    at = comma + 1;
  }
  if (widths.size() < 2) throw std::invalid_argument("--layers needs an input and an output width");
  return widths;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> positional;
  std::string layers = "4,16,3";
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--layers" && i + 1 < argc) {
      layers = argv[++i];
    } else {
      positional.emplace_back(argv[i]);
    }
  }
  if (positional.empty() || positional.size() > 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  try {
    namespace nn = doppel::nn;
    const std::vector<int64_t> widths = parse_layers(layers);
    const std::filesystem::path dir = positional[0];
    std::filesystem::create_directories(dir);
    doppel::manual_seed(positional.size() == 2 ? std::stoull(positional[1]) : 7);
    auto mlp = std::make_shared<nn::Sequential>();
    for (size_t l = 0; l + 1 < widths.size(); ++l) {
      if (l) mlp->push_back(std::make_shared<nn::ReLU>());
      mlp->push_back(std::make_shared<nn::Linear>(widths[l], widths[l + 1]));
    }
    mlp->eval();
    doppel::NoGradGuard no_grad;
    auto fn = doppel::compile([mlp = mlp](const std::vector<doppel::Tensor>& in) { return std::vector{(*mlp)(in[0])}; },
                              {.dynamic = {{0, 0, "batch"}}});
    const doppel::Tensor example = doppel::randn({8, widths[0]});
    doppel::export_model(fn, {example}, (dir / "mlp.dpl").string(), {});
    const doppel::Tensor x = doppel::randn({5, widths[0]});
    doppel::serve::save_npy((dir / "x.npy").string(), x);
    doppel::serve::save_npy((dir / "expected.npy").string(), (*mlp)(x));
    std::printf("wrote %s/{mlp.dpl,x.npy,expected.npy}\n", dir.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "doppel-make-test-model: %s\n", e.what());
    return 1;
  }
}
