// doppel-make-test-model OUT_DIR [SEED]: the fixture producer of tests/python/test_serve*.py.
// Builds a small MLP (4 -> 16 -> relu -> 3, weights from SEED, default 7), compiles it for inference with a dynamic
// batch dimension, exports it to OUT_DIR/mlp.dpl, and writes an input batch (x.npy, 5 rows) with the eager model's
// outputs for it (expected.npy): the oracle the runtime's answers are checked against. This is the one serve/ program
// that links the eager layer (it produces, not runs).
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "doppel/doppel.h"
#include "doppel/graph/compile.h"
#include "doppel/graph/export.h"
#include "doppel/nn/nn.h"
#include "doppel/serve/npy.h"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: doppel-make-test-model OUT_DIR [SEED]\n");
    return 2;
  }
  try {
    namespace nn = doppel::nn;
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    doppel::manual_seed(argc == 3 ? std::stoull(argv[2]) : 7);
    auto mlp = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
        std::make_shared<nn::Linear>(4, 16), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(16, 3)});
    mlp->eval();
    doppel::NoGradGuard no_grad;
    auto fn = doppel::compile([mlp = mlp](const std::vector<doppel::Tensor>& in) { return std::vector{(*mlp)(in[0])}; },
                              {.dynamic = {{0, 0, "batch"}}});
    const doppel::Tensor example = doppel::randn({8, 4});
    doppel::export_model(fn, {example}, (dir / "mlp.dpl").string(), {});
    const doppel::Tensor x = doppel::randn({5, 4});
    doppel::serve::save_npy((dir / "x.npy").string(), x);
    doppel::serve::save_npy((dir / "expected.npy").string(), (*mlp)(x));
    std::printf("wrote %s/{mlp.dpl,x.npy,expected.npy}\n", dir.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "doppel-make-test-model: %s\n", e.what());
    return 1;
  }
}
