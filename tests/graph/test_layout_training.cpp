// layout_propagation on training graphs: a compiled training step keeps its activations, the
// saved ones and their gradients in the channel-blocked layout (blocked_conv2d,
// blocked_max_pool2d and their backward ops, relu_backward fused into the pool's backward), with
// conversions only at the graph's plain boundaries; and the steps equal eager's: the benchmark
// CNN, a residual (ResNet-style) block, channel counts 1 to 64, odd spatial sizes, stride 2 and a
// grouped convolution (which stays plain between blocked ones). No oneDNN reference primitive
// runs in any of them (doppel/kernels/onednn_audit.h).
#include <catch2/catch_test_macros.hpp>
#include <functional>
#include <string>

#include "audit_test_util.h"
#include "doppel/graph/compile.h"
#include "doppel/kernels/onednn_audit.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "doppel_models.h"
#include "graph/pass_test_util.h"
#include "support/train_step.h"

namespace doppel {
namespace {

using testing::count_op;
using testing::make_input;
using Tensors = std::vector<Tensor>;
const testing::Tolerance kTol{1e-4, 1e-5};

using Build = std::function<std::shared_ptr<nn::Module>()>;

// `steps` SGD-momentum steps of cross entropy eagerly and compiled (default passes: the layout
// pass included) on two identical models; losses at every step and all parameters at the end
// must agree, and no reference primitive may run in the replays. Returns the compiled step's
// graph (after the passes).
// With `dynamic_batch` the batch is symbolic in the graph and changes from step to step.
std::shared_ptr<const graph::Graph> check_steps(const Build& build, IntList input_shape, int64_t classes, int steps,
                                                bool dynamic_batch = false) {
  auto eager_model = build(), graph_model = build();
  eager_model->train();
  graph_model->train();
  optim::SGD eager_opt(eager_model->parameters(), {.lr = 0.05, .momentum = 0.9});
  optim::SGD graph_opt(graph_model->parameters(), {.lr = 0.05, .momentum = 0.9});
  auto eager_step = testing::cross_entropy_step(*eager_model, eager_opt);
  graph::PassOptions passes;
  passes.verify = true;  // the IR verifier after every pass
  CompileOptions options{.passes = passes};
  if (dynamic_batch) options.dynamic = {{0, 0, "batch"}, {1, 0, "batch"}};
  CompiledFunction graph_step = compile(testing::cross_entropy_step(*graph_model, graph_opt), options);
  Tensors in;
  for (int s = 0; s < steps; ++s) {
    INFO("step " << s);
    std::vector<int64_t> shape(input_shape.begin(), input_shape.end());
    if (dynamic_batch) shape[0] += s % 3;
    std::vector<int64_t> labels;
    for (int64_t k = 0; k < shape[0]; ++k) labels.push_back((k * 7 + 3) % classes);
    in = {make_input(shape, DType::Float32, uint64_t(500 + s)), tensor(labels, {shape[0]})};
    manual_seed(uint64_t(40 + s));  // the same dropout masks on both sides
    const Tensor le = eager_step(in)[0];
    manual_seed(uint64_t(40 + s));
    reset_onednn_reference_primitives();
    DOPPEL_REQUIRE_CLOSE(graph_step(in)[0], le, kTol);
    testing::require_no_reference_primitives("compiled training step");
  }
  REQUIRE(graph_step.num_graph_runs() == steps - 2);
  const auto want = eager_model->parameters(), got = graph_model->parameters();
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    INFO("parameter " << k);
    DOPPEL_REQUIRE_CLOSE(got[k], want[k], kTol);
  }
  return graph_step.graph_for(in);
}

TEST_CASE("layout_propagation, training: the benchmark CNN's step is blocked end to end", "[graph][layout_training]") {
  const Build build = [] {
    manual_seed(3);
    return std::static_pointer_cast<nn::Module>(bench::make_model("cnn"));
  };
  const auto g = check_steps(build, {6, 1, 28, 28}, 10, 8);
  INFO(graph::to_text(*g));
  CHECK(count_op(*g, OpId::blocked_conv2d) == 2);
  CHECK(count_op(*g, OpId::blocked_conv2d_backward) == 2);
  // Both 2x2 pools' inputs are read by nothing but the pool and its backward: the pools record
  // their winners, which the backward reads instead, so the convolutions' outputs die at the pools.
  CHECK(count_op(*g, OpId::blocked_max_pool2d_winners) == 2);
  CHECK(count_op(*g, OpId::blocked_max_pool2d) == 0);
  CHECK(count_op(*g, OpId::blocked_max_pool2d_backward_winners) == 2);
  // The convolutions' relu_backward is fused into the pools' backward (the one left is the
  // linear layer's); no plain conv/pool op is left.
  CHECK(count_op(*g, OpId::relu_backward) == 1);
  for (OpId op : {OpId::convolution_backward, OpId::max_pool2d_backward, OpId::blocked_max_pool2d_backward,
                  OpId::max_pool2d, OpId::fused_conv2d, OpId::convolution})
    CHECK(count_op(*g, op) == 0);
  for (const graph::Node& n : g->nodes())
    if (n.op == OpId::blocked_max_pool2d_backward_winners) CHECK(BlockedMaxPool2dBackwardAttrs::of(n.attrs).relu);
  // The two conversions of the boundary with the linear layers: the pooled activations out
  // (before the flatten), their gradient back in. The first convolution reads the 1-channel
  // input plain, and its backward computes no grad_input.
  CHECK(count_op(*g, OpId::from_blocked) == 1);
  CHECK(count_op(*g, OpId::to_blocked) == 1);
}

// conv(cin -> c1, 3x3 pad 1) relu maxpool2 conv(c1 -> c2, 3x3 stride 2 pad 1) relu, flatten, linear.
Build chain(int64_t cin, int64_t c1, int64_t c2, int64_t h, int64_t w) {
  return [=] {
    manual_seed(uint64_t(cin * 100 + c1));
    const int64_t ho = ((h / 2) - 1) / 2 + 1, wo = ((w / 2) - 1) / 2 + 1;
    return std::static_pointer_cast<nn::Module>(std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
        std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = cin, .out = c1, .kernel = 3, .padding = 1}),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
        std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = c1, .out = c2, .kernel = 3, .stride = 2, .padding = 1}),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(c2 * ho * wo, 5)}));
  };
}

TEST_CASE("layout_propagation, training: a dynamic batch stays symbolic through the blocked ops",
          "[graph][layout_training]") {
  const auto g = check_steps(chain(3, 16, 24, 13, 13), {4, 3, 13, 13}, 5, 9, /*dynamic_batch=*/true);
  INFO(graph::to_text(*g));
  CHECK(count_op(*g, OpId::blocked_conv2d_backward) == 2);
  CHECK(count_op(*g, OpId::blocked_max_pool2d_backward_winners) == 1);
}

TEST_CASE("layout_propagation, training: channel counts 1 to 64, odd sizes, stride 2 equal eager",
          "[graph][layout_training]") {
  struct Case {
    int64_t cin, c1, c2, h, w;
  };
  for (const Case c : {Case{1, 8, 16, 9, 11}, Case{3, 16, 24, 13, 13}, Case{8, 24, 64, 10, 7}, Case{16, 64, 8, 8, 9},
                       Case{24, 3, 16, 12, 12}, Case{64, 1, 3, 7, 10}}) {
    INFO("channels " << c.cin << " -> " << c.c1 << " -> " << c.c2 << ", " << c.h << "x" << c.w);
    const auto g = check_steps(chain(c.cin, c.c1, c.c2, c.h, c.w), {4, c.cin, c.h, c.w}, 5, 6);
    INFO(graph::to_text(*g));
    // Every blocked convolution has a blocked backward (a second convolution with fewer input
    // channels than the block and no blocked reader stays plain, forward and backward).
    CHECK(count_op(*g, OpId::blocked_conv2d_backward) == count_op(*g, OpId::blocked_conv2d));
    CHECK(count_op(*g, OpId::blocked_conv2d_backward) >= 1);
    CHECK(count_op(*g, OpId::convolution_backward) ==
          count_op(*g, OpId::fused_conv2d) + count_op(*g, OpId::convolution));
  }
}

// A residual block: stem conv relu, then relu(conv(relu(conv(h))) + h), a grouped convolution
// (groups 2: no blocked op, it stays plain between blocked ones), pool, linear.
class ResidualNet : public nn::Module {
 public:
  ResidualNet() {
    stem = register_module("stem", std::make_shared<nn::Conv2d>(3, 16, 3, 1, 1));
    a = register_module("a", std::make_shared<nn::Conv2d>(16, 16, 3, 1, 1));
    b = register_module("b", std::make_shared<nn::Conv2d>(16, 16, 3, 1, 1));
    grouped = register_module(
        "grouped", std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 16, .out = 24, .kernel = 3, .groups = 2}));
    head = register_module("head", std::make_shared<nn::Linear>(24 * 2 * 3, 4));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor h = relu(stem->forward(x));
    const Tensor r = relu(b->forward(relu(a->forward(h))) + h);
    return head->forward(flatten(max_pool2d(relu(grouped->forward(r)), {2, 2}), 1));
  }
  std::shared_ptr<nn::Conv2d> stem, a, b, grouped;
  std::shared_ptr<nn::Linear> head;
};

TEST_CASE("layout_propagation, training: a residual block and a grouped convolution equal eager",
          "[graph][layout_training]") {
  const Build build = [] {
    manual_seed(9);
    return std::static_pointer_cast<nn::Module>(std::make_shared<ResidualNet>());
  };
  const auto g = check_steps(build, {3, 3, 7, 9}, 4, 12);
  INFO(graph::to_text(*g));
  // stem, a and b with their backward ops blocked; the shortcut's gradient is summed blocked.
  CHECK(count_op(*g, OpId::blocked_conv2d) == 3);
  CHECK(count_op(*g, OpId::blocked_conv2d_backward) == 3);
  CHECK(count_op(*g, OpId::convolution_backward) == 1);  // the grouped one
}

}  // namespace
}  // namespace doppel
