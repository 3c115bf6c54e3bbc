// The runtime Model on exported files: concurrent callers equal serial runs, input validation
// names the input and its spec, the parity check refuses a graph that disagrees with eager (and
// writes nothing), weights go back into a Module for fine-tuning, and an exported training
// graph resumes training exactly where eager training continues.
#include <catch2/catch_test_macros.hpp>
#include <cmath>
#include <filesystem>
#include <set>
#include <thread>

#include "doppel/graph/compile.h"
#include "doppel/graph/export.h"
#include "doppel/optim/optim.h"
#include "doppel/runtime/model.h"
#include "export_test_util.h"
#include "support/test_util.h"
#include "support/train_step.h"

namespace doppel {
namespace {

using testing::make_input;
using Tensors = std::vector<Tensor>;
const testing::Tolerance kTol{1e-5, 1e-6};

// An eval-mode MLP's forward compiled with a dynamic batch and exported to `path`.
runtime::Model export_mlp_forward(nn::Module& m, const std::string& path, const ExportOptions& o = {}) {
  m.eval();
  CompiledFunction f = compile([&m](const Tensors& in) { return Tensors{m.forward(in[0])}; },
                               {.dynamic = {{0, 0}}, .state_names = m.state_dict()});
  export_model(f, {make_input({16, 8}, DType::Float32, 1)}, path, o);
  return runtime::Model::load(path);
}

TEST_CASE("runtime model: concurrent callers get what serial runs give", "[export]") {
  auto mlp = testing::export_mlp();
  testing::TempPath path;
  const runtime::Model m = export_mlp_forward(*mlp, path.str());
  // Weights are referenced in the file's mapping, not copied.
  CHECK_FALSE(m.weights().at(0).second.storage()->owned());
  constexpr int kThreads = 8, kRuns = 25;
  std::vector<Tensors> inputs(kThreads), serial(kThreads), parallel(kThreads);
  for (int t = 0; t < kThreads; ++t)
    for (int r = 0; r < kRuns; ++r) {
      inputs[size_t(t)].push_back(make_input({1 + (t * 7 + r) % 40, 8}, DType::Float32, uint64_t(t * 100 + r)));
      serial[size_t(t)].push_back(m.run({inputs[size_t(t)].back()})[0]);
    }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRuns; ++r) parallel[size_t(t)].push_back(m.run({inputs[size_t(t)][size_t(r)]})[0]);
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t)
    for (int r = 0; r < kRuns; ++r)
      DOPPEL_REQUIRE_CLOSE(parallel[size_t(t)][size_t(r)], serial[size_t(t)][size_t(r)], testing::Tolerance{});
}

TEST_CASE("runtime model: inputs are checked against the signature", "[export]") {
  auto mlp = testing::export_mlp();
  testing::TempPath path;
  const runtime::Model m = export_mlp_forward(*mlp, path.str(), {.input_names = {"x"}});
  REQUIRE(m.signature().inputs[0].str() == "x: f32[batch, 8]");
  CHECK(m.signature().outputs[0].str() == "output0: f32[batch, 4]");
  using testing::error_message;
  CHECK(error_message<Error>([&] { m.run({}); }).find("expected 1 inputs (x: f32[batch, 8]), got 0") !=
        std::string::npos);
  CHECK(error_message<DTypeError>([&] {
          m.run({make_input({2, 8}, DType::Float64, 1)});
        }).find("model input 'x' has dtype float64, expected x: f32[batch, 8]") != std::string::npos);
  CHECK(error_message<ShapeError>([&] {
          m.run({make_input({2, 8, 1}, DType::Float32, 1)});
        }).find("expected rank 2") != std::string::npos);
  CHECK(error_message<ShapeError>([&] {
          m.run({make_input({2, 9}, DType::Float32, 1)});
        }).find("dim 1 must be 8") != std::string::npos);
}

TEST_CASE("runtime model: inputs sharing a symbol must agree on it", "[export]") {
  auto mlp = testing::export_mlp();
  optim::SGD opt(mlp->parameters(), {.lr = 0.1});
  mlp->train();
  CompiledFunction step = compile(testing::cross_entropy_step(*mlp, opt), {.dynamic = {{0, 0}, {1, 0}}});
  const Tensor x = make_input({6, 8}, DType::Float32, 1);
  const Tensor y = tensor(std::vector<int64_t>{0, 1, 2, 3, 0, 1}, {6});
  step({x, y});
  step({x, y});
  testing::TempPath path;
  auto train_graph = step.graph_for({x, y});
  mlp->eval();
  CompiledFunction fwd =
      compile([&](const Tensors& in) { return Tensors{mlp->forward(in[0])}; }, {.dynamic = {{0, 0}}});
  export_model(fwd, {x}, path.str(), {.include_training = true, .training_graph = train_graph});
  const runtime::Model m = runtime::Model::load(path.str(), "training");
  CHECK(m.weights().at(0).second.storage()->owned());  // updated state: a private copy of the file's bytes
  const std::string msg = testing::error_message<ShapeError>([&] {
    m.run({make_input({4, 8}, DType::Float32, 2), tensor(std::vector<int64_t>{0, 1, 2}, {3})});
  });
  CHECK(msg.find("'batch' is 3 here but 4 in an earlier input") != std::string::npos);
}

TEST_CASE("export: the parity check passes a faithful graph and refuses one that disagrees with eager", "[export]") {
  auto mlp = testing::export_mlp();
  mlp->eval();
  bool doubled = false;  // a host flag the trace cannot see
  auto fn = [&](const Tensors& in) { return Tensors{mlp->forward(in[0]) * (doubled ? 2.0 : 1.0)}; };
  CompiledFunction f = compile(fn, {.dynamic = {{0, 0}}});
  const Tensor x = make_input({16, 8}, DType::Float32, 1);
  testing::TempPath good, bad;
  export_model(f, {x}, good.str(), {.parity_samples = 5});
  CHECK(std::filesystem::exists(good.path));
  doubled = true;  // eager now differs from the traced graph
  const std::string msg =
      testing::error_message<ValueError>([&] { export_model(f, {x}, bad.str(), {.parity_samples = 3}); });
  INFO(msg);
  CHECK(msg.find("parity check failed: output 'output0' of sample 0") != std::string::npos);
  CHECK(msg.find("differs from eager by ") != std::string::npos);
  CHECK(msg.find("allowed per element: atol 1e-05 + rtol 0.0001 * |eager| + ") != std::string::npos);
  CHECK(msg.find("parity_rtol") != std::string::npos);
  CHECK(msg.find("the file was not written") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(bad.path));
}

// A deep float32 CNN (16 conv + batch-norm + ReLU layers of 64 channels, then a linear layer to 1000 logits) whose
// random weights give logits around ±50, as ResNet-18's do.
std::shared_ptr<nn::Sequential> deep_cnn_with_large_logits() {
  manual_seed(21);
  auto m = std::make_shared<nn::Sequential>();
  int64_t in = 3;
  for (int k = 0; k < 16; ++k) {
    m->push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = in, .out = 64, .kernel = 3, .padding = 1}));
    m->push_back(std::make_shared<nn::BatchNorm2d>(64));
    m->push_back(std::make_shared<nn::ReLU>());
    if (k % 8 == 7) m->push_back(std::make_shared<nn::MaxPool2d>(2));
    in = 64;
  }
  m->push_back(std::make_shared<nn::Flatten>());
  m->push_back(std::make_shared<nn::Linear>(64 * 4 * 4, 1000));
  m->eval();
  // Trained-looking batch-norm statistics (folded into the convolutions by the graph passes).
  NoGradGuard no_grad;
  uint64_t seed = 100;
  for (const auto& layer : *m)
    if (auto bn = std::dynamic_pointer_cast<nn::BatchNorm2d>(layer)) {
      copy_(bn->running_mean, make_input({64}, DType::Float32, seed++, -0.5, 0.5));
      copy_(bn->running_var, make_input({64}, DType::Float32, seed++, 0.2, 3.0));
      copy_(bn->weight, make_input({64}, DType::Float32, seed++, 0.5, 2.0));
      copy_(bn->bias, make_input({64}, DType::Float32, seed++, -0.3, 0.3));
    }
  // Scale the layers so activations neither vanish nor explode, then the logits to about ±50.
  auto scale_by = [](Tensor& t, double s) {
    float* p = t.data_ptr<float>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = float(p[i] * s);
  };
  Tensor h = make_input({4, 3, 16, 16}, DType::Float32, 5);
  for (size_t k = 0; k < m->size(); ++k) {
    h = (*m)[int64_t(k)]->forward(h);
    if (auto conv = std::dynamic_pointer_cast<nn::Conv2d>((*m)[int64_t(k)])) {
      double sq = 0;
      for (const double v : h.to_vector<double>()) sq += v * v;
      const double s = 1.0 / std::sqrt(sq / double(h.numel()));
      scale_by(conv->weight, s);
      scale_by(conv->bias, s);
      h = h * s;
    }
  }
  double top = 0;
  for (const double v : h.to_vector<double>()) top = std::max(top, std::abs(v));
  auto fc = m->at<nn::Linear>(-1);
  scale_by(fc->weight, 50.0 / top);
  scale_by(fc->bias, 50.0 / top);
  return m;
}

TEST_CASE("export: the parity check passes a deep CNN with large logits and refuses a wrong graph", "[export]") {
  auto cnn = deep_cnn_with_large_logits();
  bool perturbed = false;  // a host flag the trace cannot see: eager scales its logits by 1.001
  auto fn = [&](const Tensors& in) { return Tensors{cnn->forward(in[0]) * (perturbed ? 1.001 : 1.0)}; };
  CompiledFunction f =
      compile(fn, {.dynamic = {{0, 0}}, .state_names = cnn->state_dict(), .passes = {.inference = true}});
  const Tensor x = make_input({8, 3, 16, 16}, DType::Float32, 6);
  // The graph (fused, folded, reordered sums) against eager, by a fixed atol 1e-5 / rtol 1e-4
  // as the check used to apply: float rounding alone exceeds it somewhere.
  f({x});
  f({x});
  Tensor graph_out = f({x})[0], eager_out;
  {
    NoGradGuard no_grad;
    eager_out = fn({x})[0];
  }
  const std::vector<double> g = graph_out.to_vector<double>(), e = eager_out.to_vector<double>();
  double max_abs = 0, worst_excess = -1;
  for (size_t i = 0; i < g.size(); ++i) {
    max_abs = std::max(max_abs, std::abs(e[i]));
    worst_excess = std::max(worst_excess, std::abs(g[i] - e[i]) - (1e-5 + 1e-4 * std::abs(e[i])));
  }
  INFO("max |logit| " << max_abs << ", worst excess over the fixed tolerance " << worst_excess);
  CHECK(max_abs > 30);
  CHECK(worst_excess > 0);
  testing::TempPath good, bad;
  export_model(f, {x}, good.str(), {.parity_samples = 3, .max_dynamic = 8});
  CHECK(std::filesystem::exists(good.path));
  perturbed = true;  // eager now differs from the graph by 0.1%: a real defect
  const std::string msg = testing::error_message<ValueError>(
      [&] { export_model(f, {x}, bad.str(), {.parity_samples = 3, .max_dynamic = 8}); });
  INFO(msg);
  CHECK(msg.find("parity check failed") != std::string::npos);
  CHECK(msg.find("reduction levels") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(bad.path));
}

TEST_CASE("export: a state-writing graph is refused as the inference graph", "[export]") {
  auto mlp = testing::export_mlp();
  optim::SGD opt(mlp->parameters(), {.lr = 0.1});
  CompiledFunction step = compile(testing::cross_entropy_step(*mlp, opt));
  const Tensor x = make_input({6, 8}, DType::Float32, 1);
  const Tensor y = tensor(std::vector<int64_t>{0, 1, 2, 3, 0, 1}, {6});
  testing::TempPath path;
  CHECK(testing::error_message<ValueError>([&] {
          export_model(step, {x, y}, path.str());
        }).find("the inference graph writes state") != std::string::npos);
}

TEST_CASE("export: weights go back into a fresh Module, which fine-tunes", "[export]") {
  auto trained = testing::export_mlp(21);
  testing::TempPath path;
  const runtime::Model m = export_mlp_forward(*trained, path.str());
  auto fresh = testing::export_mlp(99);
  load_weights_into(*fresh, m);
  fresh->eval();
  const Tensor x = make_input({5, 8}, DType::Float32, 3);
  DOPPEL_REQUIRE_CLOSE(fresh->forward(x), m.run({x})[0], kTol);
  DOPPEL_REQUIRE_CLOSE(fresh->forward(x), trained->forward(x), kTol);
  // One SGD step on the loaded module changes its parameters (and nothing in the file's mapping).
  fresh->train();
  optim::SGD opt(fresh->parameters(), {.lr = 0.5});
  const Tensor before = fresh->parameters()[0].clone();
  testing::cross_entropy_step(*fresh, opt)({x, tensor(std::vector<int64_t>{0, 1, 2, 3, 0}, {5})});
  CHECK(testing::compare(fresh->parameters()[0], before, kTol).has_value());
  DOPPEL_REQUIRE_CLOSE(m.run({x})[0], trained->forward(x), kTol);
  // A module the file has no weights for is a ValueError naming the parameters.
  manual_seed(1);
  nn::Linear other(8, 4);
  CHECK(testing::error_message<ValueError>([&] { load_weights_into(other, m); }).find("weight") != std::string::npos);
}

TEST_CASE("export: weights folded with a batch norm are stored once, the module's too on request", "[export]") {
  // conv -> batch norm -> relu -> linear: the graph computes with the folded convolution weights.
  manual_seed(5);
  auto make = [] {
    auto m = std::make_shared<nn::Sequential>();
    m->push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 3, .out = 32, .kernel = 3, .padding = 1}));
    m->push_back(std::make_shared<nn::BatchNorm2d>(32));
    m->push_back(std::make_shared<nn::ReLU>());
    m->push_back(std::make_shared<nn::Flatten>());
    m->push_back(std::make_shared<nn::Linear>(32 * 6 * 6, 4));
    m->eval();
    return m;
  };
  auto trained = make();
  {
    NoGradGuard no_grad;
    auto bn = trained->at<nn::BatchNorm2d>(1);
    copy_(bn->running_mean, make_input({32}, DType::Float32, 7, -0.5, 0.5));
    copy_(bn->running_var, make_input({32}, DType::Float32, 8, 0.2, 3.0));
  }
  const Tensor x = make_input({2, 3, 6, 6}, DType::Float32, 9);
  auto export_with = [&](bool keep, const std::string& path) {
    CompiledFunction f =
        compile([&](const Tensors& in) { return Tensors{trained->forward(in[0])}; },
                {.dynamic = {{0, 0}}, .state_names = trained->state_dict(), .passes = {.inference = true}});
    export_model(f, {x}, path, {.parity_samples = 2, .keep_unread_weights = keep});
    return runtime::Model::load(path);
  };
  testing::TempPath lean_path, kept_path;
  const runtime::Model lean = export_with(false, lean_path.str()), kept = export_with(true, kept_path.str());
  auto names = [](const runtime::Model& m) {
    std::set<std::string> out;
    for (const auto& [name, t] : m.weights()) out.insert(name);
    return out;
  };
  // The default file stores the linear layer's weights and the folded constants, not the
  // convolution's or the batch norm's own: 32*3*3*3 + 32 + 4*32 floats fewer.
  CHECK(names(lean).count("4.weight") == 1);
  CHECK(names(lean).count("0.weight") == 0);
  CHECK(names(lean).count("1.running_var") == 0);
  CHECK(names(kept).count("0.weight") == 1);
  CHECK(names(kept).count("1.running_var") == 1);
  const auto lean_bytes = std::filesystem::file_size(lean_path.str()),
             kept_bytes = std::filesystem::file_size(kept_path.str());
  CHECK(kept_bytes >= lean_bytes + (32 * 27 + 32 + 4 * 32) * sizeof(float));
  // Both run the same; only the kept file restores the module.
  DOPPEL_REQUIRE_CLOSE(lean.run({x})[0], kept.run({x})[0], kTol);
  auto fresh = make();
  const std::string msg = testing::error_message<ValueError>([&] { load_weights_into(*fresh, lean); });
  CHECK(msg.find("0.weight") != std::string::npos);
  CHECK(msg.find("keep_unread_weights") != std::string::npos);
  load_weights_into(*fresh, kept);
  DOPPEL_REQUIRE_CLOSE(fresh->forward(x), trained->forward(x), kTol);
}

// Trains `eager` and `graph` (identical modules) for 3 steps — the graph one through compile()
// — exports the graph one's training step, then continues: 5 more steps eagerly and 5 on the
// loaded training graph; losses and every state tensor must agree.
void check_resume(const std::function<std::shared_ptr<nn::Module>()>& build,
                  const std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>& make_opt,
                  IntList input_shape) {
  auto eager = build();
  auto graph = build();
  eager->train();
  graph->train();
  auto eager_opt = make_opt(eager->parameters());
  auto graph_opt = make_opt(graph->parameters());
  auto eager_step = testing::cross_entropy_step(*eager, *eager_opt);
  const int64_t batch = input_shape[0];
  std::vector<int64_t> labels;
  for (int64_t k = 0; k < batch; ++k) labels.push_back(k % 4);
  const Tensor y = tensor(labels, {batch});
  auto x_at = [&](int s) { return make_input(input_shape, DType::Float32, uint64_t(300 + s)); };
  // Step 0 eagerly on both: optimizer state exists and can be named.
  eager_step({x_at(0), y});
  testing::cross_entropy_step(*graph, *graph_opt)({x_at(0), y});
  StateDict names = graph->state_dict();
  for (auto& kv : graph_opt->state_dict()) names.push_back(kv);
  CompiledFunction step =
      compile(testing::cross_entropy_step(*graph, *graph_opt), {.dynamic = {{0, 0}, {1, 0}}, .state_names = names});
  for (int s = 1; s < 3; ++s) {
    eager_step({x_at(s), y});
    step({x_at(s), y});
  }
  auto train_graph = step.graph_for({x_at(0), y});
  REQUIRE(train_graph != nullptr);
  graph->eval();
  CompiledFunction fwd =
      compile([&](const Tensors& in) { return Tensors{graph->forward(in[0])}; }, {.dynamic = {{0, 0}}});
  testing::TempPath path;
  export_model(fwd, {x_at(0)}, path.str(), {.include_training = true, .training_graph = train_graph});
  const runtime::Model m = runtime::Model::load(path.str(), "training");
  for (int s = 3; s < 8; ++s) {
    INFO("step " << s);
    const Tensor le = eager_step({x_at(s), y})[0];
    DOPPEL_REQUIRE_CLOSE(m.run({x_at(s), y})[0], le, kTol);
  }
  StateDict want = eager->state_dict();
  for (auto& kv : eager_opt->state_dict()) want.push_back(kv);
  const StateDict got = m.weights();
  for (const auto& [name, t] : want) {
    INFO(name);
    const Tensor g = state_find(got, name);
    if (!g.defined()) continue;  // state the step never reads (BN's num_batches_tracked is read and kept)
    DOPPEL_REQUIRE_CLOSE(g, t, kTol);
  }
  CHECK(got.size() >= eager->parameters().size() * 2);  // parameters and their optimizer moments
  // Saving the resumed state and loading it again gives the same weights.
  testing::TempPath saved;
  m.save(saved.str());
  const runtime::Model again = runtime::Model::load(saved.str(), "training");
  for (size_t k = 0; k < got.size(); ++k)
    DOPPEL_REQUIRE_CLOSE(again.weights()[k].second, got[k].second, testing::Tolerance{});
}

TEST_CASE("export: a training graph resumes like eager training continued", "[export]") {
  SECTION("mlp, Adam") {
    check_resume([] { return testing::export_mlp(); },
                 [](std::vector<Tensor> p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions{.lr = 1e-2}); },
                 {6, 8});
  }
  SECTION("cnn with batch norm, SGD momentum") {
    check_resume([] { return testing::export_cnn(); },
                 [](std::vector<Tensor> p) {
                   return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
                 },
                 {6, 3, 8, 8});  // batch 6: not equal to a channel count (4)
  }
}

}  // namespace
}  // namespace doppel
