#pragma once
// The model file's encoder and validating decoder (layout: graph/FORMAT.md). Internal to
// doppel_graph_runtime; export_model (doppel_graph) and Model use it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "doppel/graph/ir.h"
#include "doppel/runtime/model.h"

namespace doppel::runtime::detail {

inline constexpr char kMagic[8] = {'D', 'O', 'P', 'P', 'E', 'L', 'M', 'F'};
inline constexpr uint32_t kFormatVersion = 3;  // what the writer writes; the reader also reads 1 and 2
inline constexpr uint64_t kHeaderBytes = 64;
inline constexpr uint64_t kWeightAlign = 64;  // every weight blob starts at a multiple of this
// Weight flags. A wrapped number is a C++ scalar captured as a 0-d constant (`x * 0.5`); type
// promotion treats it as a number, not a tensor, so the flag is part of the graph's meaning.
inline constexpr uint8_t kWeightWrappedNumber = 1;

// One named graph of a file with the names its outputs are served under.
struct FileGraph {
  std::string name;
  std::shared_ptr<const graph::Graph> graph;
  std::vector<std::string> output_names;
};

struct FileContents {
  Metadata metadata;
  std::vector<FileGraph> graphs;
};

// A file as the writer lays it out: the bytes before the data region (header, metadata, zero
// padding) and the weights (dense) that fill it, each at its offset within the region.
// Weights are deduplicated by identity across graphs (a parameter that the inference and the
// training graph share is stored once) and laid out in first-use order, so encoding a decoded
// file gives the same bytes.
struct EncodedModel {
  struct Blob {
    Tensor dense;
    uint64_t offset = 0;
  };
  std::vector<std::byte> head;
  std::vector<Blob> blobs;
  uint64_t data_size = 0;
};
EncodedModel encode_model_parts(const FileContents& contents);

// The file's bytes in one buffer (Model::from_bytes, the parity check, tests).
std::vector<std::byte> encode_model(const FileContents& contents);

// Writes the file to `path` atomically without assembling it in memory (io::AtomicFileWriter).
void write_model(const FileContents& contents, const std::string& path);

// Validates and decodes `bytes` (FormatError naming the defect otherwise), verifying a version
// 2 file's checksums unless `verify_checksums` is false. State and constant tensors reference
// `bytes` in place and keep `owner` alive; the state tensors that the graph named
// `writable_graph` updates are copied instead (the bytes may be a read-only mapping).
FileContents decode_model(std::span<const std::byte> bytes, std::shared_ptr<const void> owner,
                          const std::string& writable_graph, bool verify_checksums = true);

// Checks every node's shapes and dtypes against its op's inference at these symbol bindings
// (and that no value is absurdly large); FormatError naming the node otherwise.
void check_node_shapes(const graph::Graph& g, std::span<const int64_t> bindings, const std::string& graph_name);

// "f32[batch, 1, 28, 28]"-style spec of a graph value.
TensorSpec spec_of(const graph::Graph& g, graph::ValueId v, std::string name);

}  // namespace doppel::runtime::detail
