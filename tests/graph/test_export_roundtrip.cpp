// Round trips through the model file: every op-spec sample's graph (as traced and after the
// pass pipeline) and the graph-capture models (MLP, CNN, dynamic batch 1/7/64) exported, loaded
// and run equal the in-memory graph bit for bit; export -> load -> export gives identical bytes.
#include <catch2/catch_test_macros.hpp>
#include <fstream>
#include <optional>

#include "doppel/dispatch.h"
#include "doppel/generator.h"
#include "doppel/graph/compile.h"
#include "doppel/graph/export.h"
#include "doppel/optim/optim.h"
#include "doppel/runtime/model.h"
#include "export_test_util.h"
#include "support/op_spec.h"
#include "support/test_util.h"
#include "support/train_step.h"

namespace doppel {
namespace {

using testing::make_input;
using Tensors = std::vector<Tensor>;

std::vector<std::byte> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  const std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

void require_same(const Tensors& got, const Tensors& want) {
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    INFO("output " << k);
    DOPPEL_REQUIRE_CLOSE(got[k], want[k], testing::Tolerance{});
  }
}

TEST_CASE("export: every op spec's graph, as traced and optimized, round-trips through the file", "[export]") {
  int graphs = 0;
  for (const auto& [op, spec] : testing::specs_by_op()) {
    if (op_def(op).has(kRandom)) continue;  // the runtime draws its own numbers: values differ by design
    for (DType dtype : spec.dtypes) {
      for (const testing::Sample& s : spec.samples(dtype)) {
        INFO(fmt::format("op {} dtype {} sample {}", op_name(op), dtype_name(dtype), testing::describe(s)));
        // Wrapped numbers (C++ scalars) are constants in real traces: trace them as static inputs.
        graph::TraceOptions o;
        Tensors in, run_in;
        for (const Tensor& t : s.inputs)
          if (t.defined()) {
            if (t.impl()->is_wrapped_number()) o.static_inputs.push_back(int(in.size()));
            in.push_back(t.impl()->is_wrapped_number() ? t : t.contiguous());
            if (!t.impl()->is_wrapped_number()) run_in.push_back(in.back());
          }
        std::vector<int> slot;
        for (size_t k = 0; k < s.inputs.size(); ++k)
          if (s.inputs[k].defined()) slot.push_back(int(k));
        const size_t arity = s.inputs.size();
        const Attrs attrs = s.attrs;
        auto fn = [op, attrs, slot, arity](const Tensors& args) {
          Tensors full(arity);
          for (size_t k = 0; k < slot.size(); ++k) full[size_t(slot[k])] = args[k];
          const OpOutputs out = dispatch(op, full, attrs);
          Tensors res;
          for (int k = 0; k < out.n; ++k)
            if (out[k].defined()) res.push_back(out[k]);
          return res;
        };
        graph::TraceResult r;
        try {
          r = trace(fn, in, o);
        } catch (const TraceError&) {  // value-dependent shapes: traced with every input static
          o.static_inputs.clear();
          for (size_t k = 0; k < in.size(); ++k) o.static_inputs.push_back(int(k));
          r = trace(fn, in, o);
          run_in.clear();
        }
        for (bool optimized : {false, true}) {
          INFO((optimized ? "optimized" : "as traced"));
          if (optimized) graph::optimize(*r.graph, {});
          INFO(graph::to_text(*r.graph));
          graph::Executor ex(r.graph);
          const runtime::Model m = runtime::Model::from_bytes(export_graph_bytes(*r.graph));
          require_same(m.run(run_in), ex.run(run_in));
          ++graphs;
        }
      }
    }
  }
  CHECK(graphs > 200);
}

// Compiles `model`'s forward with a dynamic batch, exports it, and checks the loaded file
// against the in-memory graph at batches 1, 7 and 64.
void check_inference_round_trip(nn::Module& model, IntList sample_shape) {
  model.eval();
  auto fwd = [&model](const Tensors& in) { return Tensors{model.forward(in[0])}; };
  CompiledFunction f = compile(fwd, {.dynamic = {{0, 0, "batch"}}, .state_names = model.state_dict()});
  Shape shape(sample_shape);
  shape[0] = 64;
  const Tensor example = make_input(shape, DType::Float32, 5);
  testing::TempPath path;
  export_model(f, {example}, path.str(), {.input_names = {"image"}, .output_names = {"logits"}});
  const runtime::Model m = runtime::Model::load(path.str());
  CHECK(m.signature().inputs[0].name == "image");
  CHECK(m.signature().inputs[0].shape[0].symbol == "batch");
  CHECK(m.signature().outputs[0].name == "logits");
  graph::Executor* ex = f.executor_for({example});
  REQUIRE(ex != nullptr);
  for (int64_t b : {1, 7, 64}) {
    INFO("batch " << b);
    shape[0] = b;
    const Tensor x = make_input(shape, DType::Float32, uint64_t(100 + b));
    require_same(m.run({x}), ex->run(Tensors{x}));
    DOPPEL_REQUIRE_CLOSE(m.run({x})[0], fwd({x})[0], (testing::Tolerance{1e-5, 1e-6}));
  }
}

TEST_CASE("export: MLP and CNN inference graphs round-trip at batches 1, 7 and 64", "[export]") {
  SECTION("mlp") { check_inference_round_trip(*testing::export_mlp(), {64, 8}); }
  SECTION("cnn") { check_inference_round_trip(*testing::export_cnn(), {64, 3, 8, 8}); }
}

// A CNN with Adam: its training graph (traced in training mode) and its inference graph
// (eval mode) in one file, parameters shared.
struct CnnWithAdam {
  std::shared_ptr<nn::Module> model = testing::export_cnn();
  std::unique_ptr<optim::Adam> opt = std::make_unique<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = 1e-2});
  Tensor x = make_input({8, 3, 8, 8}, DType::Float32, 1);
  Tensor y = tensor(std::vector<int64_t>{0, 1, 2, 3, 0, 1, 2, 3}, {8});
  std::optional<CompiledFunction> train, infer;
  std::shared_ptr<const graph::Graph> training_graph;

  CnnWithAdam() {
    model->train();
    testing::cross_entropy_step(*model, *opt)({x, y});  // an eager step creates Adam's moments
    StateDict names = model->state_dict();
    for (auto& kv : opt->state_dict()) names.push_back(kv);
    train.emplace(
        compile(testing::cross_entropy_step(*model, *opt), {.dynamic = {{0, 0}, {1, 0}}, .state_names = names}));
    (*train)({x, y});
    (*train)({x, y});                           // traced
    training_graph = train->graph_for({x, y});  // while in training mode: the graph's guard
    model->eval();
    infer.emplace(compile([this](const Tensors& in) { return Tensors{model->forward(in[0])}; },
                          {.dynamic = {{0, 0}}, .state_names = model->state_dict()}));
  }
  ExportOptions options() const {
    return {.metadata = {{"dataset", "synthetic"}, {"epoch", "3"}},
            .include_training = true,
            .training_graph = training_graph};
  }
};

TEST_CASE("export: export -> load -> export gives identical bytes", "[export]") {
  CnnWithAdam c;
  const ExportOptions o = c.options();
  REQUIRE(o.training_graph != nullptr);
  testing::TempPath first, second, third;
  export_model(*c.infer, {c.x}, first.str(), o);
  const std::vector<std::byte> a = read_bytes(first.str());
  for (const char* graph : {"inference", "training"}) {
    INFO(graph);
    const runtime::Model m = runtime::Model::load(first.str(), graph);
    CHECK(m.graph_names() == std::vector<std::string>{"inference", "training"});
    CHECK(m.metadata().user == o.metadata);
    m.save(second.str());
    CHECK(read_bytes(second.str()) == a);
  }
  // Through the public exporter too, with the loaded metadata.
  const runtime::Model m = runtime::Model::load(first.str());
  ExportOptions again{.metadata = m.metadata().user,
                      .output_names = {m.signature().outputs[0].name},
                      .producer = m.metadata().producer,
                      .created_unix = m.metadata().created_unix};
  export_graph(m.graph(), third.str(), again);
  const runtime::Model m3 = runtime::Model::load(third.str());
  CHECK(m3.graph_names() == std::vector<std::string>{"inference"});
  m3.save(second.str());
  CHECK(read_bytes(second.str()) == read_bytes(third.str()));
  // And the inference-only file equals what the first one's inference graph gives on its own.
  const std::vector<std::byte> b = export_graph_bytes(m.graph(), again);
  CHECK(b == read_bytes(third.str()));
}

}  // namespace
}  // namespace doppel
