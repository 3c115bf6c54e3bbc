// runtime::Model: a model file mapped into memory, validated, planned and run by one Executor.
#include "doppel/runtime/model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <ranges>
#include <set>

#include "doppel/graph/executor.h"
#include "doppel/io/regular_file.h"
#include "model_file.h"

namespace doppel::runtime {

namespace {

std::string_view short_dtype_name(DType t) {
  switch (t) {
    case DType::Float32:
      return "f32";
    case DType::Float64:
      return "f64";
    case DType::BFloat16:
      return "bf16";
    case DType::Float16:
      return "f16";
    case DType::Int8:
      return "i8";
    case DType::UInt8:
      return "u8";
    case DType::Int32:
      return "i32";
    case DType::Int64:
      return "i64";
    case DType::Bool:
      return "bool";
  }
  return "?";
}

// A read-only mapping of a whole file, unmapped when the last tensor referencing it goes.
struct Mapping {
  void* data = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (data) ::munmap(data, size);
  }
};

std::shared_ptr<const Mapping> map_file(const std::string& path) {
  std::unique_ptr<io::RegularFile> file;
  try {
    file = std::make_unique<io::RegularFile>(path, "model file");  // a FIFO or device is refused, not waited on
  } catch (const ValueError& e) {
    throw FormatError(e.what());
  }
  auto m = std::make_shared<Mapping>();
  m->size = size_t(file->size());
  if (m->size > 0) {
    void* p = ::mmap(nullptr, m->size, PROT_READ, MAP_PRIVATE, file->fd(), 0);
    if (p == MAP_FAILED)
      throw FormatError(fmt::format("model file '{}': cannot map {} bytes: {}", path, m->size, std::strerror(errno)));
    m->data = p;
  }
  return m;
}

// A 64-byte aligned private copy (what from_bytes loads from).
struct Buffer {
  std::byte* data = nullptr;
  size_t size = 0;
  explicit Buffer(std::span<const std::byte> bytes) : size(bytes.size()) {
    data = static_cast<std::byte*>(::operator new(std::max<size_t>(size, 1), std::align_val_t(detail::kWeightAlign)));
    if (size) std::memcpy(data, bytes.data(), size);
  }
  ~Buffer() { ::operator delete(data, std::align_val_t(detail::kWeightAlign)); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

}  // namespace

std::string TensorSpec::str() const {
  std::string dims;
  for (size_t k = 0; k < shape.size(); ++k)
    dims += (k ? ", " : "") + (shape[k].size >= 0 ? std::to_string(shape[k].size) : shape[k].symbol);
  return fmt::format("{}: {}[{}]", name, short_dtype_name(dtype), dims);
}

struct Model::Impl {
  detail::FileContents contents;
  size_t selected = 0;
  Signature signature;
  std::unique_ptr<graph::Executor> executor;
  // Symbol bindings whose node shapes have been checked against the ops' inference.
  mutable std::mutex checked_mu;
  mutable std::set<std::vector<int64_t>> checked;

  const detail::FileGraph& file_graph() const { return contents.graphs[selected]; }
  const graph::Graph& graph() const { return *file_graph().graph; }
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::make(std::span<const std::byte> bytes, std::shared_ptr<const void> owner, const std::string& name,
                  const std::string& origin, const LoadOptions& options) {
  auto impl = std::make_unique<Impl>();
  try {
    impl->contents = detail::decode_model(bytes, std::move(owner), name, options.verify_checksums);
  } catch (const FormatError& e) {
    if (origin.empty()) throw;
    throw FormatError(fmt::format("{} ('{}')", e.what(), origin));
  }
  std::vector<std::string> names;
  for (const auto& fg : impl->contents.graphs) names.push_back(fg.name);
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end())
    throw FormatError(fmt::format("model file{}: has no graph '{}' (it has: {})",
                                  origin.empty() ? "" : " '" + origin + "'", name, fmt::join(names, ", ")));
  impl->selected = size_t(it - names.begin());
  const graph::Graph& g = impl->graph();
  for (graph::ValueId v : g.inputs()) impl->signature.inputs.push_back(detail::spec_of(g, v, g.value(v).name));
  for (size_t k = 0; k < g.outputs().size(); ++k)
    impl->signature.outputs.push_back(detail::spec_of(g, g.outputs()[k], impl->file_graph().output_names[k]));
  try {
    impl->executor = std::make_unique<graph::Executor>(
        impl->file_graph().graph, graph::ExecutorOptions{.tiling = {.enabled = options.batch_tiling}});
  } catch (const InternalError& e) {  // the verifier: decode_model already ran it, kept for safety
    throw FormatError(fmt::format("model file: graph '{}' is inconsistent: {}", name, e.what()));
  }
  impl->checked.insert(g.example_bindings());
  return Model(std::move(impl));
}

Model Model::load(const std::string& path, const std::string& graph, const LoadOptions& options) {
  auto m = map_file(path);
  std::span<const std::byte> bytes(static_cast<const std::byte*>(m->data), m->size);
  return make(bytes, m, graph, path, options);
}

Model Model::from_bytes(std::span<const std::byte> bytes, const std::string& graph, const LoadOptions& options) {
  auto b = std::make_shared<Buffer>(bytes);
  return make(std::span<const std::byte>(b->data, b->size), b, graph, {}, options);
}

const Signature& Model::signature() const { return impl_->signature; }
const Metadata& Model::metadata() const { return impl_->contents.metadata; }
const std::string& Model::graph_name() const { return impl_->file_graph().name; }
const graph::Graph& Model::graph() const { return impl_->graph(); }

graph::PlanInfo Model::plan_info(const std::vector<Tensor>& inputs) const { return impl_->executor->plan_info(inputs); }

std::vector<std::string> Model::graph_names() const {
  std::vector<std::string> out;
  for (const auto& fg : impl_->contents.graphs) out.push_back(fg.name);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Model::weights() const {
  const graph::Graph& g = impl_->graph();
  std::vector<std::pair<std::string, Tensor>> out;
  for (size_t k = 0; k < g.state().size(); ++k) out.emplace_back(g.value(g.state_values()[k]).name, g.state()[k]);
  return out;
}

std::vector<Tensor> Model::run(const std::vector<Tensor>& inputs) const {
  const graph::Graph& g = impl_->graph();
  const auto& specs = impl_->signature.inputs;
  DOPPEL_CHECK(inputs.size() == specs.size(), "model '{}' graph: expected {} inputs ({}), got {}", graph_name(),
               specs.size(), fmt::join(specs | std::views::transform(&TensorSpec::str), "; "), inputs.size());
  std::vector<int64_t> bindings(g.symbols().size(), -1);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const TensorSpec& spec = specs[k];
    const Tensor& t = inputs[k];
    DOPPEL_CHECK(t.defined(), "model input '{}' is undefined (expected {})", spec.name, spec.str());
    DOPPEL_CHECK_DTYPE(t.dtype() == spec.dtype, "model input '{}' has dtype {}, expected {}", spec.name,
                       dtype_name(t.dtype()), spec.str());
    DOPPEL_CHECK_DEVICE(t.device().is_cpu(), "model input '{}' is on {}, expected a CPU tensor ({})", spec.name,
                        t.device().str(), spec.str());
    DOPPEL_CHECK_SHAPE(t.dim() == int64_t(spec.shape.size()), "model input '{}' has shape {}, expected rank {}: {}",
                       spec.name, shape_str(t.shape()), spec.shape.size(), spec.str());
    const graph::Value& v = g.value(g.inputs()[k]);
    for (size_t d = 0; d < v.shape.size(); ++d) {
      const graph::SymDim& s = v.shape[d];
      const int64_t n = t.size(int64_t(d));
      if (s.is_static()) {
        DOPPEL_CHECK_SHAPE(n == s.constant, "model input '{}' has shape {}, expected {} (dim {} must be {})", spec.name,
                           shape_str(t.shape()), spec.str(), d, s.constant);
        continue;
      }
      const bool fits = n >= s.constant && (n - s.constant) % s.coef == 0;
      DOPPEL_CHECK_SHAPE(fits, "model input '{}' has shape {}, expected {} (dim {} = {} is not of the form {})",
                         spec.name, shape_str(t.shape()), spec.str(), d, n, s.str(g.symbols()));
      const int64_t val = (n - s.constant) / s.coef;
      int64_t& b = bindings[size_t(s.sym)];
      DOPPEL_CHECK_SHAPE(b < 0 || b == val,
                         "model input '{}' has shape {}, expected {}: '{}' is {} here but {} in an earlier input",
                         spec.name, shape_str(t.shape()), spec.str(), g.symbols()[size_t(s.sym)], val, b);
      b = val;
    }
  }
  for (size_t s = 0; s < bindings.size(); ++s)
    if (bindings[s] < 0) bindings[s] = g.example_bindings()[s];
  // The file's shapes were checked at its example sizes; other sizes get the same check once,
  // before the executor plans buffers from them.
  {
    std::lock_guard lock(impl_->checked_mu);
    if (!impl_->checked.count(bindings)) {
      detail::check_node_shapes(g, bindings, graph_name());
      impl_->checked.insert(bindings);
    }
  }
  return impl_->executor->run(inputs);
}

void Model::save(const std::string& path) const { detail::write_model(impl_->contents, path); }

}  // namespace doppel::runtime
