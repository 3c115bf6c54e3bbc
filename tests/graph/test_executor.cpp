// graph::Executor's runtime promises: run_into allocates nothing after the first run,
// concurrent runs on one executor are independent, the arena reuses buffers by liveness,
// random nodes draw (seed, offset) like eager, and bad inputs are typed errors naming the input.
#include <catch2/catch_test_macros.hpp>
#include <thread>

#include "doppel/core/allocator.h"
#include "doppel/graph/compile.h"
#include "doppel/kernels/matmul_row_blocks.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "support/test_util.h"
#include "support/train_step.h"

namespace doppel {
namespace {

using testing::make_input;
using Tensors = std::vector<Tensor>;

std::shared_ptr<nn::Sequential> build_mlp() {
  manual_seed(21);
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Linear>(8, 32), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(32, 4)});
}

Tensor labels(int64_t n) {
  std::vector<int64_t> v;
  for (int64_t k = 0; k < n; ++k) v.push_back(k % 4);
  return tensor(v, {n});
}

// The MLP's eval-mode forward, traced at this batch size (the model is state the graph keeps).
std::shared_ptr<const graph::Graph> mlp_inference_graph(int64_t batch) {
  auto model = build_mlp();
  model->eval();
  return trace([model](const Tensors& in) { return Tensors{model->forward(in[0])}; },
               {make_input({batch, 8}, DType::Float32, 1)})
      .graph;
}

// An MLP's SGD-momentum training step compiled, warmed up and traced on `in`: `executor` serves
// inputs like `in` (the compiled function keeps it alive).
struct CompiledSgdStep {
  explicit CompiledSgdStep(const Tensors& in)
      : model(build_mlp()),
        opt(model->parameters(), {.lr = 0.1, .momentum = 0.9}),
        step(compile(testing::cross_entropy_step(*model, opt))) {
    step(in);  // eager warm-up: creates the momentum buffers
    step(in);  // traces
    executor = step.executor_for(in);
    REQUIRE(executor != nullptr);
  }
  std::shared_ptr<nn::Sequential> model;
  optim::SGD opt;
  CompiledFunction step;
  graph::Executor* executor = nullptr;
};

// Five calls of `run` leave the CPU allocator's counters as they were: not even a cached block
// is handed out.
template <class F>
void check_no_allocation(F&& run) {
  Allocator& a = allocator_for(kCPU);
  const AllocatorStats before = a.stats();
  for (int k = 0; k < 5; ++k) run();
  const AllocatorStats after = a.stats();
  CHECK(after.allocation_count == before.allocation_count);
  CHECK(after.system_allocations == before.system_allocations);
}

TEST_CASE("executor: run_into allocates nothing after the first run", "[graph][executor]") {
  graph::Executor ex(mlp_inference_graph(6));
  Tensor x = make_input({6, 8}, DType::Float32, 2);
  Tensor out = empty({6, 4});
  ex.run_into(Tensors{x}, Tensors{out});  // builds the plan and the execution context
  check_no_allocation([&] { ex.run_into(Tensors{x}, Tensors{out}); });
  // And the runs did compute: the output equals a fresh run's.
  DOPPEL_REQUIRE_CLOSE(out, ex.run(Tensors{x})[0], testing::Tolerance{});
}

TEST_CASE("executor: a training step's run_into allocates nothing after the first run", "[graph][executor]") {
  // State updates and gradient hand-over must reuse the plan's buffers too.
  const Tensors in{make_input({6, 8}, DType::Float32, 3), labels(6)};
  CompiledSgdStep c(in);
  graph::Executor* ex = c.executor;
  Tensor loss = empty({});
  ex->run_into(in, Tensors{loss});
  check_no_allocation([&] { ex->run_into(in, Tensors{loss}); });
}

TEST_CASE("executor: concurrent runs from 4 threads equal the single-threaded results", "[graph][executor]") {
  graph::Executor ex(mlp_inference_graph(16));
  constexpr int kThreads = 4, kRuns = 25;
  std::vector<Tensor> xs, expected;
  for (int t = 0; t < kThreads; ++t) {
    xs.push_back(make_input({16, 8}, DType::Float32, uint64_t(50 + t)));
    expected.push_back(ex.run(Tensors{xs.back()})[0]);
  }
  // Each thread has its own input, so a context shared by mistake shows up as another thread's
  // values in this thread's output.
  std::vector<std::optional<std::string>> mismatch(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      try {
        for (int k = 0; k < kRuns && !mismatch[size_t(t)]; ++k)
          mismatch[size_t(t)] = testing::compare(ex.run(Tensors{xs[size_t(t)]})[0], expected[size_t(t)], {});
      } catch (const std::exception& e) {
        errors[size_t(t)] = e.what();
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t << ": " << errors[size_t(t)] << mismatch[size_t(t)].value_or(""));
    CHECK(errors[size_t(t)].empty());
    CHECK(!mismatch[size_t(t)]);
  }
}

TEST_CASE("executor: the memory plan of an MLP training step reuses buffers", "[graph][executor]") {
  const Tensors in{make_input({64, 8}, DType::Float32, 4), labels(64)};
  CompiledSgdStep c(in);
  graph::Executor* ex = c.executor;
  const graph::PlanInfo info = ex->plan_info(in);
  INFO("arena " << info.arena_bytes << " unshared " << info.unshared_bytes << " steps " << info.steps);
  CHECK(info.steps > 0);
  CHECK(info.arena_bytes > 0);
  CHECK(info.arena_bytes < info.unshared_bytes);
}

TEST_CASE("executor: dropout replays draw new masks, the same as eager after the same manual_seed",
          "[graph][executor]") {
  nn::Dropout drop(0.5);
  auto fn = [&](const Tensors& in) { return Tensors{drop.forward(in[0])}; };
  CompiledFunction f = compile(fn, {.warmup = false});
  Tensor x = ones({256});
  f({x});  // traces
  const Tensor a = f({x})[0];
  const Tensor b = f({x})[0];
  REQUIRE(f.num_graph_runs() == 2);
  // Two replays: different masks (equal ones would mean a mask baked in at trace time).
  CHECK(testing::compare(a, b, {}).has_value());
  // A replay after manual_seed(s) draws eager's (seed, offset): the same mask.
  for (uint64_t seed : {5u, 6u}) {
    INFO("seed " << seed);
    manual_seed(seed);
    const Tensor eager = fn({x})[0];
    manual_seed(seed);
    const Tensor replay = f({x})[0];
    DOPPEL_REQUIRE_CLOSE(replay, eager, testing::Tolerance{});
    // And the generator advanced as far as eager's draw did: the next draws agree too.
    const Tensor eager_next = fn({x})[0];
    manual_seed(seed);
    f({x});
    const Tensor replay_next = f({x})[0];
    DOPPEL_REQUIRE_CLOSE(replay_next, eager_next, testing::Tolerance{});
  }
  CHECK(f.num_traces() == 1);
}

template <class E>
void check_run_error(graph::Executor& ex, const Tensors& in, const std::string& contains) {
  try {
    ex.run(in);
    FAIL("no error for " << contains);
  } catch (const E& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find(contains) != std::string::npos);
  }
}

TEST_CASE("executor: wrong inputs are ShapeError / DTypeError / ValueError naming the input", "[graph][executor]") {
  Tensor w = make_input({4, 3}, DType::Float32, 1);
  graph::TraceResult r = trace([&](const Tensors& in) { return Tensors{matmul(in[0], w) + in[1]}; },
                               {make_input({5, 4}, DType::Float32, 2), make_input({5, 3}, DType::Float32, 3)});
  graph::Executor ex(r.graph);
  const Tensor x = make_input({5, 4}, DType::Float32, 4), b = make_input({5, 3}, DType::Float32, 5);
  REQUIRE(ex.run(Tensors{x, b}).size() == 1);
  check_run_error<ShapeError>(ex, {x, make_input({5, 2}, DType::Float32, 6)}, "input 1");
  check_run_error<ShapeError>(ex, {make_input({5, 4, 1}, DType::Float32, 6), b}, "input 0");
  check_run_error<DTypeError>(ex, {x, make_input({5, 3}, DType::Float64, 6)}, "input 1");
  check_run_error<ValueError>(ex, {x}, "expected 2 inputs, got 1");
  check_run_error<ValueError>(ex, {x, b, b}, "expected 2 inputs, got 3");
}

TEST_CASE("executor: no write lands in a state whose storage other state still reads", "[graph][executor]") {
  // Two state tensors share one storage: `flat` and `part`, a view of its first half (as a fused
  // optimizer's flat buffer and a parameter). `part` is last read by an elementwise add whose
  // result has its shape, and it is updated (flat changes under it): on its own that would let
  // the add write into part's memory, which `flat`'s later read still needs.
  Tensor flat = tensor(std::vector<float>{1, 2, 3, 4});
  Tensor part = flat.narrow(0, 0, 2);
  auto fn = [&](const Tensors& in) {
    NoGradGuard no_grad;
    Tensor y = add(part, in[0]);
    mul_(flat, 2.0);
    return Tensors{y};
  };
  CompiledFunction f = compile(fn, {.warmup = false});
  const Tensor x = tensor(std::vector<float>{10, 20});
  std::vector<float> want_flat = {1, 2, 3, 4};
  for (int k = 0; k < 4; ++k) {
    INFO("call " << k);
    const Tensor y = f({x})[0];
    CHECK(y.to_vector<float>() == std::vector<float>{want_flat[0] + 10, want_flat[1] + 20});
    for (float& v : want_flat) v *= 2;
    CHECK(flat.to_vector<float>() == want_flat);
  }
  CHECK(f.num_graph_runs() == 3);
}

TEST_CASE("executor: with gradients kept in the graph, each update runs once its gradient is ready",
          "[graph][executor][grads_in_graph]") {
  // Wide layers, a tiny batch: the gradients are most of the step's memory. Each parameter's
  // update runs right after its gradient and the last read of the parameter, so the second
  // layer's weight gradient is gone before the first layer's is made: the arena holds less than
  // the two together (as traced, every update comes after the whole backward pass). Where the
  // kernels give the blocks the whole product's bits (matmul_row_blocks.h), the second weight's
  // gradient (1 MiB) is made a quarter at a time, each block updated at once (row_blocks.h):
  // [128, 512], plus the block's dense copy of the transposed output gradient where oneDNN's
  // brgemm computes it; else it is whole.
  manual_seed(4);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Linear>(64, 512), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(512, 512),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(512, 4)});
  optim::SGD opt(model->parameters(), {.lr = 0.01, .momentum = 0.9});
  CompiledFunction step = compile(testing::cross_entropy_step(*model, opt), {.grads = GradsMode::InGraph});
  const Tensors in = {make_input({2, 64}, DType::Float32, 3), labels(2)};
  for (int k = 0; k < 3; ++k) step(in);
  const RowBlockRead read = matmul_row_blocks(DType::Float32, 512, 2, 512, 128, true);
  INFO("blocks read " << int(read));
  const size_t w1 = 64 * 512 * sizeof(float),
               w2_part = read == RowBlockRead::None
                             ? 512 * 512 * sizeof(float)
                             : 128 * (512 + (read == RowBlockRead::DenseCopy ? 2 : 0)) * sizeof(float);
  const graph::PlanInfo info = step.executor_for(in)->plan_info(in);
  CHECK(info.arena_bytes >= w2_part);
  CHECK(info.arena_bytes < w1 + w2_part);
}

}  // namespace
}  // namespace doppel
