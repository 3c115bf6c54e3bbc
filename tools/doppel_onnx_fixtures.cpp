// doppel-onnx-fixtures: builds the ONNX-export test models with fixed seeds, compiles each for
// inference with a dynamic batch, and writes what tests/python/test_onnx_export.py and
// bench/onnx_runtime_bench.py compare onnxruntime against.
//
//   doppel-onnx-fixtures write OUTDIR
//       for each model (mlp, cnn, transformer, activations): <model>.onnx (the graph as traced),
//       <model>_opt.onnx (after the inference pass pipeline, exported before layout
//       propagation: blocked layouts are oneDNN's business, not ONNX's), and for batch 1 and 7
//       <model>_b<N>_input.npy / <model>_b<N>_output.npy (doppel's eager output).
//   doppel-onnx-fixtures print MODEL            the raw and optimized graphs as text
//   doppel-onnx-fixtures time MODEL BATCH THREADS REPS
//       times Executor::run_into on the optimized graph (the one <model>_opt.onnx holds) and
//       prints one JSON line {"model", "batch", "threads", "median_ms", "reps"}; each repetition
//       is sized to ~0.1 s and reports its mean time per call.
//
// Exit status: 0 ok, 1 error (message on stderr).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "doppel/doppel.h"
#include "doppel/graph/compile.h"
#include "doppel/graph/onnx.h"
#include "doppel/kernels/parallel.h"
#include "doppel/nn/nn.h"
#include "fashion_mnist_cnn.h"

namespace {

using namespace doppel;
using Tensors = std::vector<Tensor>;

// mlp: Flatten, Linear 784-512, ReLU, Linear 512-512, ReLU, Linear 512-10 (bench/'s MLP).
// cnn: the main job's model (examples/fashion_mnist.cpp), BatchNorm with random statistics.
// transformer: one TransformerEncoderLayer, d_model 32, 4 heads, feed-forward 64, seq 8.
// activations: issue 12's ops that ONNX opset 17 maps: Linear 16-16 layers through hardswish,
// mish, selu, hardtanh, hardsigmoid, relu6 and logsigmoid, plus remainder, fmod, trunc and
// floor_divide of the input (the graph input itself, so both runtimes see the same values at the
// rounding steps).
class Issue12Ops : public nn::Module {
 public:
  Issue12Ops() : nn::Module("Issue12Ops"), chain_(register_module("chain", std::make_shared<nn::Sequential>())) {
    for (const nn::ModulePtr& act : std::initializer_list<nn::ModulePtr>{
             std::make_shared<nn::Hardswish>(), std::make_shared<nn::Mish>(), std::make_shared<nn::SELU>(),
             std::make_shared<nn::Hardtanh>(-0.5, 2.0), std::make_shared<nn::Hardsigmoid>(),
             std::make_shared<nn::ReLU6>(), std::make_shared<nn::LogSigmoid>()})
      chain_->push_back(std::make_shared<nn::Linear>(16, 16)).push_back(act);
  }
  Tensor forward(const Tensor& x) override {
    return (*chain_)(x) + remainder(x, 0.7) + fmod(x, -0.6) + trunc(x * 3.0) + floor_divide(x, -0.45);
  }

 private:
  std::shared_ptr<nn::Sequential> chain_;
};

struct Model {
  std::shared_ptr<nn::Module> module;
  Shape input_shape;  // without the batch dimension
};

Model make_model(const std::string& kind) {
  manual_seed(kind == "mlp" ? 11 : kind == "cnn" ? 12 : kind == "transformer" ? 13 : 14);
  Model m;
  if (kind == "mlp") {
    m.module = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 512), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Linear>(512, 512), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(512, 10)});
    m.input_shape = {1, 28, 28};
  } else if (kind == "cnn") {
    m.module = examples::make_fashion_mnist_cnn();
    m.input_shape = {1, 28, 28};
    // Untrained batch norms are near identities; random statistics make folding them matter.
    NoGradGuard no_grad;
    for (const auto& [name, t] : m.module->named_buffers())
      if (name.ends_with("running_mean"))
        copy_(t, rand(t.shape()) * 0.4 - 0.2);
      else if (name.ends_with("running_var"))
        copy_(t, rand(t.shape()) + 0.5);
    for (const auto& [name, mod] : m.module->named_modules())
      if (auto bn = std::dynamic_pointer_cast<nn::BatchNorm2d>(mod)) {
        copy_(bn->weight, rand(bn->weight.shape()) + 0.5);
        copy_(bn->bias, rand(bn->bias.shape()) * 0.2 - 0.1);
      }
  } else if (kind == "transformer") {
    m.module = std::make_shared<nn::TransformerEncoderLayer>(
        nn::TransformerEncoderLayerOptions{.d_model = 32, .nhead = 4, .dim_feedforward = 64, .batch_first = true});
    m.input_shape = {8, 32};
  } else if (kind == "activations") {
    m.module = std::make_shared<Issue12Ops>();
    m.input_shape = {16};
  } else {
    DOPPEL_CHECK(false, "doppel-onnx-fixtures: unknown model '{}' (mlp, cnn, transformer, activations)", kind);
  }
  m.module->eval();
  return m;
}

Tensor make_input(const Model& m, int64_t batch, uint64_t seed) {
  manual_seed(seed);
  Shape shape{batch};
  for (int64_t d : m.input_shape) shape.push_back(d);
  return randn(shape);
}

// The model's forward for inference, compiled with the batch dynamic; `optimized` runs the
// inference pass pipeline up to (not including) layout propagation.
CompiledFunction compile_model(const Model& m, bool optimized) {
  graph::PassOptions passes{.enabled = optimized, .inference = true, .disabled = {"layout_propagation"}};
  auto names = m.module->named_parameters();
  for (auto& b : m.module->named_buffers()) names.push_back(b);
  return compile(
      [module = m.module](const Tensors& in) {
        NoGradGuard no_grad;
        return Tensors{(*module)(in[0])};
      },
      {.dynamic = {{0, 0, "batch"}}, .state_names = names, .passes = passes});
}

// The graph serving `example`: compile() runs the first call eagerly and traces on the second.
std::shared_ptr<const graph::Graph> traced_graph(CompiledFunction& f, const Tensor& example) {
  f({example});
  f({example});
  auto g = f.graph_for({example});
  DOPPEL_CHECK(g != nullptr, "doppel-onnx-fixtures: compile() traced no graph after two calls");
  return g;
}

// ---- A minimal .npy writer (format 1.0, little-endian float32, C order): all the fixtures need.
void write_npy(const std::filesystem::path& path, const Tensor& t) {
  DOPPEL_CHECK(t.dtype() == DType::Float32, "write_npy: {} is {}, only float32 is written", path.string(),
               dtype_name(t.dtype()));
  std::string shape = "(";
  for (int64_t d : t.shape()) shape += std::to_string(d) + ",";
  if (t.dim() > 1) shape.pop_back();
  shape += ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  // magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  const Tensor c = contiguous_of(t);
  std::ofstream f(path, std::ios::binary);
  const uint16_t len = uint16_t(header.size());
  f.write("\x93NUMPY\x01\x00", 8);
  f.put(char(len & 0xff)).put(char(len >> 8));
  f.write(header.data(), std::streamsize(header.size()));
  f.write(static_cast<const char*>(c.raw_data()), std::streamsize(c.nbytes()));
  DOPPEL_CHECK(f.good(), "write_npy: could not write {}", path.string());
}

// The executor's output against eager's, before anything is timed: a wrong graph has no figure.
void check_close(const Tensor& got, const Tensor& want, const char* what) {
  const Tensor g = contiguous_of(got), w = contiguous_of(want);
  DOPPEL_CHECK(g.shape() == w.shape(), "{}: shape {} differs from eager's {}", what, shape_str(g.shape()),
               shape_str(w.shape()));
  const float* pg = g.data_ptr<float>();
  const float* pw = w.data_ptr<float>();
  for (int64_t k = 0; k < g.numel(); ++k)
    DOPPEL_CHECK(std::abs(pg[k] - pw[k]) <= 1e-5f + 1e-4f * std::abs(pw[k]), "{}: element {} is {}, eager's is {}",
                 what, k, pg[k], pw[k]);
}

Tensor eager_forward(const Model& m, const Tensor& x) {
  NoGradGuard no_grad;
  return (*m.module)(x);
}

const char* const kModels[] = {"mlp", "cnn", "transformer", "activations"};

int write_fixtures(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  for (const char* kind : kModels) {
    const Model m = make_model(kind);
    const Tensor example = make_input(m, 7, 100);
    for (bool optimized : {false, true}) {
      CompiledFunction f = compile_model(m, optimized);
      const auto g = traced_graph(f, example);
      const std::string file = std::string(kind) + (optimized ? "_opt" : "") + ".onnx";
      onnx::export_onnx(*g, (dir / file).string(), {.model_name = std::string(kind) + (optimized ? "_opt" : "")});
    }
    for (int64_t batch : {1, 7}) {
      const Tensor x = make_input(m, batch, 200 + uint64_t(batch));
      const std::string stem = std::string(kind) + "_b" + std::to_string(batch);
      write_npy(dir / (stem + "_input.npy"), x);
      write_npy(dir / (stem + "_output.npy"), eager_forward(m, x));
    }
  }
  return 0;
}

int print_graphs(const std::string& kind) {
  const Model m = make_model(kind);
  const Tensor example = make_input(m, 7, 100);
  for (bool optimized : {false, true}) {
    CompiledFunction f = compile_model(m, optimized);
    std::printf("# %s (%s)\n%s\n", kind.c_str(), optimized ? "optimized" : "traced",
                graph::to_text(*traced_graph(f, example)).c_str());
  }
  return 0;
}

// Times the executor on the optimized graph: warm-up, then REPS repetitions of ~0.1 s each.
int time_model(const std::string& kind, int64_t batch, int threads, int reps) {
  set_num_threads(threads);
  const Model m = make_model(kind);
  CompiledFunction f = compile_model(m, true);
  const Tensor x = make_input(m, batch, 300);
  const Tensors in{x};
  traced_graph(f, x);
  graph::Executor* ex = f.executor_for(in);
  DOPPEL_CHECK(ex != nullptr, "doppel-onnx-fixtures time: no executor for {} at batch {}", kind, batch);
  const Tensor want = eager_forward(m, x);
  const Tensor out = empty(want.shape());
  const Tensor outs[] = {out};
  ex->run_into(in, outs);
  check_close(out, want, "doppel-onnx-fixtures time: the graph's output");
  using clock = std::chrono::steady_clock;
  auto seconds_of = [&](int64_t calls) {
    const auto t0 = clock::now();
    for (int64_t k = 0; k < calls; ++k) ex->run_into(in, outs);
    return std::chrono::duration<double>(clock::now() - t0).count();
  };
  const double one = std::max(seconds_of(3) / 3, 1e-7);
  const int64_t calls = std::max<int64_t>(1, int64_t(0.1 / one));
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) ms.push_back(seconds_of(calls) / double(calls) * 1e3);
  std::sort(ms.begin(), ms.end());
  std::printf("{\"model\": \"%s\", \"batch\": %lld, \"threads\": %d, \"median_ms\": %.6f, \"reps\": %d}\n",
              kind.c_str(), (long long)batch, get_num_threads(), ms[ms.size() / 2], reps);
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: doppel-onnx-fixtures write OUTDIR | print MODEL | time MODEL BATCH THREADS REPS\n"
               "       MODEL: mlp, cnn, transformer, activations\n");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 2 && args[0] == "write") return write_fixtures(args[1]);
    if (args.size() == 2 && args[0] == "print") return print_graphs(args[1]);
    if (args.size() == 5 && args[0] == "time")
      return time_model(args[1], std::stoll(args[2]), std::stoi(args[3]), std::max(1, std::stoi(args[4])));
    return usage();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "doppel-onnx-fixtures: %s\n", e.what());
    return 1;
  }
}
