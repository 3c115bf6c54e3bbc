#pragma once
// doppel::runtime::Model: a model file loaded for inference (or training resumption) without
// the eager layer.
//
// The file format is documented in graph/FORMAT.md. Loading never trusts the file: every
// offset, size, count, dtype, shape, string and node reference is validated, and any defect
// is a FormatError naming what is wrong. load() memory-maps the file and references the
// weights in place; from_bytes() copies (the fuzzer's entry point).
//
// Part of doppel_graph_runtime: links core and kernels only.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "doppel/core/tensor.h"

namespace doppel::graph {
class Graph;
struct PlanInfo;
}  // namespace doppel::graph

namespace doppel::runtime {

// size >= 0: a static dimension; otherwise symbolic (symbol names it, e.g. "batch").
struct DimSpec {
  int64_t size = -1;
  std::string symbol;
};

struct TensorSpec {
  std::string name;
  DType dtype = DType::Float32;
  std::vector<DimSpec> shape;
  std::string str() const;  // "x: f32[batch, 1, 28, 28]"
};

struct Signature {
  std::vector<TensorSpec> inputs, outputs;
};

struct Metadata {
  uint32_t format_version = 0;
  std::string producer;
  int64_t created_unix = 0;
  std::vector<std::pair<std::string, std::string>> user;
};

// Graph, input and output names are safe identifiers (graph/FORMAT.md, "Names"):
// [A-Za-z_][A-Za-z0-9_.:-]*, at most kMaxNameBytes bytes, without "..". They never hold a path
// separator, a NUL or a leading '-' or '.', so a name plus an extension is a file name that
// stays in its folder. The loader refuses other names with a FormatError; export with a
// ValueError.
inline constexpr size_t kMaxNameBytes = 128;
bool is_safe_name(std::string_view name);

struct LoadOptions {
  // Version 2 files carry CRC-32C checksums of the header, the metadata and every weight
  // (graph/FORMAT.md); verifying them reads each weight once at load. Turn it off only for
  // files you trust: a corrupt weight then loads and changes answers silently.
  bool verify_checksums = true;
  // Batch tiling of the plans (graph::BatchTilingOptions, doppel/graph/executor.h); false: every
  // step runs on the whole batch.
  bool batch_tiling = true;
};

class Model {
 public:
  // FormatError on any defect; memory-maps the file (weights are referenced in place). A FIFO,
  // device or folder is refused at once.
  static Model load(const std::string& path, const std::string& graph = "inference", const LoadOptions& options = {});
  // Copies the bytes; used by the fuzzer and tests.
  static Model from_bytes(std::span<const std::byte> bytes, const std::string& graph = "inference",
                          const LoadOptions& options = {});

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const Signature& signature() const;
  const Metadata& metadata() const;
  std::vector<std::string> graph_names() const;  // {"inference"} or {"inference", "training"}
  const std::string& graph_name() const;         // the graph this Model runs
  // Named state tensors (parameter names from the trace's state_names), in file order. For a
  // training graph they are the live state: run() updates them.
  std::vector<std::pair<std::string, Tensor>> weights() const;

  // Validates inputs against the signature (count, dtype, rank, static dims, consistent
  // symbols) with ShapeError/DTypeError naming the input and the expected spec. Thread-safe:
  // concurrent callers run in parallel (one Executor, its context pool). A training graph's
  // runs update the state (serialize such callers yourself).
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) const;

  // The loaded graph (state bound to the file's weights), e.g. to re-export it.
  const graph::Graph& graph() const;
  // The executor's plan for inputs like these (doppel/graph/executor.h; built if needed, not run).
  graph::PlanInfo plan_info(const std::vector<Tensor>& inputs) const;
  // The whole file's content re-encoded (every graph, current state): load -> save gives
  // identical bytes when nothing ran.
  void save(const std::string& path) const;

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  // Decodes `bytes` (kept alive by `owner`); `origin` names the file in errors.
  static Model make(std::span<const std::byte> bytes, std::shared_ptr<const void> owner, const std::string& graph,
                    const std::string& origin, const LoadOptions& options);
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::runtime
