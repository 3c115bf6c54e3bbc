// Encodes graphs and their weights into the model file (graph/FORMAT.md) and writes it
// atomically, streamed: header and metadata, then each weight straight from its storage.
#include <cstring>
#include <map>

#include "byte_io.h"
#include "doppel/io/atomic_file.h"
#include "doppel/runtime/crc32c.h"
#include "model_file.h"

namespace doppel::runtime::detail {

namespace {

using graph::Graph;
using graph::SymDim;
using graph::SymShape;
using graph::ValueId;

uint64_t align_up(uint64_t n) { return (n + kWeightAlign - 1) / kWeightAlign * kWeightAlign; }

void put_dim(ByteWriter& w, const SymDim& d) {
  // Static dims are written one way only, so equal graphs encode to equal bytes.
  w.i64(d.constant);
  w.i64(d.is_static() ? 0 : d.coef);
  w.i32(d.is_static() ? -1 : d.sym);
}

void put_shape(ByteWriter& w, const SymShape& s) {
  w.count(s.size());
  for (const SymDim& d : s) put_dim(w, d);
}

void put_type(ByteWriter& w, const graph::Value& v) {
  w.u8(uint8_t(v.dtype));
  w.u8(uint8_t(v.device.type));
  w.u8(uint8_t(v.device.index));
  put_shape(w, v.shape);
}

void put_attr(ByteWriter& w, const Attr& a) {
  w.u8(uint8_t(a.kind));
  switch (a.kind) {
    case AttrKind::None:
      break;
    case AttrKind::Int:
    case AttrKind::DType:
    case AttrKind::Device:
      w.i64(a.i);
      break;
    case AttrKind::Bool:
      w.u8(a.i != 0);
      break;
    case AttrKind::Float:
      w.f64(a.f);
      break;
    case AttrKind::Ints:
      w.count(a.ints.size());
      for (int64_t v : a.ints) w.i64(v);
      break;
  }
}

// The weight table: one entry per distinct tensor, in first-use order.
struct WeightTable {
  struct Entry {
    std::string name;
    Tensor tensor;
    uint64_t offset = 0;
  };
  std::vector<Entry> entries;
  std::map<const TensorImpl*, uint32_t> index;

  uint32_t add(const Tensor& t, const std::string& name) {
    auto [it, fresh] = index.emplace(t.impl(), uint32_t(entries.size()));
    if (fresh) entries.push_back({name, t, 0});
    return it->second;
  }
};

void encode_graph(ByteWriter& w, const FileGraph& fg, WeightTable& weights) {
  const Graph& g = *fg.graph;
  graph::verify(g);
  DOPPEL_CHECK(fg.output_names.size() == g.outputs().size(), "model file: graph '{}' has {} outputs but {} names",
               fg.name, g.outputs().size(), fg.output_names.size());
  // Values are renumbered canonically: inputs, state, constants, then node outputs in node
  // order (the order in which the decoder recreates them).
  std::vector<ValueId> id(g.values().size(), graph::kNoValue);
  ValueId next = 0;
  for (ValueId v : g.inputs()) id[size_t(v)] = next++;
  for (ValueId v : g.state_values()) id[size_t(v)] = next++;
  for (ValueId v : g.constant_values()) id[size_t(v)] = next++;
  for (const graph::Node& n : g.nodes())
    for (ValueId v : n.outputs) id[size_t(v)] = next++;
  auto ref = [&](ValueId v) {
    if (v == graph::kNoValue) return graph::kNoValue;
    DOPPEL_INTERNAL_ASSERT(id[size_t(v)] != graph::kNoValue);
    return id[size_t(v)];
  };

  w.str(fg.name);
  w.count(g.symbols().size());
  for (size_t k = 0; k < g.symbols().size(); ++k) {
    w.str(g.symbols()[k]);
    w.i64(g.example_bindings()[k]);
  }
  w.count(g.inputs().size());
  for (ValueId v : g.inputs()) {
    w.str(g.value(v).name);
    put_type(w, g.value(v));
  }
  w.count(g.state().size());
  for (size_t k = 0; k < g.state().size(); ++k) {
    const std::string& name = g.value(g.state_values()[k]).name;
    w.u32(weights.add(g.state()[k], name));
    w.str(name);
  }
  w.count(g.constants().size());
  for (size_t k = 0; k < g.constants().size(); ++k) {
    const std::string& name = g.value(g.constant_values()[k]).name;
    w.u32(weights.add(g.constants()[k], name));
    w.str(name);
  }
  w.count(g.nodes().size());
  for (const graph::Node& n : g.nodes()) {
    w.str(std::string(op_name(n.op)));
    w.count(n.attrs.size());
    for (const Attr& a : n.attrs) put_attr(w, a);
    w.count(n.sym_attrs.size());
    for (const graph::SymAttr& s : n.sym_attrs) {
      w.i32(s.attr);
      w.i32(s.index);
      put_dim(w, s.dim);
    }
    w.count(n.inputs.size());
    for (ValueId v : n.inputs) w.i32(ref(v));
    w.count(n.outputs.size());
    for (ValueId v : n.outputs) {
      put_type(w, g.value(v));
      w.str(g.value(v).name);
    }
    w.i32(n.rng);
    w.str(n.where);
  }
  w.count(g.outputs().size());
  for (size_t k = 0; k < g.outputs().size(); ++k) {
    w.i32(ref(g.outputs()[k]));
    w.str(fg.output_names[k]);
  }
  for (const auto* us : {&g.updates(), &g.grad_updates()}) {
    w.count(us->size());
    for (const graph::StateUpdate& u : *us) {
      w.i32(u.state);
      w.i32(ref(u.value));
    }
  }
}

}  // namespace

EncodedModel encode_model_parts(const FileContents& c) {
  ByteWriter meta;
  meta.str(c.metadata.producer);
  meta.i64(c.metadata.created_unix);
  meta.count(c.metadata.user.size());
  for (const auto& [k, v] : c.metadata.user) {
    meta.str(k);
    meta.str(v);
  }
  // Graphs first (into their own buffer): they fill the weight table.
  WeightTable weights;
  ByteWriter graphs;
  graphs.count(c.graphs.size());
  for (const FileGraph& fg : c.graphs) encode_graph(graphs, fg, weights);
  EncodedModel out;
  out.data_size = 0;
  for (auto& e : weights.entries) {
    DOPPEL_CHECK(e.tensor.device().is_cpu(), "model file: weight '{}' is on {}; export CPU tensors", e.name,
                 e.tensor.device().str());
    e.offset = out.data_size;
    out.data_size = align_up(out.data_size + e.tensor.nbytes());
  }
  meta.count(weights.entries.size());
  for (const auto& e : weights.entries) {
    const Tensor dense = contiguous_of(e.tensor);
    const auto bytes = std::span(static_cast<const std::byte*>(dense.raw_data()), dense.nbytes());
    meta.str(e.name);
    meta.u8(uint8_t(e.tensor.dtype()));
    meta.u8(e.tensor.impl()->is_wrapped_number() ? kWeightWrappedNumber : 0);
    meta.count(e.tensor.shape().size());
    for (int64_t d : e.tensor.shape()) meta.i64(d);
    meta.u64(e.offset);
    meta.u64(e.tensor.nbytes());
    meta.u32(crc32c(bytes));
    out.blobs.push_back({dense, e.offset});
  }
  auto& mb = meta.bytes();
  mb.insert(mb.end(), graphs.bytes().begin(), graphs.bytes().end());

  const uint64_t meta_size = mb.size();
  const uint64_t data_offset = align_up(kHeaderBytes + meta_size);
  ByteWriter header;
  for (char ch : kMagic) header.u8(uint8_t(ch));
  header.u32(kFormatVersion);
  header.u32(0);  // flags
  header.u64(data_offset + out.data_size);
  header.u64(kHeaderBytes);
  header.u64(meta_size);
  header.u64(data_offset);
  header.u64(out.data_size);
  header.u32(crc32c(mb));
  header.u32(crc32c(header.bytes()));  // of the 60 bytes before it
  out.head = std::move(header.bytes());
  DOPPEL_INTERNAL_ASSERT(out.head.size() == kHeaderBytes);
  out.head.insert(out.head.end(), mb.begin(), mb.end());
  out.head.resize(data_offset, std::byte{0});
  return out;
}

std::vector<std::byte> encode_model(const FileContents& c) {
  const EncodedModel m = encode_model_parts(c);
  std::vector<std::byte> out = m.head;
  out.resize(m.head.size() + m.data_size, std::byte{0});
  for (const auto& b : m.blobs)
    if (b.dense.nbytes() > 0) std::memcpy(out.data() + m.head.size() + b.offset, b.dense.raw_data(), b.dense.nbytes());
  return out;
}

void write_model(const FileContents& c, const std::string& path) {
  const EncodedModel m = encode_model_parts(c);
  io::AtomicFileWriter file(path);
  file.write(m.head);
  static constexpr std::byte kZeros[kWeightAlign] = {};
  uint64_t at = 0;  // within the data region
  for (const auto& b : m.blobs) {
    file.write(std::span(kZeros, size_t(b.offset - at)));  // alignment padding
    file.write(std::span(static_cast<const std::byte*>(b.dense.raw_data()), b.dense.nbytes()));
    at = b.offset + b.dense.nbytes();
  }
  file.write(std::span(kZeros, size_t(m.data_size - at)));
  file.commit();
}

}  // namespace doppel::runtime::detail
