// The tracer and compile(): graphs equal eager, state updates, value reads, retraces, dynamic dims.
#include <catch2/catch_test_macros.hpp>

#include "doppel/graph/compile.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;
using Tensors = std::vector<Tensor>;

TEST_CASE("trace: a forward function becomes a graph that replays eager's result", "[graph][trace]") {
  Tensor w = make_input({4, 3}, DType::Float32, 1);
  auto fn = [&](const Tensors& in) { return Tensors{relu(matmul(in[0], w)) * 2.0 + 1.0}; };
  Tensor x = make_input({5, 4}, DType::Float32, 2);
  graph::TraceResult r = trace(fn, {x});
  INFO(graph::to_text(*r.graph));
  REQUIRE(r.graph->state().size() == 1);
  REQUIRE(r.graph->nodes().size() >= 4);
  graph::Executor ex(r.graph);
  Tensor x2 = make_input({5, 4}, DType::Float32, 3);
  DOPPEL_REQUIRE_CLOSE(ex.run(Tensors{x2})[0], fn({x2})[0], testing::Tolerance{});
}

TEST_CASE("trace: reading a traced value raises TraceError naming the call site", "[graph][trace]") {
  Tensor x = make_input({3}, DType::Float32, 1);
  auto read_item = [](const Tensors& in) {
    Tensor s = in[0].sum();
    if (s.item<float>() > 0) return Tensors{s};
    return Tensors{-s};
  };
  try {
    trace(read_item, {x});
    FAIL("no TraceError");
  } catch (const TraceError& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("item()") != std::string::npos);
    CHECK(m.find("test_trace.cpp") != std::string::npos);
    CHECK(m.find("the result of sum") != std::string::npos);
  }
  CHECK_THROWS_AS(trace([](const Tensors& in) { return Tensors{in[0] * double(in[0].to_vector<float>()[0])}; }, {x}),
                  TraceError);
  CHECK_THROWS_AS(trace([](const Tensors& in) { return Tensors{in[0] * double(*in[0].data_ptr<float>())}; }, {x}),
                  TraceError);
  // A static input may be read: its values become constants.
  graph::TraceOptions o;
  o.static_inputs = {1};
  Tensor k = full({}, 3.0);
  graph::TraceResult r = trace([](const Tensors& in) { return Tensors{in[0] * in[1].item<double>()}; }, {x, k}, o);
  CHECK(r.graph->inputs().size() == 1);
}

TEST_CASE("trace: an SGD training step updates parameters like eager for 20 steps", "[graph][trace]") {
  auto build = [] {
    manual_seed(7);
    return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
        std::make_shared<nn::Linear>(8, 16), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(16, 4)});
  };
  auto eager_model = build();
  auto graph_model = build();
  optim::SGD eager_opt(eager_model->parameters(), {.lr = 0.1, .momentum = 0.9});
  optim::SGD graph_opt(graph_model->parameters(), {.lr = 0.1, .momentum = 0.9});
  auto step_fn = [](nn::Module& m, optim::Optimizer& o) {
    return [&m, &o](const Tensors& in) {
      o.zero_grad();
      Tensor loss = cross_entropy(m.forward(in[0]), in[1]);
      loss.backward();
      o.step();
      return Tensors{loss};
    };
  };
  auto eager_step = step_fn(*eager_model, eager_opt);
  CompiledFunction graph_step = compile(step_fn(*graph_model, graph_opt));
  for (int s = 0; s < 20; ++s) {
    Tensor x = make_input({6, 8}, DType::Float32, uint64_t(100 + s));
    Tensor y = tensor(std::vector<int64_t>{0, 1, 2, 3, 0, 1}, {6});
    Tensor le = eager_step({x, y})[0];
    Tensor lg = graph_step({x, y})[0];
    DOPPEL_REQUIRE_CLOSE(lg, le, (testing::Tolerance{1e-5, 1e-6}));
  }
  CHECK(graph_step.num_traces() == 1);
  CHECK(graph_step.num_graph_runs() == 18);
  const StateDict pe = eager_model->state_dict(), pg = graph_model->state_dict();
  for (size_t k = 0; k < pe.size(); ++k)
    DOPPEL_REQUIRE_CLOSE(pg[k].second, pe[k].second, (testing::Tolerance{1e-5, 1e-6}));
  // Gradients are handed to the parameters as eager's backward would leave them.
  const Tensors ge = eager_model->parameters(), gg = graph_model->parameters();
  for (size_t k = 0; k < ge.size(); ++k)
    DOPPEL_REQUIRE_CLOSE(gg[k].grad(), ge[k].grad(), (testing::Tolerance{1e-5, 1e-6}));
}

TEST_CASE("compile: retraces are counted and explained", "[graph][trace]") {
  CompiledFunction f = compile([](const Tensors& in) { return Tensors{in[0] * 2.0}; }, {.warmup = false});
  f({zeros({4, 3})});
  f({zeros({4, 3})});
  f({zeros({2, 3})});
  f({zeros({2, 3}, {.dtype = DType::Float64})});
  REQUIRE(f.num_traces() == 3);
  const auto why = f.trace_reasons();
  REQUIRE(why.size() == 3);
  CHECK(why[0] == "first call");
  CHECK(why[1] == "input 0 dim 0 changed from 4 to 2");
  CHECK(why[2] == "input 0 dtype changed from float32 to float64");
  // A module switched to eval() after compiling retraces instead of replaying training mode.
  nn::Dropout drop(0.5);
  CompiledFunction g = compile([&](const Tensors& in) { return Tensors{drop.forward(in[0])}; }, {.warmup = false});
  g({ones({8})});
  drop.eval();
  Tensor out = g({ones({8})})[0];
  CHECK(g.num_traces() == 2);
  CHECK(g.trace_reasons()[1] == "a module's training flag changed from true to false");
  DOPPEL_REQUIRE_CLOSE(out, ones({8}), testing::Tolerance{});
}

// Each call checks its inputs against the graphs' signatures read straight off the tensors (no
// Signature built per call): after replays, a changed dtype, rank, dim, static value or grad mode
// still retraces, and the first signature is served again by its own graph.
TEST_CASE("compile: a replayed signature is checked on every call", "[graph][trace]") {
  // out = x * (s[0] + s[1]), s static: baked into the graph.
  auto fn = [](const Tensors& in) {
    const std::vector<float> s = in[1].to_vector<float>();
    return Tensors{in[0] * double(s[0] + s[1])};
  };
  CompiledFunction f = compile(fn, {.static_inputs = {1}, .warmup = false});
  const Tensor s = tensor(std::vector<float>{1.0f, 1.0f}, {2});
  const auto first = [&] { return f({ones({4, 3}), s})[0]; };
  for (int k = 0; k < 3; ++k) CHECK(first().to_vector<float>() == std::vector<float>(12, 2.0f));
  REQUIRE(f.num_traces() == 1);
  CHECK(f({ones({4, 3}), tensor(std::vector<float>{1.0f, 2.0f}, {2})})[0].to_vector<float>() ==
        std::vector<float>(12, 3.0f));
  CHECK(f({ones({4, 3}, {.dtype = DType::Float64}), s})[0].dtype() == DType::Float64);
  CHECK(f({ones({4, 3, 1}), s})[0].shape() == Shape{4, 3, 1});
  CHECK(f({ones({4, 2}), s})[0].shape() == Shape{4, 2});
  {
    NoGradGuard off;
    CHECK(f({ones({4, 3}), s})[0].to_vector<float>() == std::vector<float>(12, 2.0f));
  }
  REQUIRE(f.num_traces() == 6);
  const auto why = f.trace_reasons();
  CHECK(why[1] == "the value of static input 1 changed");  // each against the entry made last
  CHECK(why[2].find("input 0 dtype changed from float32 to float64") != std::string::npos);
  CHECK(why[3].find("input 0 rank changed from 2 to 3") != std::string::npos);
  CHECK(why[4] == "input 0 rank changed from 3 to 2");
  CHECK(why[5] == "input 0 dim 1 changed from 2 to 3; grad mode changed from on to off");
  const int64_t runs = f.num_graph_runs();
  CHECK(first().to_vector<float>() == std::vector<float>(12, 2.0f));
  CHECK(f.num_traces() == 6);
  CHECK(f.num_graph_runs() == runs + 1);
}

TEST_CASE("compile: one graph serves batch sizes 1, 7 and 64 with a dynamic batch dimension", "[graph][trace]") {
  manual_seed(3);
  nn::Sequential model{std::make_shared<nn::Linear>(12, 5), std::make_shared<nn::Tanh>()};
  auto fn = [&](const Tensors& in) {
    Tensor h = model.forward(in[0].reshape({in[0].size(0), -1}));
    return Tensors{h.softmax(1)};
  };
  CompiledFunction f = compile(fn, {.dynamic = {{0, 0, "batch"}}, .warmup = false});
  for (int64_t b : {64, 1, 7, 64}) {
    Tensor x = make_input({b, 3, 4}, DType::Float32, uint64_t(b));
    DOPPEL_REQUIRE_CLOSE(f({x})[0], fn({x})[0], (testing::Tolerance{1e-6, 1e-7}));
  }
  CHECK(f.num_traces() == 1);
  INFO(graph::to_text(*f.graph_for({zeros({2, 3, 4})})));
  CHECK(graph::to_text(*f.graph_for({zeros({2, 3, 4})})).find("shape=[batch, -1]") != std::string::npos);
}

}  // namespace
}  // namespace doppel

namespace doppel {
namespace {

TEST_CASE("compile: a dynamic batch equal to a channel count keeps the channels static", "[graph][trace]") {
  // Traced at batch 64 with 64 channels: the backward's reshape({64, 64, 2, 2}) of a [batch, 256]
  // gradient must read only its first 64 as the batch.
  manual_seed(5);
  nn::Sequential model{std::make_shared<nn::Conv2d>(1, 64, 3, 1, 1), std::make_shared<nn::MaxPool2d>(2),
                       std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(64 * 2 * 2, 3)};
  auto fn = [&](const Tensors& in) {
    Tensor h = model.forward(in[0]);
    Tensor loss = (h * h).mean();
    loss.backward();
    Tensors out{loss};
    for (const Tensor& p : model.parameters()) out.push_back(p.grad());
    return out;
  };
  CompiledFunction f = compile(fn, {.dynamic = {{0, 0, "batch"}}, .warmup = false});
  for (int64_t b : {64, 7, 64}) {
    for (const Tensor& p : model.parameters()) p.set_grad(Tensor());
    Tensor x = make_input({b, 1, 4, 4}, DType::Float32, uint64_t(b));
    const Tensors got = f({x});
    for (const Tensor& p : model.parameters()) p.set_grad(Tensor());
    const Tensors want = fn({x});
    for (size_t k = 0; k < want.size(); ++k) DOPPEL_REQUIRE_CLOSE(got[k], want[k], (testing::Tolerance{1e-5, 1e-6}));
  }
  CHECK(f.num_traces() == 1);
}

}  // namespace
}  // namespace doppel
