// The validating decoder of the model file (graph/FORMAT.md). Nothing in the file is trusted:
// the header's offsets and sizes, every count (bounded by the bytes its records need), dtype,
// device, shape (rank, sign, overflow), string (length, UTF-8), weight blob (alignment, inside
// the data region, no overlap), op name, attribute kind, arity and value reference (defined
// before use, so no cycles) is checked while decoding; the decoded graph then goes through the
// IR verifier and each op's own shape inference. Every defect is a FormatError.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "byte_io.h"
#include "doppel/runtime/crc32c.h"
#include "model_file.h"

namespace doppel::runtime::detail {

namespace {

using graph::Graph;
using graph::SymDim;
using graph::SymShape;
using graph::ValueId;

constexpr size_t kMaxRank = 16;
constexpr int64_t kMaxDim = int64_t(1) << 40;
constexpr int64_t kMaxCoef = int64_t(1) << 16;
constexpr int64_t kMaxBinding = int64_t(1) << 31;
constexpr size_t kMaxCount = size_t(1) << 24;
constexpr size_t kMaxGraphs = 16;
constexpr size_t kMaxSymbols = 64;

struct Weight {
  std::string name;
  DType dtype{};
  bool wrapped = false;
  Shape shape;
  uint64_t offset = 0, nbytes = 0;
  uint32_t crc = 0;  // versions 2 and 3: CRC-32C of the blob
};

[[noreturn]] void fail(const std::string& what) { throw FormatError("model file: " + what); }

std::string sym_shape_str(const SymShape& s, const std::vector<std::string>& symbols) {
  std::string out = "[";
  for (size_t k = 0; k < s.size(); ++k) out += (k ? ", " : "") + s[k].str(symbols);
  return out + "]";
}

// `s` for a message: at most 64 bytes, control and non-ASCII bytes as \xNN (a NUL included).
std::string printable(std::string_view s) {
  std::string out = "'";
  for (size_t k = 0; k < std::min<size_t>(s.size(), 64); ++k) {
    const auto c = uint8_t(s[k]);
    out += c >= 0x20 && c < 0x7f && c != '\\' && c != '\'' ? std::string(1, char(c)) : fmt::format("\\x{:02x}", c);
  }
  return out + (s.size() > 64 ? "'..." : "'");
}

// A graph, input or output name read at `at`: a safe identifier (graph/FORMAT.md, "Names").
void check_name(const std::string& name, uint64_t at, const std::string& what) {
  if (!is_safe_name(name))
    ByteReader::fail(at, fmt::format("{} name {} is not a safe identifier: names are [A-Za-z_][A-Za-z0-9_.:-]*, at "
                                     "most {} bytes, without '..' (never a path)",
                                     what, printable(name), kMaxNameBytes));
}

DType read_dtype(ByteReader& r, const std::string& what) {
  const uint64_t at = r.offset();
  const uint8_t d = r.u8("dtype");
  if (d >= kNumDTypes)
    ByteReader::fail(at, fmt::format("{} has dtype code {}, not a dtype (0..{})", what, d, kNumDTypes - 1));
  return DType(d);
}

// One dimension. Shapes of values must be non-negative when static; symbolic attribute entries
// may be negative (a reshape's -1).
SymDim read_dim(ByteReader& r, size_t num_symbols, bool allow_negative, const std::string& what) {
  const uint64_t at = r.offset();
  SymDim d;
  d.constant = r.i64("dimension constant");
  d.coef = r.i64("dimension coefficient");
  d.sym = r.i32("dimension symbol");
  const int64_t lo = allow_negative ? -kMaxDim : 0;
  if (d.sym == -1) {
    if (d.coef != 0) ByteReader::fail(at, fmt::format("{}: a static dimension has coefficient {}", what, d.coef));
    if (d.constant < lo || d.constant > kMaxDim)
      ByteReader::fail(at, fmt::format("{}: dimension {} is out of range [{}, {}]", what, d.constant, lo, kMaxDim));
    return d;
  }
  if (d.sym < 0 || size_t(d.sym) >= num_symbols)
    ByteReader::fail(at,
                     fmt::format("{}: dimension refers to symbol {} but the graph has {}", what, d.sym, num_symbols));
  if (d.coef < 1 || d.coef > kMaxCoef)
    ByteReader::fail(at,
                     fmt::format("{}: symbolic dimension has coefficient {} (expected 1..{})", what, d.coef, kMaxCoef));
  if (d.constant < -kMaxDim || d.constant > kMaxDim)
    ByteReader::fail(at, fmt::format("{}: dimension offset {} is out of range", what, d.constant));
  return d;
}

SymShape read_shape(ByteReader& r, size_t num_symbols, const std::string& what) {
  const size_t rank = r.count("rank", 20, kMaxRank);
  SymShape s;
  for (size_t k = 0; k < rank; ++k) s.push_back(read_dim(r, num_symbols, false, what));
  return s;
}

graph::Value read_type(ByteReader& r, size_t num_symbols, const std::string& what) {
  graph::Value v;
  v.dtype = read_dtype(r, what);
  const uint64_t at = r.offset();
  const uint8_t type = r.u8("device type");
  const uint8_t index = r.u8("device index");
  if (type >= kNumDeviceTypes) ByteReader::fail(at, fmt::format("{} has device type {}, not a device", what, type));
  v.device = Device(DeviceType(type), index);
  if (!v.device.is_cpu())
    ByteReader::fail(at, fmt::format("{} is on {}; this runtime loads CPU graphs only", what, v.device.str()));
  if (index != 0)
    ByteReader::fail(at, fmt::format("{} is on CPU device index {}; the CPU has index 0 only", what, index));
  v.shape = read_shape(r, num_symbols, what);
  return v;
}

Attr read_attr(ByteReader& r, const AttrSpec& spec, const std::string& what) {
  const uint64_t at = r.offset();
  const uint8_t kind = r.u8("attribute kind");
  if (kind > uint8_t(AttrKind::Device))
    ByteReader::fail(at, fmt::format("{} has attribute kind {}, not a kind", what, kind));
  const auto k = AttrKind(kind);
  if (k != spec.kind && !(spec.optional && k == AttrKind::None))
    ByteReader::fail(at, fmt::format("{} should be {}{}, got {}", what, attr_kind_name(spec.kind),
                                     spec.optional ? " or none" : "", attr_kind_name(k)));
  Attr a;
  a.kind = k;
  switch (k) {
    case AttrKind::None:
      break;
    case AttrKind::Int:
      a.i = r.i64("int attribute");
      break;
    case AttrKind::Float:
      a.f = r.f64("float attribute");
      break;
    case AttrKind::Bool: {
      const uint8_t b = r.u8("bool attribute");
      if (b > 1) ByteReader::fail(at, fmt::format("{} is a bool with value {}", what, b));
      a.i = b;
      break;
    }
    case AttrKind::DType:
      a.i = r.i64("dtype attribute");
      if (a.i < 0 || a.i >= kNumDTypes)
        ByteReader::fail(at, fmt::format("{} has dtype code {}, not a dtype", what, a.i));
      break;
    case AttrKind::Device:
      a.i = r.i64("device attribute");
      if (a.i < 0 || (a.i >> 16) >= kNumDeviceTypes)
        ByteReader::fail(at, fmt::format("{} has device code {}, not a device", what, a.i));
      if (DeviceType(a.i >> 16) == DeviceType::CPU && (a.i & 0xffff) != 0)
        ByteReader::fail(at, fmt::format("{} names CPU device index {}; the CPU has index 0 only", what, a.i & 0xffff));
      break;
    case AttrKind::Ints: {
      const size_t n = r.count("int list length", 8, kMaxCount);
      // List entries are sizes, strides, paddings or dims: bounding them keeps the ops'
      // inference arithmetic (in + 2 * pad, products of sizes) far from overflow. Not bounded:
      // plain Int attributes (a slice's open end is INT64_MAX, a seed any 64-bit value) and a
      // fused program, whose words carry the bits of its float immediates.
      const bool bounded = std::string_view(spec.name) != "program";
      for (size_t j = 0; j < n; ++j) {
        const uint64_t at_e = r.offset();
        const int64_t v = r.i64("int list entry");
        if (bounded && (v < -kMaxDim || v > kMaxDim))
          ByteReader::fail(at_e, fmt::format("{} entry {} is {}, outside [-2^40, 2^40]", what, j, v));
        a.ints.push_back(v);
      }
      break;
    }
  }
  return a;
}

ValueId read_ref(ByteReader& r, size_t num_values, bool allow_absent, const std::string& what) {
  const uint64_t at = r.offset();
  const int32_t v = r.i32("value reference");
  if (v == graph::kNoValue && allow_absent) return v;
  if (v < 0 || size_t(v) >= num_values)
    ByteReader::fail(at, fmt::format("{} refers to value %{}, but only {} values are defined at that point (a dangling "
                                     "or cyclic reference)",
                                     what, v, num_values));
  return v;
}

void read_node(ByteReader& r, Graph& g, size_t k) {
  const uint64_t at = r.offset();
  const std::string op = r.str("op name");
  const OpDef* def = op_def_by_name(op);
  if (!def) ByteReader::fail(at, fmt::format("node {} has unknown op '{}'", k, op));
  const std::string where = fmt::format("node {} ({})", k, op);
  graph::Node n;
  n.op = def->id;
  const uint64_t at_attrs = r.offset();
  const size_t na = r.count("attribute count", 1, kMaxAttrs);
  if (na != def->attrs.size())
    ByteReader::fail(at_attrs, fmt::format("{} has {} attributes, the op takes {}", where, na, def->attrs.size()));
  for (size_t j = 0; j < na; ++j)
    n.attrs.push_back(read_attr(r, def->attrs[j], fmt::format("{} attribute '{}'", where, def->attrs[j].name)));
  const size_t ns = r.count("symbolic attribute count", 28, kMaxCount);
  for (size_t j = 0; j < ns; ++j) {
    const uint64_t at_s = r.offset();
    graph::SymAttr s;
    s.attr = r.i32("symbolic attribute index");
    s.index = r.i32("symbolic attribute entry");
    s.dim = read_dim(r, g.symbols().size(), true, where);
    if (s.attr < 0 || size_t(s.attr) >= na)
      ByteReader::fail(at_s, fmt::format("{} has a symbolic entry for attribute {} of {}", where, s.attr, na));
    const Attr& a = n.attrs[size_t(s.attr)];
    const bool ok = s.index == -1 ? a.kind == AttrKind::Int
                                  : a.kind == AttrKind::Ints && s.index >= 0 && size_t(s.index) < a.ints.size();
    if (!ok)
      ByteReader::fail(at_s, fmt::format("{} has a symbolic entry [{}] for attribute {} ({}), which has no such entry",
                                         where, s.index, s.attr, attr_kind_name(a.kind)));
    n.sym_attrs.push_back(s);
  }
  const uint64_t at_in = r.offset();
  const size_t ni = r.count("input count", 4, kMaxCount);
  const bool variadic = def->has(kVariadic);
  if (variadic ? ni < 1 : (int(ni) < def->min_inputs || int(ni) > def->max_inputs))
    ByteReader::fail(at_in, fmt::format("{} has {} inputs, the op takes {}", where, ni,
                                        variadic ? std::string("at least 1")
                                                 : fmt::format("{} to {}", def->min_inputs, def->max_inputs)));
  for (size_t j = 0; j < ni; ++j)
    n.inputs.push_back(
        read_ref(r, g.values().size(), !variadic && int(j) >= def->min_inputs, fmt::format("{} input {}", where, j)));
  const uint64_t at_out = r.offset();
  const size_t no = r.count("output count", 7, kMaxOutputs);
  if (int(no) != def->num_outputs)
    ByteReader::fail(at_out, fmt::format("{} has {} outputs, the op has {}", where, no, def->num_outputs));
  std::vector<graph::Value> types;
  for (size_t j = 0; j < no; ++j) {
    types.push_back(read_type(r, g.symbols().size(), fmt::format("{} output {}", where, j)));
    types.back().name = r.str("value name");
  }
  const uint64_t at_rng = r.offset();
  n.rng = r.i32("rng id");
  if (n.rng < 0 || n.rng > 0xffff) ByteReader::fail(at_rng, fmt::format("{} has rng id {}", where, n.rng));
  n.where = r.str("call site");
  g.add_node(std::move(n), types);
}

void read_updates(ByteReader& r, Graph& g, std::vector<graph::StateUpdate>& out, const char* what) {
  const size_t n = r.count(what, 8, kMaxCount);
  std::set<int32_t> seen;
  for (size_t k = 0; k < n; ++k) {
    const uint64_t at = r.offset();
    graph::StateUpdate u;
    u.state = r.i32("updated state");
    u.value = read_ref(r, g.values().size(), false, what);
    if (u.state < 0 || size_t(u.state) >= g.state().size())
      ByteReader::fail(at, fmt::format("{} {} targets state {} of {}", what, k, u.state, g.state().size()));
    if (!seen.insert(u.state).second)
      ByteReader::fail(at, fmt::format("{} {} targets state {} twice", what, k, u.state));
    const Tensor& s = g.state()[size_t(u.state)];
    const graph::Value& v = g.value(u.value);
    if (v.dtype != s.dtype() || !graph::is_static(v.shape) || graph::eval_shape(v.shape, {}) != s.shape())
      ByteReader::fail(at, fmt::format("{} {}: value %{} ({} {}) does not match state '{}' ({} {})", what, k, u.value,
                                       dtype_name(v.dtype), sym_shape_str(v.shape, g.symbols()),
                                       g.value(g.state_values()[size_t(u.state)]).name, dtype_name(s.dtype()),
                                       shape_str(s.shape())));
    out.push_back(u);
  }
}

std::vector<Weight> read_weights(ByteReader& r, uint64_t data_size, uint32_t version) {
  const size_t n = r.count("weight count", version >= 2 ? 30 : 26, kMaxCount);
  std::vector<Weight> ws;
  for (size_t k = 0; k < n; ++k) {
    const uint64_t at = r.offset();
    Weight w;
    w.name = r.str("weight name");
    const std::string what = fmt::format("weight {} ('{}')", k, w.name);
    w.dtype = read_dtype(r, what);
    const uint64_t at_flags = r.offset();
    const uint8_t flags = r.u8("weight flags");
    if (flags & ~kWeightWrappedNumber)
      ByteReader::fail(at_flags, fmt::format("{} has unknown flags {:#x}", what, flags));
    w.wrapped = flags & kWeightWrappedNumber;
    const size_t rank = r.count("weight rank", 8, kMaxRank);
    if (w.wrapped && rank != 0)
      ByteReader::fail(at_flags, fmt::format("{} is a wrapped number but has rank {}", what, rank));
    uint64_t numel = 1;
    bool too_big = false;
    for (size_t j = 0; j < rank; ++j) {
      const int64_t d = r.i64("weight dimension");
      if (d < 0 || d > kMaxDim) ByteReader::fail(at, fmt::format("{} has dimension {}", what, d));
      w.shape.push_back(d);
      too_big = __builtin_mul_overflow(numel, uint64_t(d), &numel) || too_big;
    }
    w.offset = r.u64("weight offset");
    w.nbytes = r.u64("weight size");
    if (version >= 2) w.crc = r.u32("weight checksum");
    uint64_t need = 0;
    too_big = __builtin_mul_overflow(numel, uint64_t(element_size(w.dtype)), &need) || too_big;
    if (too_big || need > data_size)
      ByteReader::fail(at, fmt::format("{} of shape {} {} needs more bytes than the whole data region ({})", what,
                                       shape_str(w.shape), dtype_name(w.dtype), data_size));
    if (w.nbytes != need)
      ByteReader::fail(at, fmt::format("{} has size {} but shape {} {} needs {} bytes", what, w.nbytes,
                                       shape_str(w.shape), dtype_name(w.dtype), need));
    if (w.offset % kWeightAlign != 0)
      ByteReader::fail(at, fmt::format("{} offset {} is not a multiple of {}", what, w.offset, kWeightAlign));
    if (w.offset > data_size || w.nbytes > data_size - w.offset)
      ByteReader::fail(at, fmt::format("{} at offset {} with {} bytes lies outside the data region ({} bytes)", what,
                                       w.offset, w.nbytes, data_size));
    ws.push_back(std::move(w));
  }
  std::vector<size_t> order(ws.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ws[a].offset < ws[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const Weight& a = ws[order[k - 1]];
    const Weight& b = ws[order[k]];
    if (a.nbytes > 0 && b.nbytes > 0 && a.offset + a.nbytes > b.offset)
      fail(fmt::format("weights '{}' (bytes {}..{}) and '{}' (bytes {}..{}) overlap", a.name, a.offset,
                       a.offset + a.nbytes, b.name, b.offset, b.offset + b.nbytes));
  }
  return ws;
}

// A checksum that does not match: the section's bytes changed after the file was written.
void check_crc(uint32_t stored, std::span<const std::byte> bytes, const std::string& section) {
  const uint32_t actual = crc32c(bytes);
  if (actual != stored)
    fail(
        fmt::format("checksum mismatch in {}: stored CRC-32C {:#010x}, computed {:#010x}; the file was changed or "
                    "damaged after it was written (re-export or copy it again)",
                    section, stored, actual));
}

bool all_zero(std::span<const std::byte> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

// Versions 2 and 3: every weight blob against its checksum, and the padding (between the metadata
// and the data region, between blobs, after the last) all zero, so that no byte of the file
// can change unnoticed.
void verify_data_region(std::span<const std::byte> data, std::span<const std::byte> meta_padding,
                        const std::vector<Weight>& weights, uint64_t data_offset) {
  if (!all_zero(meta_padding))
    fail(fmt::format("checksum mismatch: the padding before the data region (bytes {}..{}) is not zero",
                     data_offset - meta_padding.size(), data_offset));
  std::vector<const Weight*> order;
  for (const Weight& w : weights) order.push_back(&w);
  std::sort(order.begin(), order.end(), [](const Weight* a, const Weight* b) { return a->offset < b->offset; });
  uint64_t at = 0;
  for (const Weight* w : order) {
    check_crc(w->crc, data.subspan(w->offset, w->nbytes),
              fmt::format("weight {} (file bytes {}..{})", printable(w->name), data_offset + w->offset,
                          data_offset + w->offset + w->nbytes));
    if (w->offset > at && !all_zero(data.subspan(at, w->offset - at)))
      fail(fmt::format("checksum mismatch: the padding at file bytes {}..{} (before weight {}) is not zero",
                       data_offset + at, data_offset + w->offset, printable(w->name)));
    at = std::max(at, w->offset + w->nbytes);
  }
  if (!all_zero(data.subspan(at)))
    fail(fmt::format("checksum mismatch: the padding after the last weight (file bytes {}..{}) is not zero",
                     data_offset + at, data_offset + data.size()));
}

// One graph; `weight_tensors` are the decoded blobs, `updated` collects the weights it updates.
FileGraph read_graph(ByteReader& r, const std::vector<Weight>& weights, const std::vector<Tensor>& weight_tensors,
                     std::set<uint32_t>& updated) {
  auto g = std::make_shared<Graph>();
  FileGraph fg;
  const uint64_t at_name = r.offset();
  fg.name = r.str("graph name");
  check_name(fg.name, at_name, "a graph");
  const std::string gw = fmt::format("graph '{}'", fg.name);
  const size_t nsym = r.count("symbol count", 12, kMaxSymbols);
  std::set<std::string> names;
  for (size_t k = 0; k < nsym; ++k) {
    const uint64_t at = r.offset();
    g->symbols().push_back(r.str("symbol name"));
    const int64_t b = r.i64("symbol example");
    if (g->symbols().back().empty() || !names.insert(g->symbols().back()).second)
      ByteReader::fail(at, fmt::format("{} symbol {} has an empty or repeated name", gw, k));
    if (b < 0 || b > kMaxBinding)
      ByteReader::fail(at, fmt::format("{} symbol '{}' has example size {}", gw, g->symbols().back(), b));
    g->example_bindings().push_back(b);
  }
  names.clear();
  const size_t ni = r.count("input count", 11, kMaxCount);
  for (size_t k = 0; k < ni; ++k) {
    const uint64_t at = r.offset();
    std::string name = r.str("input name");
    check_name(name, at, fmt::format("{} input {}", gw, k));
    if (!names.insert(name).second)
      ByteReader::fail(at, fmt::format("{} input {} has a repeated name '{}'", gw, k, name));
    graph::Value v = read_type(r, nsym, fmt::format("{} input '{}'", gw, name));
    g->add_input(v.dtype, v.device, v.shape, std::move(name));
  }
  for (const char* what : {"state", "constant"}) {
    const size_t n = r.count(what, 8, kMaxCount);
    for (size_t k = 0; k < n; ++k) {
      const uint64_t at = r.offset();
      const uint32_t w = r.u32("weight index");
      std::string name = r.str("value name");
      if (w >= weights.size())
        ByteReader::fail(at, fmt::format("{} {} {} refers to weight {} of {}", gw, what, k, w, weights.size()));
      if (what[0] == 's')
        g->add_state(weight_tensors[w], std::move(name));
      else
        g->add_constant(weight_tensors[w], std::move(name));
    }
  }
  const size_t nn = r.count("node count", 28, kMaxCount);
  for (size_t k = 0; k < nn; ++k) read_node(r, *g, k);
  const size_t no = r.count("output count", 8, kMaxCount);
  names.clear();
  for (size_t k = 0; k < no; ++k) {
    const uint64_t at = r.offset();
    g->outputs().push_back(read_ref(r, g->values().size(), false, fmt::format("{} output {}", gw, k)));
    fg.output_names.push_back(r.str("output name"));
    check_name(fg.output_names.back(), at, fmt::format("{} output {}", gw, k));
    if (!names.insert(fg.output_names.back()).second)
      ByteReader::fail(at, fmt::format("{} output {} has a repeated name '{}'", gw, k, fg.output_names.back()));
  }
  read_updates(r, *g, g->updates(), "update");
  read_updates(r, *g, g->grad_updates(), "gradient update");
  // The state list refers to weights by index: recover which ones this graph writes.
  {
    std::vector<uint32_t> state_weight;
    for (const Tensor& t : g->state())
      for (uint32_t w = 0; w < weight_tensors.size(); ++w)
        if (weight_tensors[w].is_same(t)) {
          state_weight.push_back(w);
          break;
        }
    for (const graph::StateUpdate& u : g->updates()) updated.insert(state_weight[size_t(u.state)]);
  }
  try {
    graph::verify(*g);
  } catch (const InternalError& e) {
    fail(fmt::format("{} is inconsistent: {}", gw, e.what()));
  }
  check_node_shapes(*g, g->example_bindings(), fg.name);
  fg.graph = std::move(g);
  return fg;
}

FileContents decode(std::span<const std::byte> bytes, const std::shared_ptr<const void>& owner,
                    const std::set<uint32_t>& copy, const std::string& writable_graph, std::set<uint32_t>& updated,
                    bool verify) {
  if (bytes.size() < kHeaderBytes)
    fail(fmt::format("truncated: {} bytes, shorter than the {}-byte header", bytes.size(), kHeaderBytes));
  ByteReader h(bytes.first(kHeaderBytes), 0);
  char magic[8];
  for (char& c : magic) c = char(h.u8("magic"));
  if (!std::equal(magic, magic + 8, kMagic)) fail("bad magic: not a doppel model file (expected \"DOPPELMF\")");
  FileContents c;
  const uint32_t version = c.metadata.format_version = h.u32("format version");
  if (version < 1 || version > kFormatVersion)
    fail(fmt::format("format version {} is not supported (this runtime reads versions 1 to {})", version,
                     kFormatVersion));
  if (const uint32_t flags = h.u32("flags"); flags != 0) fail(fmt::format("unknown header flags {:#x}", flags));
  const uint64_t file_size = h.u64("file size");
  const uint64_t meta_offset = h.u64("metadata offset"), meta_size = h.u64("metadata size");
  const uint64_t data_offset = h.u64("data offset"), data_size = h.u64("data size");
  uint32_t meta_crc = 0;
  if (version == 1) {
    if (const uint64_t reserved = h.u64("reserved"); reserved != 0) fail("the header's reserved field is not zero");
  } else {
    meta_crc = h.u32("metadata checksum");
    const uint32_t header_crc = h.u32("header checksum");
    if (verify) check_crc(header_crc, bytes.first(kHeaderBytes - 4), "the header (bytes 0..60)");
  }
  if (file_size != bytes.size())
    fail(fmt::format("the header says the file has {} bytes but it has {} (truncated or corrupt)", file_size,
                     bytes.size()));
  if (meta_offset != kHeaderBytes) fail(fmt::format("metadata offset {} (expected {})", meta_offset, kHeaderBytes));
  if (meta_size > file_size - meta_offset)
    fail(fmt::format("metadata section ({} bytes at {}) runs past the end of the file ({} bytes)", meta_size,
                     meta_offset, file_size));
  if (data_offset % kWeightAlign != 0 || data_offset < meta_offset + meta_size || data_offset > file_size ||
      data_size != file_size - data_offset)
    fail(
        fmt::format("data region ({} bytes at {}) is misplaced: it must be {}-aligned, follow the metadata (ending "
                    "at {}) and end at the end of the file ({})",
                    data_size, data_offset, kWeightAlign, meta_offset + meta_size, file_size));

  if (version >= 2 && verify)
    check_crc(meta_crc, bytes.subspan(meta_offset, meta_size),
              fmt::format("the metadata section (bytes {}..{})", meta_offset, meta_offset + meta_size));
  ByteReader r(bytes.subspan(meta_offset, meta_size), meta_offset);
  c.metadata.producer = r.str("producer");
  c.metadata.created_unix = r.i64("creation time");
  const size_t nu = r.count("metadata entry count", 8, kMaxCount);
  for (size_t k = 0; k < nu; ++k) {
    std::string key = r.str("metadata key");
    c.metadata.user.emplace_back(std::move(key), r.str("metadata value"));
  }
  const std::vector<Weight> weights = read_weights(r, data_size, version);
  if (version >= 2 && verify)
    verify_data_region(bytes.subspan(data_offset),
                       bytes.subspan(meta_offset + meta_size, data_offset - meta_offset - meta_size), weights,
                       data_offset);
  std::vector<Tensor> tensors;
  for (size_t k = 0; k < weights.size(); ++k) {
    const Weight& w = weights[k];
    auto* p = const_cast<std::byte*>(bytes.data() + data_offset + w.offset);
    Tensor t = from_blob(p, w.shape, contiguous_strides(w.shape), w.dtype, kCPU, [owner](void*) {});
    t.storage()->mark_versioned();  // a read-only mapping or private copy: it never changes
    if (w.wrapped) t.impl()->set_wrapped_number(true);
    if (copy.count(uint32_t(k))) {
      Tensor own = make_tensor(w.shape, w.dtype, kCPU);
      copy_strided(own, t);
      t = own;
    }
    tensors.push_back(std::move(t));
  }
  const size_t ng = r.count("graph count", 36, kMaxGraphs);
  std::set<std::string> graph_names;
  for (size_t k = 0; k < ng; ++k) {
    std::set<uint32_t> upd;
    c.graphs.push_back(read_graph(r, weights, tensors, upd));
    if (!graph_names.insert(c.graphs.back().name).second)
      fail(fmt::format("graph '{}' appears twice", c.graphs.back().name));
    if (c.graphs.back().name == writable_graph) updated = upd;
  }
  if (!r.at_end())
    ByteReader::fail(r.offset(), fmt::format("{} unread bytes at the end of the metadata section", r.remaining()));
  return c;
}

}  // namespace

FileContents decode_model(std::span<const std::byte> bytes, std::shared_ptr<const void> owner,
                          const std::string& writable_graph, bool verify_checksums) {
  std::set<uint32_t> updated;
  FileContents c = decode(bytes, owner, {}, writable_graph, updated, verify_checksums);
  if (updated.empty()) return c;
  // The graph that will run writes these weights: decode again with owned copies of them, so
  // that every graph of the file sees the same (updated) tensors (verified the first time).
  std::set<uint32_t> ignored;
  return decode(bytes, owner, updated, writable_graph, ignored, false);
}

}  // namespace doppel::runtime::detail
