#include "doppel/serve/npy.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <vector>

#include "doppel/io/atomic_file.h"
#include "doppel/io/regular_file.h"

namespace doppel::serve {

static_assert(std::endian::native == std::endian::little, "npy I/O assumes a little-endian host");

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";

struct Descr {
  DType dtype;
  char kind;  // numpy's kind letter: f, i, u, b
};
constexpr Descr kDescrs[] = {
    {DType::Float32, 'f'}, {DType::Float64, 'f'}, {DType::Float16, 'f'}, {DType::Int8, 'i'},
    {DType::UInt8, 'u'},   {DType::Int32, 'i'},   {DType::Int64, 'i'},   {DType::Bool, 'b'},
};

// The fields of the header dict, parsed from its Python literal syntax.
struct Header {
  std::optional<std::string> descr;
  std::optional<bool> fortran_order;
  std::optional<std::vector<int64_t>> shape;
};

// A parser for the restricted Python literal numpy writes (and the variations other writers
// produce: double quotes, extra spaces, a missing trailing comma, "(3,)" and "()" tuples).
class HeaderParser {
 public:
  HeaderParser(std::string_view s, std::string_view what) : s_(s), what_(what) {}

  Header parse() {
    Header h;
    skip_ws();
    expect('{');
    while (true) {
      skip_ws();
      if (consume('}')) break;
      const std::string key = parse_str();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        if (h.descr) fail("duplicate key 'descr'");
        if (peek() == '[') fail("structured dtypes (a list descr) are not supported; save a plain array");
        h.descr = parse_str();
      } else if (key == "fortran_order") {
        if (h.fortran_order) fail("duplicate key 'fortran_order'");
        h.fortran_order = parse_bool();
      } else if (key == "shape") {
        if (h.shape) fail("duplicate key 'shape'");
        h.shape = parse_shape();
      } else {
        fail(fmt::format("unknown key '{}' (expected descr, fortran_order, shape)", key));
      }
      skip_ws();
      if (consume(',')) continue;
      skip_ws();
      expect('}');
      break;
    }
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected characters after the header dict");
    if (!h.descr || !h.fortran_order || !h.shape) fail("the header must have 'descr', 'fortran_order' and 'shape'");
    return h;
  }

 private:
  [[noreturn]] void fail(std::string_view msg) const {
    throw FormatError(fmt::format("{}: malformed header at byte {}: {}", what_, pos_, msg));
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n')) ++pos_;
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool consume(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!consume(c)) fail(fmt::format("expected '{}'", c));
  }
  std::string parse_str() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    ++pos_;
    const size_t end = s_.find(q, pos_);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string out(s_.substr(pos_, end - pos_));
    if (out.find('\\') != std::string::npos) fail("escapes in header strings are not supported");
    pos_ = end + 1;
    return out;
  }
  bool parse_bool() {
    if (s_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (s_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail("expected True or False");
  }
  std::vector<int64_t> parse_shape() {
    expect('(');
    std::vector<int64_t> dims;
    while (true) {
      skip_ws();
      if (consume(')')) break;
      int64_t v = 0;
      size_t digits = 0;
      if (peek() == '-') fail("negative dimension in shape");
      while (peek() >= '0' && peek() <= '9') {
        if (v > (INT64_MAX - 9) / 10) fail("dimension too large");
        v = v * 10 + (peek() - '0');
        ++pos_, ++digits;
      }
      if (digits == 0) fail("expected a dimension (a non-negative integer)");
      if (s_.substr(pos_, 1) == "L") ++pos_;  // Python 2 longs
      dims.push_back(v);
      if (dims.size() > kMaxDims) fail(fmt::format("more than {} dimensions", kMaxDims));
      skip_ws();
      if (consume(',')) continue;
      skip_ws();
      expect(')');
      break;
    }
    return dims;
  }

  static constexpr size_t kMaxDims = 32;  // numpy's own limit (NPY_MAXDIMS)
  std::string_view s_;
  std::string_view what_;
  size_t pos_ = 0;
};

// The doppel dtype and byte order of a descr like "<f4"; throws for unknown codes.
std::pair<DType, bool> parse_descr(const std::string& d, std::string_view what) {
  auto bad = [&](std::string_view why) -> void {
    throw DTypeError(fmt::format("{}: dtype '{}' {}; doppel reads f2/f4/f8, i1/i4/i8, u1 and b1", what, d, why));
  };
  if (d.size() < 2) bad("is not a numpy dtype string");
  const char order = d[0];
  std::string_view code = std::string_view(d).substr(1);
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    if (d == "?") return {DType::Bool, false};
    bad("has no byte-order prefix");
  }
  if (code == "?") code = "b1";
  for (const auto& e : kDescrs) {
    if (code.size() >= 2 && code[0] == e.kind && code.substr(1) == std::to_string(element_size(e.dtype))) {
      const bool swap = order == '>' && element_size(e.dtype) > 1;
      return {e.dtype, swap};
    }
  }
  bad("is not supported");
  return {};  // unreachable
}

void byteswap_inplace(uint8_t* p, size_t count, size_t width) {
  for (size_t i = 0; i < count; ++i, p += width) std::reverse(p, p + width);
}

}  // namespace

std::string_view npy_descr(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return "<f4";
    case DType::Float64:
      return "<f8";
    case DType::Float16:
      return "<f2";
    case DType::Int8:
      return "|i1";
    case DType::UInt8:
      return "|u1";
    case DType::Int32:
      return "<i4";
    case DType::Int64:
      return "<i8";
    case DType::Bool:
      return "|b1";
    case DType::BFloat16:
      break;
  }
  throw DTypeError(
      fmt::format("npy: {} has no numpy dtype; convert it to float32 or write safetensors instead", dtype_name(dtype)));
}

Tensor parse_npy(std::span<const uint8_t> bytes, std::string_view what) {
  auto fail = [&](const std::string& msg) -> void { throw FormatError(fmt::format("{}: {}", what, msg)); };
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0)
    fail("not an .npy file (missing the \\x93NUMPY magic)");
  const uint8_t major = bytes[6], minor = bytes[7];
  if (minor != 0 || major < 1 || major > 3)
    fail(fmt::format("unsupported format version {}.{} (doppel reads 1.0, 2.0 and 3.0)", major, minor));
  size_t prefix = 10;
  uint64_t header_len = uint64_t(bytes[8]) | uint64_t(bytes[9]) << 8;
  if (major >= 2) {
    if (bytes.size() < 12) fail("truncated: the header length is cut off");
    header_len = 0;
    for (int k = 0; k < 4; ++k) header_len |= uint64_t(bytes[8 + k]) << (8 * k);
    prefix = 12;
  }
  if (header_len > bytes.size() - prefix)
    fail(fmt::format("truncated: the header claims {} bytes but only {} follow", header_len, bytes.size() - prefix));
  std::string_view header(reinterpret_cast<const char*>(bytes.data() + prefix), header_len);
  // Version 1/2 headers are latin-1, 3 is UTF-8; the keys and values we accept are ASCII.
  for (const char c : header)
    if (uint8_t(c) >= 0x80 || (uint8_t(c) < 0x20 && c != '\n' && c != '\t'))
      fail("the header holds a non-ASCII or control character");
  const Header h = HeaderParser(header, what).parse();
  const auto [dtype, swap] = parse_descr(*h.descr, what);

  int64_t numel = 1;
  for (const int64_t d : *h.shape)
    if (d != 0 && numel > INT64_MAX / d)
      fail(fmt::format("shape ({}) has more elements than fit in 64 bits", fmt::join(*h.shape, ", ")));
    else
      numel *= d;
  const size_t width = element_size(dtype);
  const uint64_t data_len = bytes.size() - prefix - header_len;
  if (uint64_t(numel) > data_len / width || uint64_t(numel) * width != data_len)
    fail(fmt::format("{}: shape ({}) of {} needs {} data bytes but the file has {}",
                     uint64_t(numel) * width > data_len ? "truncated" : "trailing bytes after the data",
                     fmt::join(*h.shape, ", "), dtype_name(dtype),
                     numel > int64_t(data_len) ? fmt::format("{}x{}", numel, width) : std::to_string(numel * width),
                     data_len));

  Shape shape(h.shape->begin(), h.shape->end());
  Tensor out = make_tensor(shape, dtype);
  if (numel == 0) return out;
  const uint8_t* data = bytes.data() + prefix + header_len;
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  if (!*h.fortran_order || shape.size() <= 1) {
    std::memcpy(dst, data, size_t(numel) * width);
  } else {
    // Column-major: view the bytes with Fortran strides and let core copy them into C order.
    std::vector<uint8_t> tmp(data, data + size_t(numel) * width);
    Strides strides(shape.size(), 0);
    int64_t s = 1;
    for (size_t d = 0; d < shape.size(); ++d) strides[d] = s, s *= shape[d];
    copy_strided(out, from_blob(tmp.data(), shape, strides, dtype, kCPU));
  }
  if (swap) byteswap_inplace(dst, size_t(numel), width);
  if (dtype == DType::Bool)
    for (int64_t i = 0; i < numel; ++i)
      if (dst[i] > 1) fail(fmt::format("bool element {} has byte value {} (must be 0 or 1)", i, dst[i]));
  return out;
}

std::string serialize_npy(const Tensor& t) {
  DOPPEL_CHECK_DEVICE(t.device().is_cpu(), "save_npy: the tensor is on {}; move it to the CPU first", t.device().str());
  const std::string_view descr = npy_descr(t.dtype());
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}{}), }}", descr,
                                 fmt::join(t.shape(), ", "), t.dim() == 1 ? "," : "");
  // numpy pads with spaces and a final newline so that the data starts 64-byte aligned.
  const bool v2 = dict.size() + 1 + 10 > 65535;
  const size_t prefix = v2 ? 12 : 10;
  dict.append((64 - (prefix + dict.size() + 1) % 64) % 64, ' ');
  dict += '\n';
  std::string out(kMagic);
  out += char(v2 ? 2 : 1);
  out += char(0);
  const uint32_t n = uint32_t(dict.size());
  out.append(reinterpret_cast<const char*>(&n), v2 ? 4 : 2);
  out += dict;
  const Tensor c = contiguous_of(t);
  if (c.numel() > 0) out.append(static_cast<const char*>(c.raw_data()), c.nbytes());
  return out;
}

Tensor load_npy(const std::string& path) {
  const io::RegularFile file(path, "load_npy");  // a FIFO or /dev/zero is refused, never read
  const std::vector<uint8_t> bytes = file.read_all();
  return parse_npy(bytes, fmt::format("npy file '{}'", path));
}

void save_npy(const std::string& path, const Tensor& t) { io::detail::write_file_atomically(path, serialize_npy(t)); }

}  // namespace doppel::serve
