#include "doppel/serve/cli.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <span>
#include <vector>

#include "doppel/io/regular_file.h"
#include "doppel/runtime/generator.h"

namespace doppel::serve {

std::string flag_value(int argc, char** argv, int& i) {
  if (i + 1 >= argc) throw UsageError(fmt::format("{} needs a value", argv[i]));
  return argv[++i];
}

int64_t parse_int_flag(std::string_view flag, std::string_view text, int64_t min, int64_t max) {
  int64_t v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < min || v > max)
    throw UsageError(fmt::format("{} takes a whole number in [{}, {}], got '{}'", flag, min, max, text));
  return v;
}

namespace {

ServedTensor served_tensor(const runtime::TensorSpec& spec) {
  ServedTensor t{spec.name, spec.dtype, {}, {}};
  for (const auto& d : spec.shape) {
    t.shape.push_back(d.size >= 0 ? d.size : -1);
    t.symbols.push_back(d.size >= 0 ? "" : d.symbol);
  }
  return t;
}

}  // namespace

runtime::Model load_model_copy(const std::string& path, const std::string& graph, const runtime::LoadOptions& options) {
  // RegularFile refuses a FIFO or a device before reading and bounds the read by the size.
  const std::vector<uint8_t> bytes = io::RegularFile(path, "model file").read_all();
  try {
    return runtime::Model::from_bytes(std::as_bytes(std::span(bytes)), graph, options);
  } catch (const FormatError& e) {
    throw FormatError(fmt::format("model file '{}': {}", path, e.what()));
  }
}

ServedModel served_model(std::shared_ptr<const runtime::Model> model, std::string name) {
  ServedModel m;
  m.name = std::move(name);
  for (const auto& in : model->signature().inputs) m.inputs.push_back(served_tensor(in));
  for (const auto& out : model->signature().outputs) m.outputs.push_back(served_tensor(out));
  m.run = [model](const std::vector<Tensor>& inputs) { return model->run(inputs); };
  return m;
}

ServedModel load_served_model(const std::string& path, const std::string& graph, const runtime::LoadOptions& options,
                              std::string name) {
  auto model = std::make_shared<const runtime::Model>(load_model_copy(path, graph, options));
  ServedModel served = served_model(model, std::move(name));
  const auto graphs = model->graph_names();
  if (graph != "inference" || std::find(graphs.begin(), graphs.end(), "decode") == graphs.end()) return served;
  auto generator = std::make_shared<const runtime::Generator>(
      model, std::make_shared<const runtime::Model>(load_model_copy(path, "decode", options)));
  served.generate = [generator](const GenerateRequest& r) {
    return generator->generate(r.prompts, {.max_new_tokens = r.max_new_tokens, .eos_token_id = r.eos_token_id});
  };
  return served;
}

std::string describe_model(const runtime::Model& model) {
  std::string out = "inputs:\n";
  for (const auto& t : model.signature().inputs) out += "  " + t.str() + "\n";
  out += "outputs:\n";
  for (const auto& t : model.signature().outputs) out += "  " + t.str() + "\n";
  const auto& md = model.metadata();
  out += fmt::format("format version: {}\nproducer: {}\n", md.format_version, md.producer);
  if (md.created_unix > 0) {
    const std::time_t t = std::time_t(md.created_unix);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    out += fmt::format("created: {}\n", buf);
  }
  out += fmt::format("graphs: {}\n", fmt::join(model.graph_names(), ", "));
  for (const auto& [k, v] : md.user) out += fmt::format("metadata {}: {}\n", k, v);
  return out;
}

namespace {

// The doppel error class of `e`, so messages read "FormatError: ..." as in Python.
std::string_view error_kind(const std::exception& e) {
  if (dynamic_cast<const FormatError*>(&e)) return "FormatError";
  if (dynamic_cast<const ShapeError*>(&e)) return "ShapeError";
  if (dynamic_cast<const DTypeError*>(&e)) return "DTypeError";
  if (dynamic_cast<const ValueError*>(&e)) return "ValueError";
  if (dynamic_cast<const OutOfMemoryError*>(&e)) return "OutOfMemoryError";
  if (dynamic_cast<const Error*>(&e)) return "Error";
  return "error";
}

}  // namespace

int run_tool(std::string_view tool, std::string_view usage, int (*f)(int, char**), int argc, char** argv) {
  try {
    return f(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%.*s: %s\n%.*s", int(tool.size()), tool.data(), e.what(), int(usage.size()), usage.data());
    return 2;
  } catch (const std::exception& e) {
    const std::string_view kind = error_kind(e);
    std::fprintf(stderr, "%.*s: %.*s: %s\n", int(tool.size()), tool.data(), int(kind.size()), kind.data(), e.what());
    return 1;
  }
}

}  // namespace doppel::serve
