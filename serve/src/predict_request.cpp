// The streaming reader of TF Serving predict requests (see predict_json.h).
#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "doppel/io/json.h"
#include "doppel/serve/predict_json.h"

namespace doppel::serve {

namespace json = io::json;

namespace {

// Accumulates one input's values from nested JSON lists, checking that the nesting is
// rectangular. Depth 0 is the value's own top level; row-format examples are parsed at depth 1
// with the instances list playing depth 0 (see set_outer).
class TensorBuilder {
 public:
  TensorBuilder(const InputSpec& spec, json::Lexer& lex, std::string_view body) : spec_(spec), lex_(lex), body_(body) {}

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
  json::Lexer& lex_;
  std::string_view body_;      // what lex_ reads
  std::vector<int64_t> dims_;  // list length per depth, -1 until a list at that depth closes
  int leaf_depth_ = -1;        // the depth numbers sit at, once one was seen
  std::vector<uint8_t> bytes_;
};

std::string input_names(std::span<const InputSpec> inputs) {
  std::string s;
  for (const auto& in : inputs) s += (s.empty() ? "'" : ", '") + in.name + "'";
  return s;
}

class RequestReader {
 public:
  RequestReader(std::string_view body, std::span<const InputSpec> inputs)
      : inputs_(inputs), lex_(body, "predict request") {
    builders_.reserve(inputs.size());
    for (const auto& in : inputs) builders_.emplace_back(in, lex_, body);
  }

  PredictRequest read() {
    DOPPEL_CHECK(!inputs_.empty(), "predict: the model has no inputs");
    lex_.skip_ws();
    if (lex_.at_end() || lex_.peek() != '{')
      throw ValueError("predict request: the body must be a JSON object with \"instances\" or \"inputs\"");
    PredictRequest req;
    int found = 0;
    lex_.parse_object_members([&](std::string key, size_t) {
      if (key == "instances" || key == "inputs") {
        if (found++ > 0)
          throw ValueError("predict request: give exactly one of \"instances\" (row format) or \"inputs\" (columnar)");
        req.format = key == "instances" ? RequestFormat::Row : RequestFormat::Columnar;
        if (req.format == RequestFormat::Row)
          read_instances();
        else
          read_inputs();
      } else if (key == "signature_name") {
        if (lex_.at_end() || lex_.peek() != '"')
          throw ValueError("predict request: \"signature_name\" must be a string");
        const std::string sig = lex_.parse_string();
        if (sig != "serving_default")
          throw ValueError(fmt::format("predict request: unknown signature_name {} (the model has \"serving_default\")",
                                       json::quote(sig.substr(0, 80))));
      } else {
        throw ValueError(
            fmt::format("predict request: unknown key {} (expected \"instances\", \"inputs\" or "
                        "\"signature_name\")",
                        json::quote(key.substr(0, 80))));
      }
    });
    lex_.skip_ws();
    if (!lex_.at_end()) lex_.fail("unexpected trailing characters after the JSON value");
    if (found == 0) throw ValueError("predict request: missing \"instances\" (row format) or \"inputs\" (columnar)");
    for (const auto& b : builders_) req.inputs.push_back(b.finish());
    return req;
  }

 private:
  size_t index_of(const std::string& name) const {
    for (size_t i = 0; i < inputs_.size(); ++i)
      if (inputs_[i].name == name) return i;
    throw ValueError(fmt::format("predict request: unknown input {} (the model's inputs: {})",
                                 json::quote(name.substr(0, 80)), input_names(inputs_)));
  }

  // An object keyed by input name whose values are parsed at `depth`; every input must appear once.
  void read_named(int depth, std::string_view where) {
    std::vector<bool> seen(inputs_.size(), false);
    lex_.parse_object_members([&](std::string key, size_t) {
      const size_t i = index_of(key);
      if (seen[i]) throw ValueError(fmt::format("predict request: input '{}' given twice {}", key, where));
      seen[i] = true;
      builders_[i].parse_value(depth);
    });
    for (size_t i = 0; i < inputs_.size(); ++i)
      if (!seen[i])
        throw ValueError(fmt::format("predict request: input '{}' is missing {} (the model's inputs: {})",
                                     inputs_[i].name, where, input_names(inputs_)));
  }

  void read_instances() {
    if (lex_.at_end() || lex_.peek() != '[')
      throw ValueError("predict request: \"instances\" must be a list of examples");
    int64_t count = 0;
    bool named = false;
    lex_.parse_array_elements([&] {
      const bool is_object = !lex_.at_end() && lex_.peek() == '{';
      if (count == 0) {
        named = is_object;
        if (!named && inputs_.size() > 1)
          throw ValueError(
              fmt::format("predict request: the model has {} inputs ({}); each instance must be an "
                          "object keyed by input name",
                          inputs_.size(), input_names(inputs_)));
      } else if (is_object != named) {
        throw ValueError(fmt::format("predict request: instance {} is {} but instance 0 was {}", count,
                                     is_object ? "an object" : "not an object", named ? "one" : "not"));
      }
      if (named)
        read_named(1, fmt::format("in instance {}", count));
      else
        builders_[0].parse_value(1);
      ++count;
    });
    if (count == 0) throw ValueError("predict request: \"instances\" is empty; send at least one example");
    for (auto& b : builders_) b.set_outer(count);
  }

  void read_inputs() {
    if (!lex_.at_end() && lex_.peek() == '{') {
      read_named(0, "from \"inputs\"");
      return;
    }
    if (inputs_.size() > 1)
      throw ValueError(
          fmt::format("predict request: the model has {} inputs ({}); \"inputs\" must be an object "
                      "keyed by input name",
                      inputs_.size(), input_names(inputs_)));
    builders_[0].parse_value(0);
  }

  std::span<const InputSpec> inputs_;
  json::Lexer lex_;
  std::vector<TensorBuilder> builders_;
};

}  // namespace

PredictRequest parse_predict_request(std::string_view body, std::span<const InputSpec> inputs) {
  if (!json::is_valid_utf8(body)) throw FormatError("predict request: the body is not valid UTF-8");
  return RequestReader(body, inputs).read();
}

}  // namespace doppel::serve
