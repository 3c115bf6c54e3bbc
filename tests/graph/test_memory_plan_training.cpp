// Training steps under the memory plan: the benchmark models' plans never give two live values a
// common byte; writing over dying inputs and into state (in_place.h) and computing a weight
// gradient in row blocks each updated at once (row_blocks.h) change no bit of 10 steps against
// the same graph planned out of place and whole (MLP, CNN, a residual block; SGD with momentum,
// Adam, AdamW), and the blocked step equals eager's;
// the kernels' temporaries get arena bytes after the first run (no scratch growth); a 2x2
// max-pool backward takes its input's buffer; and .grad() after a compiled step is what the
// documented GradsMode says.
#include <catch2/catch_test_macros.hpp>

#include <set>
#include <string>

#include "doppel/doppel.h"
#include "doppel/graph/compile.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/kernels/implementation_report.h"
#include "doppel/kernels/matmul_row_blocks.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "support/implementation_names.h"
#include "support/test_util.h"
#include "support/train_step.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;
using ModelPtr = std::shared_ptr<nn::Module>;
using MakeOpt = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

// Three linear layers; the first weight's gradient [width, 768] (288 KiB at width 96) is computed
// in row blocks.
ModelPtr mlp_of(int64_t width) {
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(768, width), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(width, 96), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(96, 10)});
}
ModelPtr mlp() { return mlp_of(96); }

// Two blocked convolutions with 2x2 pools at 16x16, flattened to 512 features, then `head`.
ModelPtr convs_then(std::initializer_list<nn::ModulePtr> head) {
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 16, .kernel = 3, .padding = 1}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 16, .out = 32, .kernel = 3, .padding = 1}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>()});
  for (const nn::ModulePtr& m : head) model->push_back(m);
  return model;
}

// The benchmark CNN's shape at 16x16 (blocked convolutions, 2x2 pools, dropout).
ModelPtr cnn() {
  return convs_then({std::make_shared<nn::Linear>(32 * 4 * 4, 24), std::make_shared<nn::ReLU>(),
                     std::make_shared<nn::Dropout>(0.25), std::make_shared<nn::Linear>(24, 10)});
}

// relu(bn(conv(relu(bn(conv(h))))) + h) after a stem convolution, then pool and linear.
class ResidualBlock : public nn::Module {
 public:
  ResidualBlock() {
    stem = register_module("stem", std::make_shared<nn::Conv2d>(1, 16, 3, 1, 1));
    c1 = register_module("c1", std::make_shared<nn::Conv2d>(16, 16, 3, 1, 1));
    b1 = register_module("b1", std::make_shared<nn::BatchNorm2d>(16));
    c2 = register_module("c2", std::make_shared<nn::Conv2d>(16, 16, 3, 1, 1));
    b2 = register_module("b2", std::make_shared<nn::BatchNorm2d>(16));
    head = register_module("head", std::make_shared<nn::Linear>(16 * 4 * 4, 10));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor h = relu(stem->forward(x));
    const Tensor r = relu(b2->forward(c2->forward(relu(b1->forward(c1->forward(h))))) + h);
    return head->forward(flatten(max_pool2d(max_pool2d(r, {2, 2}), {2, 2}), 1));
  }
  std::shared_ptr<nn::Conv2d> stem, c1, c2;
  std::shared_ptr<nn::BatchNorm2d> b1, b2;
  std::shared_ptr<nn::Linear> head;
};

ModelPtr residual() { return std::make_shared<ResidualBlock>(); }

// The CNN's first layer, its activation also read by a second head outside the gradient (its
// mean, detached, added to the logits): the pool's backward then reads the activation, which the
// forward pass reads after the pool anyway (no winners), and is its last reader.
class SharedActivation : public nn::Module {
 public:
  SharedActivation() {
    conv = register_module("conv", std::make_shared<nn::Conv2d>(1, 16, 3, 1, 1));
    head = register_module("head", std::make_shared<nn::Linear>(16 * 8 * 8, 10));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor h = relu(conv->forward(x));
    const Tensor logits = head->forward(flatten(max_pool2d(h, {2, 2}), 1));
    return logits + unsqueeze(mean(h.detach(), {1, 2, 3}), 1);
  }
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::Linear> head;
};

ModelPtr shared_activation() { return std::make_shared<SharedActivation>(); }

MakeOpt sgd_momentum = [](std::vector<Tensor> p) {
  return std::make_unique<optim::SGD>(std::move(p), optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
};
MakeOpt adam = [](std::vector<Tensor> p) {
  return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 1e-2});
};
MakeOpt adamw = [](std::vector<Tensor> p) {
  return std::make_unique<optim::AdamW>(std::move(p), optim::AdamWOptions(1e-2));
};

Tensors batch(const std::vector<int64_t>& image) {
  std::vector<int64_t> labels;
  for (int64_t k = 0; k < image[0]; ++k) labels.push_back(k % 10);
  return {testing::make_input(image, DType::Float32, 11), tensor(labels, {image[0]})};
}

struct Trained {
  Tensors params;
  graph::MemoryReport report;
  size_t calls = 0;        // kernel calls per run
  std::string primitives;  // the oneDNN implementations one run executed (" + "-separated)
  std::shared_ptr<const graph::Graph> graph;
};

// 10 steps after the warm-up and the trace, through an executor of the traced graph with these
// options, drawing dropout's randomness as the compiled step would.
Trained train(ModelPtr (*make)(), const MakeOpt& make_opt, const Tensors& in, GradsMode mode,
              graph::ExecutorOptions options) {
  manual_seed(3);
  ModelPtr model = make();
  model->train();
  std::unique_ptr<optim::Optimizer> opt = make_opt(model->parameters());
  CompiledFunction step = compile(testing::cross_entropy_step(*model, *opt), {.grads = mode});
  manual_seed(5);
  step(in);
  step(in);
  Trained t;
  t.graph = step.graph_for(in);
  REQUIRE(t.graph != nullptr);
  graph::Executor ex(t.graph, options);
  ex.set_rng_source([](int32_t, uint64_t blocks) { return default_generator().reserve(blocks); });
  for (int k = 0; k < 9; ++k) ex.run(in);
  implementation_sink() = &t.primitives;
  ex.run(in);
  implementation_sink() = nullptr;
  t.report = ex.memory_report(in);
  t.calls = ex.plan_info(in).steps;
  for (const Tensor& p : model->parameters()) t.params.push_back(p.detach().clone());
  return t;
}

// No two buffers alive at one step share a byte; every buffer lies inside the arena.
void check_disjoint(const graph::MemoryReport& r) {
  for (size_t a = 0; a < r.buffers.size(); ++a) {
    const auto& x = r.buffers[a];
    CHECK(x.offset + x.bytes <= r.arena_bytes);
    for (size_t b = a + 1; b < r.buffers.size(); ++b) {
      const auto& y = r.buffers[b];
      if (x.first <= y.last && y.first <= x.last && x.offset < y.offset + y.bytes && y.offset < x.offset + x.bytes)
        FAIL("buffers of nodes " << x.node << " and " << y.node << " overlap");
    }
  }
}

TEST_CASE("memory plan, training: writing in place changes no bit of 10 steps against the out-of-place plan",
          "[graph][memory_plan]") {
  struct Case {
    const char* name;
    ModelPtr (*make)();
    std::vector<int64_t> image;
  };
  const Case models[] = {{"mlp", mlp, {8, 768}}, {"cnn", cnn, {4, 1, 16, 16}}, {"residual", residual, {3, 1, 16, 16}}};
  const std::pair<const char*, MakeOpt> optimizers[] = {
      {"sgd momentum", sgd_momentum}, {"adam", adam}, {"adamw", adamw}};
  for (const Case& m : models)
    for (const auto& [opt_name, make_opt] : optimizers)
      for (const GradsMode mode : {GradsMode::Persistent, GradsMode::InGraph}) {
        INFO(m.name << ", " << opt_name << ", grads " << (mode == GradsMode::InGraph ? "in graph" : "persistent"));
        const Tensors in = batch(m.image);
        const Trained a = train(m.make, make_opt, in, mode, {.in_place = true}),
                      b = train(m.make, make_opt, in, mode, {.in_place = false});
        INFO(a.report.str(*a.graph));
        check_disjoint(a.report);
        check_disjoint(b.report);
        // The in-place plan shares buffers the other keeps apart; the first run gave the kernels'
        // temporaries arena bytes (no context's scratch grew since); with the gradients in the
        // graph, the MLP's first weight gradient is made in blocks of rows (more kernel calls) where
        // the kernels give the blocks the whole product's bits (matmul_row_blocks.h).
        CHECK(a.report.buffers.size() < b.report.buffers.size());
        CHECK(a.report.scratch_bytes == 0);
        CHECK(b.calls == b.report.steps);
        if (m.make == mlp)
          CHECK((a.calls > a.report.steps) ==
                (mode == GradsMode::InGraph &&
                 matmul_row_blocks(DType::Float32, 96, 8, 768, 24, true) != RowBlockRead::None));
        REQUIRE(a.params.size() == b.params.size());
        for (size_t k = 0; k < a.params.size(); ++k) {
          INFO("parameter " << k);
          CHECK(a.params[k].to_vector<float>() == b.params[k].to_vector<float>());
        }
      }
}

// The oneDNN implementations named in a report, once each.
std::set<std::string> implementations(const std::string& report) {
  const std::vector<std::string> names = testing::implementation_names(report);
  return {names.begin(), names.end()};
}

// The CNN with a wide linear layer and no dropout: its weight gradient [160, 512] (320 KiB) reads
// the flattened activation converted back from the blocked layout.
ModelPtr conv_wide() {
  return convs_then({std::make_shared<nn::Linear>(32 * 4 * 4, 160), std::make_shared<nn::ReLU>(),
                     std::make_shared<nn::Linear>(160, 10)});
}

TEST_CASE("memory plan, training: a weight gradient in row blocks, each updated at once", "[graph][memory_plan]") {
  // dW = dY^T [m, batch] @ x [batch, n] in blocks of equal rows where 4 to 8 blocks divide m
  // (one block shape), else 4 with a shorter last one; a block buffer holds the block [rows, n],
  // and the dense copy of the block's rows of the transposed dY [rows, batch] where oneDNN's
  // brgemm matmul computes them (AVX-512); doppel's own loop (AVX2) reads them in place. Where
  // oneDNN's x64 gemm runs the whole product the gradient stays whole (matmul_row_blocks.h).
  // Either way: eager's bits.
  struct Case {
    ModelPtr (*make)();
    std::vector<int64_t> image;
    int64_t m, n, blocks, rows;
  };
  const Case cases[] = {{mlp, {8, 768}, 96, 768, 4, 24},
                        {+[] { return mlp_of(98); }, {8, 768}, 98, 768, 7, 14},
                        {+[] { return mlp_of(101); }, {8, 768}, 101, 768, 4, 26},
                        {conv_wide, {4, 1, 16, 16}, 160, 512, 4, 40}};
  for (const Case& m : cases)
    for (const auto& [opt_name, make_opt] : {std::pair{"sgd momentum", sgd_momentum}, std::pair{"adam", adam}}) {
      INFO(opt_name << ", gradient [" << m.m << ", " << m.n << "]");
      const Tensors in = batch(m.image);
      const Trained a = train(m.make, make_opt, in, GradsMode::InGraph, {.in_place = true}),
                    b = train(m.make, make_opt, in, GradsMode::InGraph, {.in_place = false});
      INFO(a.report.str(*a.graph));
      const RowBlockRead read = matmul_row_blocks(DType::Float32, m.m, m.image[0], m.n, m.rows, true);
      const bool blocked = read != RowBlockRead::None;
      INFO("blocks read " << int(read));
      const size_t whole = size_t(m.m * m.n) * 4,
                   block = size_t(m.rows * (m.n + (read == RowBlockRead::DenseCopy ? m.image[0] : 0))) * 4;
      CHECK(a.calls == a.report.steps + (blocked ? 2 * size_t(m.blocks - 1) : 0));  // the matmul and its update
      size_t blocks = 0, wholes = 0;
      for (const auto& buf : a.report.buffers) {
        blocks += a.graph->node(buf.node).op == OpId::matmul && buf.bytes == block;
        wholes += buf.bytes >= whole;
      }
      CHECK(blocks == (blocked ? 1u : 0u));
      CHECK(wholes == (blocked ? 0u : 1u));
      if (blocked) CHECK(a.report.arena_bytes < b.report.arena_bytes);
      // The blocks' products run the implementation of the whole one: no other (oneDNN's JIT gemm
      // on the transposed blocks would cost ~6 MiB of RSS and ~20 ms to generate).
      CHECK(implementations(a.primitives) == implementations(b.primitives));
      // Eager's step, 12 times (the warm-up, the trace and the executor's 10): the same parameters.
      manual_seed(3);
      ModelPtr model = m.make();
      model->train();
      std::unique_ptr<optim::Optimizer> opt = make_opt(model->parameters());
      auto eager = testing::cross_entropy_step(*model, *opt);
      for (int k = 0; k < 12; ++k) eager(in);
      // With AVX2 the compiled step's blocked (nChw8c) 16 -> 32 convolution runs oneDNN's jit:avx2
      // kernel where eager's runs brgconv:avx2 channels-last, whose sums round differently: the
      // conv model then agrees with eager to float32 rounding over 12 steps (2e-6 seen), not bit for
      // bit (the MLPs still do; both plans, blocks or not, agree bit for bit everywhere).
      const bool eager_bits = !(m.make == conv_wide && onednn_channel_block() == 8);
      REQUIRE(a.params.size() == model->parameters().size());
      for (size_t k = 0; k < a.params.size(); ++k) {
        INFO("parameter " << k);
        if (eager_bits)
          CHECK(a.params[k].to_vector<float>() == model->parameters()[k].to_vector<float>());
        else
          DOPPEL_REQUIRE_CLOSE(a.params[k], model->parameters()[k], (testing::Tolerance{1e-4, 1e-5}));
        CHECK(a.params[k].to_vector<float>() == b.params[k].to_vector<float>());
      }
    }
}

TEST_CASE("memory plan, training: a 2x2 max-pool backward writes over the pooled input", "[graph][memory_plan]") {
  const Tensors in = batch({4, 1, 16, 16});
  const Trained t = train(shared_activation, sgd_momentum, in, GradsMode::InGraph, {});
  INFO(t.report.str(*t.graph));
  int pool_backward = 0;
  for (const graph::Node& n : t.graph->nodes()) pool_backward += n.op == OpId::blocked_max_pool2d_backward;
  REQUIRE(pool_backward == 1);
  // No buffer of its own: it takes the buffer of the activation it pooled.
  for (const auto& b : t.report.buffers) CHECK(t.graph->node(b.node).op != OpId::blocked_max_pool2d_backward);
}

TEST_CASE("memory plan, training: a 2x2 pool's input dies at the pool when its backward reads the winners",
          "[graph][memory_plan]") {
  // The CNN: each pool's input (its convolution's activation) lives from its convolution to its
  // pool, no further: the backward reads the pooled output and the winners (a byte per element).
  const Tensors in = batch({4, 1, 16, 16});
  const Trained t = train(cnn, sgd_momentum, in, GradsMode::InGraph, {});
  INFO(t.report.str(*t.graph));
  int checked = 0;
  for (const graph::Node& n : t.graph->nodes()) {
    if (n.op != OpId::blocked_max_pool2d_winners) continue;
    const graph::ValueId x = n.inputs[0];
    for (const graph::Node& r : t.graph->nodes())
      if (std::find(r.inputs.begin(), r.inputs.end(), x) != r.inputs.end())
        CHECK(r.op == OpId::blocked_max_pool2d_winners);
    ++checked;
  }
  CHECK(checked == 2);
}

TEST_CASE("memory plan, training: .grad() after a compiled step, as GradsMode documents", "[graph][memory_plan]") {
  const Tensors in = batch({8, 768});
  for (const GradsMode mode : {GradsMode::Persistent, GradsMode::InGraph}) {
    const bool persistent = mode == GradsMode::Persistent;
    INFO("persistent " << persistent);
    manual_seed(3);
    ModelPtr model = mlp(), twin = mlp();
    for (size_t k = 0; k < model->parameters().size(); ++k) {
      NoGradGuard no_grad;
      copy_strided(twin->parameters()[k], model->parameters()[k]);
    }
    optim::SGD opt(model->parameters(), {.lr = 0.05, .momentum = 0.9});
    optim::SGD twin_opt(twin->parameters(), {.lr = 0.05, .momentum = 0.9});
    CompiledFunction step = compile(testing::cross_entropy_step(*model, opt), {.grads = mode});
    auto eager = testing::cross_entropy_step(*twin, twin_opt);
    for (int k = 0; k < 4; ++k) {
      step(in);
      eager(in);
    }
    REQUIRE(step.num_graph_runs() == 2);
    const auto g = step.graph_for(in);
    const graph::MemoryReport r = step.executor_for(in)->memory_report(in);
    size_t grad_bytes = 0;
    for (const Tensor& p : model->parameters()) {
      grad_bytes += size_t(p.nbytes());
      if (!persistent) {
        // In the graph only: replays leave .grad() undefined (the trace released it).
        CHECK_FALSE(p.grad().defined());
        continue;
      }
      REQUIRE(p.grad().defined());
    }
    CHECK(r.grad_bytes == (persistent ? grad_bytes : 0));
    for (size_t k = 0; persistent && k < model->parameters().size(); ++k) {
      INFO("parameter " << k);
      const auto d =
          testing::compare(model->parameters()[k].grad(), twin->parameters()[k].grad(), {.rtol = 1e-4, .atol = 1e-6});
      CHECK_FALSE(d.has_value());
    }
    INFO(r.str(*g));
  }
}

}  // namespace
}  // namespace doppel
