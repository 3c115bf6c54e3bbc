// The KServe v2 infer request reader and response writer (see kserve_json.h).
#include "doppel/serve/kserve_json.h"

#include <fmt/format.h>

#include <cstring>
#include <optional>

#include "doppel/io/json.h"
#include "tensor_builder.h"

namespace doppel::serve {

namespace json = io::json;

std::string_view kserve_datatype(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return "FP32";
    case DType::Float64:
      return "FP64";
    case DType::Float16:
      return "FP16";
    case DType::BFloat16:
      return "BF16";
    case DType::Int8:
      return "INT8";
    case DType::UInt8:
      return "UINT8";
    case DType::Int32:
      return "INT32";
    case DType::Int64:
      return "INT64";
    case DType::Bool:
      return "BOOL";
  }
  return "INVALID";
}

namespace {

constexpr int kMaxSkipDepth = 64;

// Consumes one JSON value of any kind (a member the reader does not use).
void skip_value(json::Lexer& lex, int depth) {
  if (depth > kMaxSkipDepth) lex.fail(fmt::format("nesting deeper than {} levels", kMaxSkipDepth));
  if (lex.at_end()) lex.fail("unexpected end of input, expected a value");
  switch (lex.peek()) {
    case '[':
      return lex.parse_array_elements([&] { skip_value(lex, depth + 1); });
    case '{':
      return lex.parse_object_members([&](std::string, size_t) { skip_value(lex, depth + 1); });
    case '"':
      lex.parse_string();
      return;
    case 't':
      return lex.expect_literal("true");
    case 'f':
      return lex.expect_literal("false");
    case 'n':
      return lex.expect_literal("null");
    default:
      lex.parse_number();
  }
}

std::string read_string(json::Lexer& lex, std::string_view what) {
  if (lex.at_end() || lex.peek() != '"') throw ValueError(fmt::format("infer request: {} must be a string", what));
  return lex.parse_string();
}

int64_t read_int(json::Lexer& lex, std::string_view what) {
  if (!lex.at_number()) throw ValueError(fmt::format("infer request: {} must be a whole number", what));
  json::Value v;
  v.kind = json::Value::Kind::Number;
  v.text = std::string(lex.parse_number());
  const auto i = v.as_int64();
  if (!i || *i < 0)
    throw ValueError(fmt::format("infer request: {} must be a whole number >= 0, got {}", what, v.text));
  return *i;
}

bool read_bool(json::Lexer& lex, std::string_view what) {
  if (!lex.at_end() && lex.peek() == 't') {
    lex.expect_literal("true");
    return true;
  }
  if (!lex.at_end() && lex.peek() == 'f') {
    lex.expect_literal("false");
    return false;
  }
  throw ValueError(fmt::format("infer request: {} must be true or false", what));
}

class InferReader {
 public:
  InferReader(std::string_view text, std::string_view binary, std::span<const InputSpec> inputs)
      : text_(text), binary_(binary), specs_(inputs), lex_(text, "infer request"), got_(inputs.size()) {}

  InferRequest read() {
    lex_.skip_ws();
    if (lex_.at_end() || lex_.peek() != '{')
      throw ValueError("infer request: the body must be a JSON object with \"inputs\"");
    bool has_inputs = false;
    lex_.parse_object_members([&](const std::string& key, size_t) {
      if (key == "id") {
        req_.id = read_string(lex_, "\"id\"");
      } else if (key == "parameters") {
        read_parameters("", [&](const std::string& k) {
          if (k != "binary_data_output") return false;
          req_.binary_data_output = read_bool(lex_, "\"binary_data_output\"");
          return true;
        });
      } else if (key == "inputs") {
        has_inputs = true;
        read_list("\"inputs\"", [&] { read_input(); });
      } else if (key == "outputs") {
        read_list("\"outputs\"", [&] { read_output(); });
      } else {
        skip_value(lex_, 1);  // other protocol members this server has no use for
      }
    });
    lex_.skip_ws();
    if (!lex_.at_end()) lex_.fail("unexpected trailing characters after the JSON value");
    if (!has_inputs) throw ValueError("infer request: missing \"inputs\"");
    for (size_t i = 0; i < specs_.size(); ++i)
      if (!got_[i].defined())
        throw ValueError(fmt::format("infer request: input '{}' is missing (the model's inputs: {})", specs_[i].name,
                                     input_names(specs_)));
    if (binary_used_ != binary_.size())
      throw ValueError(
          fmt::format("infer request: {} bytes of binary data follow the JSON but the inputs' "
                      "binary_data_size add up to {}",
                      binary_.size(), binary_used_));
    req_.inputs = std::move(got_);
    return std::move(req_);
  }

 private:
  template <class F>
  void read_list(std::string_view what, F&& element) {
    if (lex_.at_end() || lex_.peek() != '[') throw ValueError(fmt::format("infer request: {} must be a list", what));
    lex_.parse_array_elements([&] {
      if (lex_.at_end() || lex_.peek() != '{')
        throw ValueError(fmt::format("infer request: every entry of {} must be an object", what));
      element();
    });
  }

  // A "parameters" object: `known(key)` consumes the value of a parameter it knows and returns
  // true; the others are skipped.
  template <class F>
  void read_parameters(std::string_view where, F&& known) {
    if (lex_.at_end() || lex_.peek() != '{')
      throw ValueError(fmt::format("infer request: \"parameters\"{} must be an object", where));
    lex_.parse_object_members([&](const std::string& key, size_t) {
      if (!known(key)) skip_value(lex_, 1);
    });
  }

  void read_input() {
    std::string name, datatype;
    std::optional<Shape> shape;
    std::optional<int64_t> binary_size;
    std::optional<size_t> data_pos;  // where "data" starts in the text
    std::optional<Tensor> parsed;    // "data" parsed on the spot (its input was known by then)
    lex_.parse_object_members([&](const std::string& key, size_t) {
      if (key == "name") {
        name = read_string(lex_, "an input's \"name\"");
      } else if (key == "datatype") {
        datatype = read_string(lex_, "an input's \"datatype\"");
      } else if (key == "shape") {
        if (lex_.at_end() || lex_.peek() != '[')
          throw ValueError("infer request: an input's \"shape\" must be a list of sizes");
        Shape s;
        lex_.parse_array_elements([&] { s.push_back(read_int(lex_, "a \"shape\" entry")); });
        shape = s;
      } else if (key == "parameters") {
        read_parameters(" of an input", [&](const std::string& k) {
          if (k != "binary_data_size") return false;
          binary_size = read_int(lex_, "\"binary_data_size\"");
          return true;
        });
      } else if (key == "data") {
        data_pos = lex_.pos();
        if (const auto i = find(name); i && shape) {
          TensorBuilder b(specs_[*i], lex_, text_);
          b.parse_value(0);
          parsed = b.finish_with_shape(*shape);
        } else {
          skip_value(lex_, 0);  // parsed below, once the name and shape are known
        }
      } else {
        skip_value(lex_, 1);
      }
    });
    if (name.empty()) throw ValueError("infer request: an input has no \"name\"");
    const auto index = find(name);
    if (!index)
      throw ValueError(fmt::format("infer request: unknown input {} (the model's inputs: {})",
                                   json::quote(name.substr(0, 80)), input_names(specs_)));
    const InputSpec& spec = specs_[*index];
    if (got_[*index].defined()) throw ValueError(fmt::format("infer request: input '{}' given twice", name));
    if (datatype != kserve_datatype(spec.dtype))
      throw DTypeError(fmt::format("infer request: input '{}' has datatype {} (doppel {}); the request says {}", name,
                                   kserve_datatype(spec.dtype), dtype_name(spec.dtype),
                                   datatype.empty() ? std::string("nothing") : json::quote(datatype.substr(0, 40))));
    if (!shape) throw ValueError(fmt::format("infer request: input '{}' has no \"shape\"", name));
    if (binary_size) {
      if (data_pos)
        throw ValueError(fmt::format("infer request: input '{}' has both \"data\" and binary_data_size", name));
      got_[*index] = binary_tensor(spec, *shape, size_t(*binary_size));
    } else if (parsed) {
      got_[*index] = *parsed;
    } else if (data_pos) {
      const std::string_view rest = text_.substr(*data_pos);
      json::Lexer sub(rest, "infer request");
      TensorBuilder b(spec, sub, rest);
      b.parse_value(0);
      got_[*index] = b.finish_with_shape(*shape);
    } else {
      throw ValueError(fmt::format("infer request: input '{}' has no \"data\" (nor binary_data_size)", name));
    }
  }

  Tensor binary_tensor(const InputSpec& spec, const Shape& shape, size_t size) {
    Tensor t = make_tensor(shape, spec.dtype);
    if (size != t.nbytes())
      throw ShapeError(
          fmt::format("infer request: input '{}' of shape {} and datatype {} needs {} bytes of binary "
                      "data, binary_data_size says {}",
                      spec.name, shape_str(shape), kserve_datatype(spec.dtype), t.nbytes(), size));
    if (binary_.size() - binary_used_ < size)
      throw ValueError(
          fmt::format("infer request: input '{}' needs {} bytes of binary data but only {} follow the JSON", spec.name,
                      size, binary_.size() - binary_used_));
    if (size) std::memcpy(t.raw_data(), binary_.data() + binary_used_, size);
    binary_used_ += size;
    if (spec.dtype == DType::Bool)  // any nonzero byte is true; stored as 0/1
      for (auto* p = static_cast<uint8_t*>(t.raw_data()); p != static_cast<uint8_t*>(t.raw_data()) + size; ++p)
        *p = *p != 0;
    return t;
  }

  void read_output() {
    std::string name;
    bool binary = false;
    lex_.parse_object_members([&](const std::string& key, size_t) {
      if (key == "name") {
        name = read_string(lex_, "an output's \"name\"");
      } else if (key == "parameters") {
        read_parameters(" of an output", [&](const std::string& k) {
          if (k != "binary_data") return false;
          binary = read_bool(lex_, "\"binary_data\"");
          return true;
        });
      } else {
        skip_value(lex_, 1);
      }
    });
    if (name.empty()) throw ValueError("infer request: an entry of \"outputs\" has no \"name\"");
    req_.outputs.push_back(std::move(name));
    req_.binary.push_back(binary);
  }

  std::optional<size_t> find(const std::string& name) const {
    for (size_t i = 0; i < specs_.size(); ++i)
      if (specs_[i].name == name) return i;
    return std::nullopt;
  }

  std::string_view text_, binary_;
  std::span<const InputSpec> specs_;
  json::Lexer lex_;
  std::vector<Tensor> got_;
  size_t binary_used_ = 0;
  InferRequest req_;
};

// `t`'s values as one flat JSON list (row-major).
void append_flat_json(std::string& out, const Tensor& t) {
  const Tensor c = contiguous_of(t);
  Tensor flat = make_tensor({c.numel()}, c.dtype());
  if (c.nbytes()) std::memcpy(flat.raw_data(), c.raw_data(), c.nbytes());
  append_tensor_json(out, flat);
}

}  // namespace

InferRequest parse_infer_request(std::string_view json_text, std::string_view binary,
                                 std::span<const InputSpec> inputs) {
  if (!json::is_valid_utf8(json_text)) throw FormatError("infer request: the JSON is not valid UTF-8");
  return InferReader(json_text, binary, inputs).read();
}

InferResponse format_infer_response(const InferRequest& request, std::string_view model_name, int64_t version,
                                    std::span<const std::string> output_names, std::span<const Tensor> outputs) {
  DOPPEL_INTERNAL_ASSERT(output_names.size() == outputs.size());
  std::vector<std::pair<size_t, bool>> chosen;  // (output index, binary)
  if (request.outputs.empty()) {
    for (size_t i = 0; i < outputs.size(); ++i) chosen.emplace_back(i, request.binary_data_output);
  } else {
    for (size_t k = 0; k < request.outputs.size(); ++k) {
      size_t i = 0;
      while (i < output_names.size() && output_names[i] != request.outputs[k]) ++i;
      if (i == output_names.size()) {
        std::string names;
        for (const auto& n : output_names) names += (names.empty() ? "'" : ", '") + n + "'";
        throw ValueError(fmt::format("infer request: unknown output {} (the model's outputs: {})",
                                     json::quote(request.outputs[k].substr(0, 80)), names));
      }
      chosen.emplace_back(i, request.binary[k] || request.binary_data_output);
    }
  }
  InferResponse r;
  r.json = fmt::format("{{\"model_name\":{},\"model_version\":\"{}\"", json::quote(model_name), version);
  if (!request.id.empty()) r.json += fmt::format(",\"id\":{}", json::quote(request.id));
  r.json += ",\"outputs\":[";
  for (size_t k = 0; k < chosen.size(); ++k) {
    const auto [i, binary] = chosen[k];
    const Tensor& t = outputs[i];
    if (k) r.json += ',';
    r.json += fmt::format("{{\"name\":{},\"datatype\":\"{}\",\"shape\":[{}]", json::quote(output_names[i]),
                          kserve_datatype(t.dtype()), fmt::join(t.shape(), ","));
    if (binary) {
      const Tensor c = contiguous_of(t);
      r.json += fmt::format(",\"parameters\":{{\"binary_data_size\":{}}}}}", c.nbytes());
      r.binary.append(static_cast<const char*>(c.raw_data()), c.nbytes());
    } else {
      r.json += ",\"data\":";
      append_flat_json(r.json, t);
      r.json += '}';
    }
  }
  r.json += "]}";
  return r;
}

}  // namespace doppel::serve
