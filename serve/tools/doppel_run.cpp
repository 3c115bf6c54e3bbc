// doppel-run: runs an exported model file on .npy / safetensors inputs, prints its signature,
// benchmarks it (latency percentiles and throughput), converts it to ONNX, or generates
// tokens greedily from a decoder file (models::export_decoder). See
// serve/README.md.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "doppel/graph/ir.h"
#include "doppel/graph/onnx.h"
#include "doppel/io/atomic_file.h"
#include "doppel/io/safetensors.h"
#include "doppel/runtime/generator.h"
#include "doppel/runtime/model.h"
#include "doppel/serve/cli.h"
#include "doppel/serve/npy.h"

namespace doppel::serve {
namespace {

constexpr std::string_view kUsage =
    "usage: doppel-run MODEL.dpl [--graph NAME] [--graph OUT.svg] [--no-verify] [--no-batch-tiling]\n"
    "                  [--input NAME=X.npy | --input X.npy ...] [--inputs IN.safetensors]\n"
    "                  [--output OUT.npy | --output-dir DIR | --outputs OUT.safetensors]\n"
    "                  [--signature] [--bench [--iterations N] [--warmup N] [--threads T] [--batch B]]\n"
    "                  [--to-onnx OUT.onnx]\n"
    "       doppel-run DECODER.dpl --generate --ids 1,2,3 [--ids 4,5 ...] [--max-new-tokens N] [--eos ID]\n";

struct Options {
  std::string model, graph = "inference";
  std::vector<std::pair<std::string, std::string>> inputs;  // (name or "", path)
  std::string inputs_safetensors, output, output_dir, outputs_safetensors, to_onnx;
  std::string svg;  // --graph OUT.svg: the picture of the selected graph
  bool signature = false, bench = false, verify = true, batch_tiling = true;
  int64_t iterations = 100, warmup = 10, threads = 1, batch = 1;
  // --generate: one prompt per --ids (a batch of rows of any lengths)
  bool generate = false;
  std::vector<std::vector<int64_t>> prompts;
  runtime::GenerateOptions generation;
};

// "1,2,3": token ids, each in [0, 2^62].
std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    ids.push_back(parse_int_flag("--ids", std::string_view(text).substr(start, comma - start), 0, int64_t(1) << 62));
    start = comma + 1;
  }
  return ids;
}

Options parse_args(int argc, char** argv) {
  Options o;
  bool bench_flag_seen = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage.data(), stdout);
      std::exit(0);
    } else if (a == "--graph") {
      const std::string v = flag_value(argc, argv, i);
      (v.ends_with(".svg") ? o.svg : o.graph) = v;
    } else if (a == "--input") {
      const std::string v = flag_value(argc, argv, i);
      const size_t eq = v.find('=');
      if (eq == std::string::npos)
        o.inputs.emplace_back("", v);
      else
        o.inputs.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--inputs") {
      o.inputs_safetensors = flag_value(argc, argv, i);
    } else if (a == "--output") {
      o.output = flag_value(argc, argv, i);
    } else if (a == "--output-dir") {
      o.output_dir = flag_value(argc, argv, i);
    } else if (a == "--outputs") {
      o.outputs_safetensors = flag_value(argc, argv, i);
    } else if (a == "--to-onnx") {
      o.to_onnx = flag_value(argc, argv, i);
    } else if (a == "--generate") {
      o.generate = true;
    } else if (a == "--ids") {
      o.prompts.push_back(parse_ids(flag_value(argc, argv, i)));
    } else if (a == "--max-new-tokens") {
      o.generation.max_new_tokens = parse_int_flag(a, flag_value(argc, argv, i), 0, 1'000'000);
    } else if (a == "--eos") {
      o.generation.eos_token_id = parse_int_flag(a, flag_value(argc, argv, i), 0, int64_t(1) << 62);
    } else if (a == "--no-verify") {
      o.verify = false;
    } else if (a == "--no-batch-tiling") {
      o.batch_tiling = false;
    } else if (a == "--signature") {
      o.signature = true;
    } else if (a == "--bench") {
      o.bench = true;
    } else if (a == "--iterations" || a == "--warmup" || a == "--threads" || a == "--batch") {
      const std::string v = flag_value(argc, argv, i);
      bench_flag_seen = true;
      if (a == "--iterations") o.iterations = parse_int_flag(a, v, 1, 100'000'000);
      if (a == "--warmup") o.warmup = parse_int_flag(a, v, 0, 100'000'000);
      if (a == "--threads") o.threads = parse_int_flag(a, v, 1, 1024);
      if (a == "--batch") o.batch = parse_int_flag(a, v, 1, 1'000'000);
    } else if (a.starts_with("-")) {
      throw UsageError(fmt::format("unknown option '{}'", a));
    } else if (o.model.empty()) {
      o.model = a;
    } else {
      throw UsageError(fmt::format("unexpected argument '{}' (one model file only)", a));
    }
  }
  if (o.model.empty()) throw UsageError("no model file given");
  if (bench_flag_seen && !o.bench) throw UsageError("--iterations/--warmup/--threads/--batch need --bench");
  if (int(!o.output.empty()) + int(!o.output_dir.empty()) + int(!o.outputs_safetensors.empty()) > 1)
    throw UsageError("give at most one of --output, --output-dir, --outputs");
  if (o.generate && o.prompts.empty()) throw UsageError("--generate needs at least one --ids prompt");
  if (!o.generate && !o.prompts.empty()) throw UsageError("--ids needs --generate");
  if (!o.inputs.empty() && !o.inputs_safetensors.empty())
    throw UsageError("give inputs either as --input files or as one --inputs safetensors file");
  return o;
}

// The inputs in signature order, from --input / --inputs; nullopt when none were given.
std::optional<std::vector<Tensor>> read_inputs(const Options& o, const runtime::Signature& sig) {
  const auto& specs = sig.inputs;
  auto index_of = [&](const std::string& name, std::string_view source) {
    for (size_t k = 0; k < specs.size(); ++k)
      if (specs[k].name == name) return k;
    std::string names;
    for (const auto& s : specs) names += (names.empty() ? "" : ", ") + s.name;
    throw UsageError(fmt::format("{} names input '{}', but the model's inputs are: {}", source, name, names));
  };
  std::vector<Tensor> in(specs.size());
  if (!o.inputs_safetensors.empty()) {
    const auto file = io::load_safetensors(o.inputs_safetensors);
    for (const auto& [name, t] : file.tensors) in[index_of(name, o.inputs_safetensors)] = t;
  } else if (!o.inputs.empty()) {
    size_t next_positional = 0;
    for (const auto& [name, path] : o.inputs) {
      size_t k;
      if (name.empty()) {
        if (next_positional >= specs.size())
          throw UsageError(fmt::format("more --input files than the model's {} inputs", specs.size()));
        k = next_positional++;
      } else {
        k = index_of(name, "--input " + name + "=" + path);
      }
      if (in[k].defined()) throw UsageError(fmt::format("input '{}' is given twice", specs[k].name));
      in[k] = load_npy(path);
    }
  } else {
    return std::nullopt;
  }
  for (size_t k = 0; k < specs.size(); ++k)
    if (!in[k].defined()) throw UsageError(fmt::format("input '{}' ({}) is missing", specs[k].name, specs[k].str()));
  return in;
}

// Random inputs matching the signature, every symbolic dimension set to `batch`.
std::vector<Tensor> random_inputs(const runtime::Signature& sig, int64_t batch) {
  std::mt19937_64 rng(42);
  std::vector<Tensor> in;
  for (const auto& spec : sig.inputs) {
    Shape shape;
    for (const auto& d : spec.shape) shape.push_back(d.size >= 0 ? d.size : batch);
    Tensor t = make_tensor(shape, spec.dtype);
    DOPPEL_DISPATCH_ALL(spec.dtype, "doppel-run --bench", [&]<typename T>() {
      T* p = t.data_ptr<T>();
      for (int64_t i = 0; i < t.numel(); ++i) {
        if constexpr (std::is_same_v<T, bool>)
          p[i] = (rng() & 1) != 0;
        else if constexpr (std::is_integral_v<T>)
          p[i] = T(rng() % 10);  // small non-negative values: valid as indices and class ids
        else
          p[i] = T(std::uniform_real_distribution<float>(-1, 1)(rng));
      }
    });
    in.push_back(t);
  }
  return in;
}

void write_outputs(const Options& o, const runtime::Signature& sig, const std::vector<Tensor>& out) {
  if (!o.outputs_safetensors.empty()) {
    StateDict sd;
    for (size_t k = 0; k < out.size(); ++k) sd.emplace_back(sig.outputs[k].name, out[k]);
    io::save_safetensors(o.outputs_safetensors, sd);
  } else if (!o.output_dir.empty()) {
    std::filesystem::create_directories(o.output_dir);
    for (size_t k = 0; k < out.size(); ++k) {
      // The name comes from the model file: the loader admits safe identifiers only (no '/',
      // no "..", no NUL), checked again here because it becomes a file name.
      const std::string& name = sig.outputs[k].name;
      if (!runtime::is_safe_name(name))
        throw FormatError(
            fmt::format("output {} of the model has a name that is not a safe identifier; refusing to "
                        "use it as a file name in --output-dir",
                        k));
      save_npy((std::filesystem::path(o.output_dir) / (name + ".npy")).string(), out[k]);
    }
  } else if (!o.output.empty()) {
    if (out.size() != 1)
      throw UsageError(fmt::format("the model has {} outputs; use --output-dir or --outputs", out.size()));
    save_npy(o.output, out[0]);
  } else {
    for (size_t k = 0; k < out.size(); ++k) std::printf("%s = %s\n", sig.outputs[k].name.c_str(), out[k].str().c_str());
  }
}

// A one-line progress bar on stderr, redrawn in place on a terminal, else printed at the end.
class Progress {
 public:
  explicit Progress(int64_t total) : total_(total), tty_(::isatty(2) != 0) {}
  void tick() {
    const int64_t d = ++done_;
    if (!tty_ || (d % std::max<int64_t>(1, total_ / 50) != 0 && d != total_)) return;
    std::lock_guard lock(mu_);
    const int width = 30, filled = int(width * d / total_);
    std::fprintf(stderr, "\rbench [%s%s] %lld/%lld", std::string(size_t(filled), '#').c_str(),
                 std::string(size_t(width - filled), '.').c_str(), (long long)d, (long long)total_);
    if (d == total_) std::fputc('\n', stderr);
  }

 private:
  int64_t total_;
  bool tty_;
  std::atomic<int64_t> done_{0};
  std::mutex mu_;
};

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const size_t lo = size_t(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

void bench(const Options& o, const runtime::Model& model, const std::vector<Tensor>& inputs) {
  int64_t batch = o.batch;
  if (!inputs.empty() && inputs[0].dim() > 0) batch = inputs[0].size(0);  // given inputs set the batch
  for (int64_t i = 0; i < o.warmup; ++i) (void)model.run(inputs);
  std::vector<double> latencies(size_t(o.iterations));
  std::atomic<int64_t> next{0};
  Progress progress(o.iterations);
  const auto t0 = std::chrono::steady_clock::now();
  auto worker = [&] {
    for (int64_t i; (i = next++) < o.iterations;) {
      const auto s = std::chrono::steady_clock::now();
      (void)model.run(inputs);
      latencies[size_t(i)] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count();
      progress.tick();
    }
  };
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < o.threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double mean = 0;
  for (const double l : latencies) mean += l;
  mean /= double(latencies.size());
  std::printf("bench: %lld iterations (%lld warmup), batch %lld, %lld threads\n", (long long)o.iterations,
              (long long)o.warmup, (long long)batch, (long long)o.threads);
  std::printf("latency ms: p50 %.4f  p90 %.4f  p99 %.4f  mean %.4f\n", percentile(latencies, 0.5),
              percentile(latencies, 0.9), percentile(latencies, 0.99), mean);
  std::printf("throughput: %.1f samples/s (%.1f runs/s)\n", double(o.iterations * batch) / wall,
              double(o.iterations) / wall);
}

int run_main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  if (o.generate) {
    // One line per prompt: its generated ids (up to and including eos).
    const auto generator = runtime::Generator::load(o.model, {.verify_checksums = o.verify});
    for (const auto& ids : generator.generate(o.prompts, o.generation))
      std::printf("%s\n", fmt::format("{}", fmt::join(ids, ",")).c_str());
    return 0;
  }
  const runtime::Model model =
      runtime::Model::load(o.model, o.graph, {.verify_checksums = o.verify, .batch_tiling = o.batch_tiling});
  if (o.signature) std::fputs(describe_model(model).c_str(), stdout);
  if (!o.svg.empty()) {
    io::AtomicFileWriter f(o.svg);
    f.write(graph::to_svg(model.graph()));
    f.commit();
    std::printf("wrote %s (graph '%s')\n", o.svg.c_str(), o.graph.c_str());
  }
  if (!o.to_onnx.empty()) {
    // The file's input and output names carry over, so ONNX callers feed and read the same names.
    onnx::OnnxOptions onnx_options;
    for (const auto& t : model.signature().inputs) onnx_options.input_names.push_back(t.name);
    for (const auto& t : model.signature().outputs) onnx_options.output_names.push_back(t.name);
    onnx::export_onnx(model.graph(), o.to_onnx, onnx_options);
    std::printf("wrote %s (ONNX opset %lld)\n", o.to_onnx.c_str(), (long long)onnx::kOnnxOpset);
  }
  auto inputs = read_inputs(o, model.signature());
  if (o.bench) {
    bench(o, model, inputs ? *inputs : random_inputs(model.signature(), o.batch));
    return 0;
  }
  if (!inputs) {
    if (o.signature || !o.to_onnx.empty() || !o.svg.empty()) return 0;
    throw UsageError("no inputs given (use --input, --inputs, --signature, --bench, --to-onnx or --graph OUT.svg)");
  }
  write_outputs(o, model.signature(), model.run(*inputs));
  return 0;
}

}  // namespace
}  // namespace doppel::serve

int main(int argc, char** argv) {
  return doppel::serve::run_tool("doppel-run", doppel::serve::kUsage, doppel::serve::run_main, argc, argv);
}
