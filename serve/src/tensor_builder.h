#pragma once
// TensorBuilder: one request input's values streamed from JSON (nested lists of numbers or
// booleans) straight into storage of the input's dtype, with shape, range and type checks; and
// input_names for error messages.
// Shared by the TF Serving reader (predict_request.cpp) and the KServe v2 reader (kserve_json.cpp).
#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <span>
#include <string>

#include "doppel/io/json.h"
#include "doppel/serve/predict_json.h"

namespace doppel::serve {

// Accumulates one input's values from nested JSON lists, checking that the nesting is
// rectangular. Depth 0 is the value's own top level; row-format examples are parsed at depth 1
// with the instances list playing depth 0 (see set_outer).
class TensorBuilder {
 public:
  TensorBuilder(const InputSpec& spec, io::json::Lexer& lex, std::string_view body)
      : spec_(spec), lex_(lex), body_(body) {}

  void parse_value(int depth) {
    if (lex_.at_end()) lex_.fail("unexpected end of input, expected a value");
    if (lex_.peek() == '[') {
      if (depth >= kMaxRequestDims)
        fail(fmt::format("lists nested deeper than {} levels (a tensor has at most {} dimensions)", kMaxRequestDims,
                         kMaxRequestDims));
      if (leaf_depth_ >= 0 && depth >= leaf_depth_)
        ragged(fmt::format("a list at depth {} where earlier values had numbers", depth));
      int64_t count = 0;
      lex_.parse_array_elements([&] {
        parse_value(depth + 1);
        ++count;
      });
      close_list(depth, count);
      return;
    }
    // JSON syntax errors ("[1,]") come before the shape checks, so they read as such.
    if (!lex_.at_number() && std::string_view("tfn\"{NI").find(lex_.peek()) == std::string_view::npos)
      lex_.fail(fmt::format("unexpected character 0x{:02x}, expected a value", uint8_t(lex_.peek())));
    if (leaf_depth_ < 0) {
      if (int(dims_.size()) > depth) ragged(fmt::format("a number at depth {} where earlier values had lists", depth));
      leaf_depth_ = depth;
    } else if (depth != leaf_depth_) {
      ragged(fmt::format("a number at depth {} where earlier numbers were at depth {}", depth, leaf_depth_));
    }
    append_scalar();
  }

  // The instances list of a row-format request held `count` examples parsed at depth 1.
  void set_outer(int64_t count) { close_list(0, count); }

  // The values as a tensor of `shape`, which the request states apart from them (KServe v2:
  // the data may be flat or nested in any way that holds the same values in row-major order).
  Tensor finish_with_shape(const Shape& shape) const {
    int64_t numel = 1;
    for (const int64_t d : shape) numel *= d;
    const size_t have = bytes_.size() / element_size(spec_.dtype);
    if (size_t(numel) != have)
      throw ShapeError(fmt::format("input '{}': shape {} holds {} values but the data has {}", spec_.name,
                                   shape_str(shape), numel, have));
    Tensor t = make_tensor(shape, spec_.dtype);
    if (!bytes_.empty()) std::memcpy(t.raw_data(), bytes_.data(), bytes_.size());
    return t;
  }

  Tensor finish() const {
    const size_t rank = leaf_depth_ >= 0 ? size_t(leaf_depth_) : dims_.size();
    // Every depth above the numbers holds a list, and each list closes before parsing ends.
    DOPPEL_INTERNAL_ASSERT(dims_.size() == rank);
    Shape shape(dims_.begin(), dims_.end());
    Tensor t = make_tensor(shape, spec_.dtype);
    if (!bytes_.empty()) std::memcpy(t.raw_data(), bytes_.data(), bytes_.size());
    return t;
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    throw ValueError(fmt::format("input '{}' (near byte {}): {}", spec_.name, lex_.pos(), msg));
  }
  [[noreturn]] void ragged(const std::string& msg) const {
    throw ShapeError(
        fmt::format("input '{}' (near byte {}): ragged nested lists: {}; every list at one depth must "
                    "have the same length and numbers must all sit at the same depth",
                    spec_.name, lex_.pos(), msg));
  }
  [[noreturn]] void bad_type(const std::string& msg) const {
    throw DTypeError(
        fmt::format("input '{}' (near byte {}) of dtype {}: {}", spec_.name, lex_.pos(), dtype_name(spec_.dtype), msg));
  }

  void close_list(int depth, int64_t count) {
    if (int(dims_.size()) <= depth) dims_.resize(size_t(depth) + 1, -1);
    if (dims_[depth] < 0) {
      dims_[depth] = count;
    } else if (dims_[depth] != count) {
      ragged(
          fmt::format("a list of length {} at depth {} where earlier lists had length {}", count, depth, dims_[depth]));
    }
  }

  template <typename T>
  void push(T v) {
    const size_t at = bytes_.size();
    bytes_.resize(at + sizeof(T));
    std::memcpy(bytes_.data() + at, &v, sizeof(T));
  }

  void append_scalar() {
    const char c = lex_.peek();
    if (c == 't' || c == 'f') {
      const bool v = c == 't';
      lex_.expect_literal(v ? "true" : "false");
      if (spec_.dtype != DType::Bool) bad_type(fmt::format("got the boolean {}; send numbers", v));
      push<uint8_t>(v ? 1 : 0);
      return;
    }
    if (c == 'N' || c == 'I' || (c == '-' && next_is('I'))) return append_non_finite(c);
    if (!lex_.at_number()) {
      if (c == '"') bad_type("got a string; doppel tensors hold numbers and booleans only");
      if (c == '{') bad_type("got an object; binary ({\"b64\": ...}) and named values are not tensors");
      bad_type("got null; every element needs a value");
    }
    const std::string_view lit = lex_.parse_number();
    if (spec_.dtype == DType::Bool) bad_type(fmt::format("got the number {}; send true or false", lit));
    if (is_floating(spec_.dtype)) {
      push_float(lit);
    } else {
      push_int(lit);
    }
  }

  // The character after the current one is `c`.
  bool next_is(char c) const { return lex_.pos() + 1 < body_.size() && body_[lex_.pos() + 1] == c; }

  // NaN, Infinity and -Infinity: not JSON, but what TF Serving (and our responses) write for
  // non-finite floats.
  void append_non_finite(char c) {
    const std::string_view lit = c == 'N' ? "NaN" : c == 'I' ? "Infinity" : "-Infinity";
    lex_.expect_literal(lit);
    if (!is_floating(spec_.dtype)) bad_type(fmt::format("got {}; only floating inputs take NaN and infinities", lit));
    const double v = c == 'N' ? std::numeric_limits<double>::quiet_NaN()
                              : (c == '-' ? -1.0 : 1.0) * std::numeric_limits<double>::infinity();
    switch (spec_.dtype) {
      case DType::Float64:
        return push<double>(v);
      case DType::Float32:
        return push<float>(float(v));
      case DType::Float16:
        return push<float16>(float16(float(v)));
      case DType::BFloat16:
        return push<bfloat16>(bfloat16(float(v)));
      default:
        break;
    }
  }

  void push_float(std::string_view lit) {
    // strtod (not from_chars) so that underflow gives the nearest representable value (0 or a
    // subnormal) like numpy, while overflow is reported.
    const std::string s(lit);
    errno = 0;
    const double v = std::strtod(s.c_str(), nullptr);
    if (std::isinf(v)) bad_type(fmt::format("the number {} is out of range", lit.substr(0, 40)));
    switch (spec_.dtype) {
      case DType::Float64:
        return push<double>(v);
      case DType::Float32:
        if (std::fabs(v) > double(std::numeric_limits<float>::max()))
          bad_type(fmt::format("the number {} is out of range", lit.substr(0, 40)));
        return push<float>(float(v));
      case DType::Float16:
        if (std::fabs(v) > 65504.0) bad_type(fmt::format("the number {} is out of range", lit.substr(0, 40)));
        return push<float16>(float16(float(v)));
      case DType::BFloat16:
        if (std::fabs(v) > double(std::numeric_limits<float>::max()))
          bad_type(fmt::format("the number {} is out of range", lit.substr(0, 40)));
        return push<bfloat16>(bfloat16(float(v)));
      default:
        break;
    }
  }

  void push_int(std::string_view lit) {
    if (lit.find_first_of(".eE") != std::string_view::npos)
      bad_type(
          fmt::format("got {}; integer inputs take integer literals (no fraction or exponent)", lit.substr(0, 40)));
    int64_t v = 0;
    const auto [p, ec] = std::from_chars(lit.data(), lit.data() + lit.size(), v);
    auto check = [&](int64_t lo, int64_t hi) {
      if (ec != std::errc() || p != lit.data() + lit.size() || v < lo || v > hi)
        bad_type(fmt::format("the number {} is out of range [{}, {}]", lit.substr(0, 40), lo, hi));
    };
    switch (spec_.dtype) {
      case DType::Int64:
        check(INT64_MIN, INT64_MAX);
        return push<int64_t>(v);
      case DType::Int32:
        check(INT32_MIN, INT32_MAX);
        return push<int32_t>(int32_t(v));
      case DType::Int8:
        check(INT8_MIN, INT8_MAX);
        return push<int8_t>(int8_t(v));
      case DType::UInt8:
        check(0, UINT8_MAX);
        return push<uint8_t>(uint8_t(v));
      default:
        break;
    }
  }

  const InputSpec& spec_;
  io::json::Lexer& lex_;
  std::string_view body_;      // what lex_ reads
  std::vector<int64_t> dims_;  // list length per depth, -1 until a list at that depth closes
  int leaf_depth_ = -1;        // the depth numbers sit at, once one was seen
  std::vector<uint8_t> bytes_;
};

// "'a', 'b'": the inputs' names, for error messages.
inline std::string input_names(std::span<const InputSpec> inputs) {
  std::string s;
  for (const auto& in : inputs) s += (s.empty() ? "'" : ", '") + in.name + "'";
  return s;
}

}  // namespace doppel::serve
