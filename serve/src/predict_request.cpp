// The streaming reader of TF Serving predict requests (see predict_json.h).
#include <fmt/format.h>

#include "doppel/io/json.h"
#include "doppel/serve/predict_json.h"
#include "tensor_builder.h"

namespace doppel::serve {

namespace json = io::json;

namespace {

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
      if (key == "instances" || key == "inputs" || key == "examples") {
        if (found++ > 0)
          throw ValueError(
              "predict request: give exactly one of \"instances\" (row format), \"inputs\" (columnar) or "
              "\"examples\" (:classify, :regress)");
        req.format = key == "instances" ? RequestFormat::Row
                     : key == "inputs"  ? RequestFormat::Columnar
                                        : RequestFormat::Examples;
        if (req.format == RequestFormat::Columnar)
          read_inputs();
        else
          read_instances(req.format == RequestFormat::Examples);
      } else if (key == "signature_name") {
        if (lex_.at_end() || lex_.peek() != '"')
          throw ValueError("predict request: \"signature_name\" must be a string");
        const std::string sig = lex_.parse_string();
        if (sig != "serving_default")
          throw ValueError(fmt::format("predict request: unknown signature_name {} (the model has \"serving_default\")",
                                       json::quote(sig.substr(0, 80))));
      } else {
        throw ValueError(
            fmt::format("predict request: unknown key {} (expected \"instances\", \"inputs\", \"examples\" or "
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

  void read_instances(bool examples) {
    const std::string_view key = examples ? "examples" : "instances";
    if (lex_.at_end() || lex_.peek() != '[')
      throw ValueError(fmt::format("predict request: \"{}\" must be a list of examples", key));
    int64_t count = 0;
    bool named = false;
    lex_.parse_array_elements([&] {
      const bool is_object = !lex_.at_end() && lex_.peek() == '{';
      if (examples && !is_object)
        throw ValueError(fmt::format("predict request: example {} is not an object keyed by input name", count));
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
    if (count == 0) throw ValueError(fmt::format("predict request: \"{}\" is empty; send at least one example", key));
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
