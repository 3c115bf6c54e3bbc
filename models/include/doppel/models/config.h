#pragma once
// An HF model directory's config.json: the parsed JSON plus typed accessors whose errors name the
// key and the file. The family configs (GPT2Config, BertConfig, LlamaConfig) read their fields
// through it with HF's defaults.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "doppel/io/json.h"

namespace doppel::models {

class HfConfig {
 public:
  // Reads <dir>/config.json. A missing file is a ValueError, malformed JSON a FormatError.
  static HfConfig load(const std::string& dir);
  // From JSON text; `what` names the document in errors.
  static HfConfig parse(std::string_view text, std::string what);

  const std::string& model_type() const { return model_type_; }
  // "architectures" (empty when the config has none).
  const std::vector<std::string>& architectures() const { return architectures_; }

  // The value of `key`, HF's `default` when the key is absent or null; a ValueError naming the
  // key when it has another JSON type.
  int64_t get_int(std::string_view key, std::optional<int64_t> fallback = std::nullopt) const;
  std::optional<int64_t> get_optional_int(std::string_view key) const;
  double get_double(std::string_view key, std::optional<double> fallback = std::nullopt) const;
  bool get_bool(std::string_view key, bool fallback) const;
  std::string get_string(std::string_view key, std::optional<std::string> fallback = std::nullopt) const;
  // True when `key` is present and not null.
  bool has(std::string_view key) const;
  // Reads each (key, field) integer pair with get_int; a field's current value is its default.
  void read_ints(std::initializer_list<std::pair<std::string_view, int64_t*>> fields) const;

  const io::json::Value& json() const { return root_; }
  const std::string& source() const { return what_; }

 private:
  const io::json::Value* member(std::string_view key) const;
  io::json::Value root_;
  std::string what_;
  std::string model_type_;
  std::vector<std::string> architectures_;
};

}  // namespace doppel::models
