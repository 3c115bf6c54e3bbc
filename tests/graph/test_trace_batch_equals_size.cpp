// A dynamic batch traced at a size that another dimension of the model also has: linear's
// backward reshapes its input to {-1, features}; at batch 16 with 16 hidden features (or batch 4
// with 4 classes) the 16 must stay the features, not become the batch. Training steps traced at
// such a batch equal eager at that batch and at others, with one trace.
#include <catch2/catch_test_macros.hpp>

#include "doppel/autograd.h"
#include "doppel/graph/compile.h"
#include "doppel/nn/nn.h"
#include "doppel/ops/pooling.h"
#include "doppel/optim/optim.h"
#include "support/test_util.h"
#include "support/train_step.h"

namespace doppel {
namespace {

using testing::make_input;
using Tensors = std::vector<Tensor>;

const testing::Tolerance kTol{1e-5, 1e-6};

struct Sizes {
  int64_t hidden, classes, traced_batch;
};

std::shared_ptr<nn::Module> build(const Sizes& s) {
  manual_seed(31);
  return std::make_shared<nn::Sequential>(
      std::initializer_list<nn::ModulePtr>{std::make_shared<nn::Linear>(8, s.hidden), std::make_shared<nn::ReLU>(),
                                           std::make_shared<nn::Linear>(s.hidden, s.classes)});
}

Tensor labels(int64_t batch, int64_t classes) {
  std::vector<int64_t> l;
  for (int64_t k = 0; k < batch; ++k) l.push_back((k * 7 + 3) % classes);
  return tensor(l, {batch});
}

TEST_CASE("compile: a dynamic batch traced at a size equal to a layer's size trains like eager", "[graph][trace]") {
  const Sizes cases[] = {{16, 4, 16}, {16, 4, 4}, {4, 4, 4}, {8, 8, 8}};
  for (const Sizes& s : cases) {
    INFO("hidden " << s.hidden << ", classes " << s.classes << ", traced at batch " << s.traced_batch);
    auto eager_model = build(s), graph_model = build(s);
    optim::SGD eager_opt(eager_model->parameters(), {.lr = 0.1, .momentum = 0.9});
    optim::SGD graph_opt(graph_model->parameters(), {.lr = 0.1, .momentum = 0.9});
    auto eager_step = testing::cross_entropy_step(*eager_model, eager_opt);
    CompiledFunction graph_step =
        compile(testing::cross_entropy_step(*graph_model, graph_opt), {.dynamic = {{0, 0, "batch"}, {1, 0, "batch"}}});
    const int64_t b = s.traced_batch;
    const int64_t batches[] = {b, b, b, 7, b + 3, 2 * b + 1, b};
    for (size_t k = 0; k < std::size(batches); ++k) {
      INFO("call " << k << ", batch " << batches[k]);
      const Tensors in{make_input({batches[k], 8}, DType::Float32, 600 + k), labels(batches[k], s.classes)};
      DOPPEL_REQUIRE_CLOSE(graph_step(in)[0], eager_step(in)[0], kTol);
    }
    CHECK(graph_step.num_traces() == 1);
    const auto g = graph_model->named_parameters(), w = eager_model->named_parameters();
    for (size_t k = 0; k < w.size(); ++k) {
      INFO(w[k].first);
      DOPPEL_REQUIRE_CLOSE(g[k].second, w[k].second, kTol);
    }
  }
}

// A window's geometry equal to the traced batch is not the batch: a 7x7 convolution padded by 3
// and a 3x3 pool traced at batch 3 once read as padding = kernel = batch and gave wrong answers
// (no error) at every other batch; likewise stride 2 at batch 2 and 1x1 kernels at batch 1.
TEST_CASE("compile: kernel, stride and padding equal to the traced batch stay numbers", "[graph][trace]") {
  for (const int64_t b : {3, 2, 1}) {
    INFO("traced at batch " << b);
    manual_seed(5);
    nn::Conv2d stem(3, 8, 7, 2, 3), head(8, 4, 1, 1, 0);
    auto forward = [&](const Tensors& in) {
      NoGradGuard no_grad;
      return Tensors{head.forward(max_pool2d(relu(stem.forward(in[0])), {3, 3}, {2, 2}, {1, 1}))};
    };
    CompiledFunction compiled = compile(forward, {.dynamic = {{0, 0, "batch"}}});
    const int64_t batches[] = {b, b, b, 2 * b + 1, 6, 1, b};
    for (size_t k = 0; k < std::size(batches); ++k) {
      INFO("call " << k << ", batch " << batches[k]);
      const Tensors in{make_input({batches[k], 3, 29, 27}, DType::Float32, 700 + k)};
      DOPPEL_REQUIRE_CLOSE(compiled(in)[0], forward(in)[0], kTol);
    }
    // A dynamic dimension first seen at size 1 stays 1 in that graph (it may broadcast), and the
    // first other size traces once more.
    CHECK(compiled.num_traces() == (b == 1 ? 2 : 1));
  }
}

}  // namespace
}  // namespace doppel
