#include "doppel/io/safetensors.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <set>

#include "doppel/io/atomic_file.h"
#include "doppel/io/json.h"
#include "doppel/io/regular_file.h"

namespace doppel::io {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

constexpr std::string_view kMetadataKey = "__metadata__";

struct DTypeCode {
  DType dtype;
  std::string_view code;
};
constexpr DTypeCode kCodes[] = {
    {DType::Float32, "F32"}, {DType::Float64, "F64"}, {DType::BFloat16, "BF16"},
    {DType::Float16, "F16"}, {DType::Int8, "I8"},     {DType::UInt8, "U8"},
    {DType::Int32, "I32"},   {DType::Int64, "I64"},   {DType::Bool, "BOOL"},
};

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, 8);
  return v;
}

// Everything a header entry says about one tensor, validated against the data section.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
  size_t json_index;  // tie-break for zero-size tensors sharing an offset: keeps file order
};

std::string describe(const json::Value& v) {
  switch (v.kind) {
    case json::Value::Kind::Null:
      return "null";
    case json::Value::Kind::Bool:
      return v.boolean ? "true" : "false";
    case json::Value::Kind::Number:
      return v.text;
    case json::Value::Kind::String:
      return json::quote(v.text.substr(0, 40));
    case json::Value::Kind::Array:
      return "an array";
    case json::Value::Kind::Object:
      return "an object";
  }
  return "?";
}

Entry parse_entry(std::string_view what, const std::string& name, const json::Value& v, size_t index,
                  uint64_t data_len) {
  const std::string tname = json::quote(name);
  auto fail = [&](const std::string& msg) -> void {
    throw FormatError(fmt::format("{}: tensor {}: {}", what, tname, msg));
  };
  if (!v.is_object()) fail(fmt::format("entry must be an object, got {}", describe(v)));
  for (const auto& k : v.keys)
    if (k != "dtype" && k != "shape" && k != "data_offsets")
      fail(fmt::format("unknown field {} (expected dtype, shape, data_offsets)", json::quote(k)));
  Entry e;
  e.name = name;
  e.json_index = index;

  const json::Value* dt = v.find("dtype");
  if (!dt) fail("missing \"dtype\"");
  if (!dt->is_string()) fail(fmt::format("\"dtype\" must be a string, got {}", describe(*dt)));
  const auto dtype = dtype_from_safetensors_code(dt->text);
  if (!dtype)
    fail(fmt::format("unsupported dtype {} (doppel reads F32 F64 BF16 F16 I8 U8 I32 I64 BOOL)", describe(*dt)));
  e.dtype = *dtype;

  const json::Value* sh = v.find("shape");
  if (!sh) fail("missing \"shape\"");
  if (!sh->is_array()) fail(fmt::format("\"shape\" must be an array of integers, got {}", describe(*sh)));
  // Elements, counting zero-size dims as 1, must fit int64 so that strides cannot overflow.
  uint64_t numel = 1, extent = 1;
  for (const auto& d : sh->items) {
    const auto n = d.as_int64();
    if (!n) fail(fmt::format("shape entries must be integers, got {}", describe(d)));
    if (*n < 0) fail(fmt::format("negative dimension {} in shape", *n));
    if (__builtin_mul_overflow(extent, uint64_t(std::max<int64_t>(*n, 1)), &extent) || extent > uint64_t(INT64_MAX))
      fail("shape has too many elements (overflows int64)");
    numel *= uint64_t(*n);  // <= extent, so no overflow
    e.shape.push_back(*n);
  }

  const json::Value* off = v.find("data_offsets");
  if (!off) fail("missing \"data_offsets\"");
  if (!off->is_array() || off->items.size() != 2)
    fail(fmt::format("\"data_offsets\" must be an array [begin, end], got {}", describe(*off)));
  const auto b = off->items[0].as_int64(), en = off->items[1].as_int64();
  if (!b || !en || *b < 0 || *en < 0)
    fail(fmt::format("\"data_offsets\" must be non-negative integers, got [{}, {}]", describe(off->items[0]),
                     describe(off->items[1])));
  e.begin = uint64_t(*b);
  e.end = uint64_t(*en);
  if (e.begin > e.end) fail(fmt::format("data_offsets begin {} > end {}", e.begin, e.end));
  if (e.end > data_len)
    fail(fmt::format("data_offsets [{}, {}] extend past the data section ({} bytes)", e.begin, e.end, data_len));
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, uint64_t(element_size(e.dtype)), &nbytes)) fail("byte size overflows");
  if (nbytes != e.end - e.begin)
    fail(fmt::format("shape {} of {} needs {} bytes but data_offsets [{}, {}] span {}", shape_str(e.shape), dt->text,
                     nbytes, e.begin, e.end, e.end - e.begin));
  return e;
}

}  // namespace

std::string_view safetensors_dtype_code(DType dtype) {
  for (const auto& c : kCodes)
    if (c.dtype == dtype) return c.code;
  DOPPEL_INTERNAL_ASSERT(false);
}

std::optional<DType> dtype_from_safetensors_code(std::string_view code) {
  for (const auto& c : kCodes)
    if (c.code == code) return c.dtype;
  return std::nullopt;
}

namespace {

// The validated header (padded so the data section starts 8-byte aligned, as the reference
// does); the tensors' bytes follow it in the order given.
std::string header_of(const StateDict& tensors, const Metadata& metadata) {
  std::set<std::string_view> seen;
  std::string header = "{";
  if (!metadata.empty()) {
    header += json::quote(kMetadataKey);
    header += ":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      DOPPEL_CHECK(json::is_valid_utf8(k) && json::is_valid_utf8(v),
                   "save_safetensors: metadata key {} or its value is not valid UTF-8", json::quote(k.substr(0, 40)));
      if (!first) header += ',';
      first = false;
      header += json::quote(k);
      header += ':';
      header += json::quote(v);
    }
    header += '}';
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    DOPPEL_CHECK(name != kMetadataKey, "save_safetensors: \"{}\" is reserved for metadata; rename the tensor",
                 kMetadataKey);
    DOPPEL_CHECK(json::is_valid_utf8(name), "save_safetensors: tensor name {} is not valid UTF-8",
                 json::quote(name.substr(0, 40)));
    DOPPEL_CHECK(seen.insert(name).second, "save_safetensors: duplicate tensor name \"{}\"", name);
    DOPPEL_CHECK(t.defined(), "save_safetensors: tensor \"{}\" is undefined", name);
    DOPPEL_CHECK_DEVICE(t.device().is_cpu(), "save_safetensors: tensor \"{}\" is on {}; move it to the CPU first", name,
                        t.device().str());
    const uint64_t nbytes = t.nbytes();
    if (header.size() > 1) header += ',';
    header += fmt::format("{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}", json::quote(name),
                          safetensors_dtype_code(t.dtype()), fmt::join(t.shape(), ","), offset, offset + nbytes);
    offset += nbytes;
  }
  header += '}';
  header.append((8 - header.size() % 8) % 8, ' ');
  const uint64_t n = header.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + header;
}

// Hands `sink` each tensor's bytes row-major, in order: straight from its storage when it is
// contiguous, else through a copy of that one tensor.
template <typename Sink>
void write_tensor_data(const StateDict& tensors, Sink&& sink) {
  for (const auto& [name, t] : tensors) {
    if (t.numel() == 0) continue;
    const Tensor c = contiguous_of(t);
    sink(std::string_view(static_cast<const char*>(c.raw_data()), c.nbytes()));
  }
}

}  // namespace

std::string serialize_safetensors(const StateDict& tensors, const Metadata& metadata) {
  std::string out = header_of(tensors, metadata);
  write_tensor_data(tensors, [&](std::string_view b) { out += b; });
  return out;
}

SafetensorsFile parse_safetensors(std::span<const uint8_t> bytes, std::string_view what) {
  if (bytes.size() < 8)
    throw FormatError(fmt::format("{}: file too small ({} bytes) to hold the 8-byte header size", what, bytes.size()));
  const uint64_t n = read_le64(bytes.data());
  if (n > kMaxSafetensorsHeader)
    throw FormatError(fmt::format("{}: header size {} exceeds the {}-byte limit", what, n, kMaxSafetensorsHeader));
  if (n > bytes.size() - 8)
    throw FormatError(
        fmt::format("{}: header size {} exceeds the {} bytes that follow the size field", what, n, bytes.size() - 8));
  const std::string_view header(reinterpret_cast<const char*>(bytes.data()) + 8, n);
  const uint8_t* data = bytes.data() + 8 + n;
  const uint64_t data_len = bytes.size() - 8 - n;

  const std::string hwhat = fmt::format("{}: header", what);
  const json::Value root = json::parse(header, hwhat);
  if (!root.is_object()) throw FormatError(fmt::format("{} must be a JSON object, got {}", hwhat, describe(root)));

  SafetensorsFile file;
  std::vector<Entry> entries;
  entries.reserve(root.keys.size());
  for (size_t i = 0; i < root.keys.size(); ++i) {
    const json::Value& v = root.items[i];
    if (root.keys[i] == kMetadataKey) {
      if (!v.is_object())
        throw FormatError(fmt::format("{}: \"__metadata__\" must be an object of strings, got {}", what, describe(v)));
      for (size_t k = 0; k < v.keys.size(); ++k) {
        if (!v.items[k].is_string())
          throw FormatError(fmt::format("{}: \"__metadata__\" value of {} must be a string, got {}", what,
                                        json::quote(v.keys[k]), describe(v.items[k])));
        file.metadata.emplace(v.keys[k], v.items[k].text);
      }
      continue;
    }
    entries.push_back(parse_entry(what, root.keys[i], v, i, data_len));
  }

  // Like the reference: tensors tile the data section exactly, without gaps or overlaps.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.json_index) < std::tie(b.begin, b.end, b.json_index);
  });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < pos)
      throw FormatError(fmt::format("{}: tensors {} [{}, {}] and {} [{}, {}] overlap", what, json::quote(prev->name),
                                    prev->begin, prev->end, json::quote(e.name), e.begin, e.end));
    if (e.begin > pos)
      throw FormatError(fmt::format("{}: bytes [{}, {}) of the data section belong to no tensor (before {})", what, pos,
                                    e.begin, json::quote(e.name)));
    pos = e.end;
    prev = &e;
  }
  if (pos != data_len)
    throw FormatError(
        fmt::format("{}: the data section has {} bytes but the tensors cover only {}", what, data_len, pos));

  file.tensors.reserve(entries.size());
  for (const Entry& e : entries) {
    Tensor t = make_tensor(e.shape, e.dtype);
    const uint64_t nbytes = e.end - e.begin;
    if (e.dtype == DType::Bool) {
      // Any byte other than 0/1 would be an invalid C++ bool downstream.
      for (uint64_t k = 0; k < nbytes; ++k)
        if (data[e.begin + k] > 1)
          throw FormatError(fmt::format("{}: tensor {}: BOOL byte {} has value {} (must be 0 or 1)", what,
                                        json::quote(e.name), k, data[e.begin + k]));
    }
    if (nbytes > 0) std::memcpy(t.raw_data(), data + e.begin, nbytes);
    file.tensors.emplace_back(e.name, std::move(t));
  }
  return file;
}

void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata) {
  const std::string header = header_of(tensors, metadata);  // validates before the file is created
  AtomicFileWriter file(path);
  file.write(header);
  write_tensor_data(tensors, [&](std::string_view b) { file.write(b); });
  file.commit();
}

SafetensorsFile load_safetensors(const std::string& path) {
  const RegularFile file(path, "load_safetensors");  // a FIFO or device is refused, never waited on
  const size_t size = size_t(file.size());
  const std::string what = fmt::format("safetensors file '{}'", path);
  if (size < 8)
    throw FormatError(fmt::format("{}: file too small ({} bytes) to hold the 8-byte header size", what, size));
  // mmap avoids holding the file twice in memory (the tensors are copied out of the mapping).
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, file.fd(), 0);
  if (map == MAP_FAILED)
    throw ValueError(fmt::format("load_safetensors: cannot map '{}': {}", path, std::strerror(errno)));
  struct Unmap {
    void* p;
    size_t n;
    ~Unmap() { ::munmap(p, n); }
  } guard{map, size};
  return parse_safetensors({static_cast<const uint8_t*>(map), size}, what);
}

}  // namespace doppel::io
