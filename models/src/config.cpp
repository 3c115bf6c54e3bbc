#include "doppel/models/config.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "doppel/core/error.h"

namespace doppel::models {

using io::json::Value;

HfConfig HfConfig::load(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  std::ifstream in(path, std::ios::binary);
  DOPPEL_CHECK(in.good(), "from_pretrained: cannot read {} (an HF model directory holds config.json)", path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

HfConfig HfConfig::parse(std::string_view text, std::string what) {
  HfConfig c;
  c.root_ = io::json::parse(text, what);
  c.what_ = std::move(what);
  DOPPEL_CHECK_TYPED(FormatError, c.root_.is_object(), "{}: the config must be a JSON object", c.what_);
  c.model_type_ = c.get_string("model_type", "");
  if (const Value* a = c.member("architectures")) {
    DOPPEL_CHECK(a->is_array(), "{}: 'architectures' must be a list of strings", c.what_);
    for (const Value& item : a->items) {
      DOPPEL_CHECK(item.is_string(), "{}: 'architectures' must be a list of strings", c.what_);
      c.architectures_.push_back(item.text);
    }
  }
  return c;
}

const Value* HfConfig::member(std::string_view key) const {
  const Value* v = root_.find(key);
  return v == nullptr || v->kind == Value::Kind::Null ? nullptr : v;
}

bool HfConfig::has(std::string_view key) const { return member(key) != nullptr; }

int64_t HfConfig::get_int(std::string_view key, std::optional<int64_t> fallback) const {
  if (auto v = get_optional_int(key)) return *v;
  DOPPEL_CHECK(fallback.has_value(), "{}: the config has no '{}'", what_, key);
  return *fallback;
}

std::optional<int64_t> HfConfig::get_optional_int(std::string_view key) const {
  const Value* v = member(key);
  if (v == nullptr) return std::nullopt;
  auto i = v->as_int64();
  DOPPEL_CHECK(v->is_number() && i.has_value(), "{}: '{}' must be an integer, got {}", what_, key,
               v->is_number() || v->is_string() ? v->text : "another JSON type");
  return i;
}

void HfConfig::read_ints(std::initializer_list<std::pair<std::string_view, int64_t*>> fields) const {
  for (const auto& [key, field] : fields) *field = get_int(key, *field);
}

double HfConfig::get_double(std::string_view key, std::optional<double> fallback) const {
  const Value* v = member(key);
  if (v == nullptr) {
    DOPPEL_CHECK(fallback.has_value(), "{}: the config has no '{}'", what_, key);
    return *fallback;
  }
  DOPPEL_CHECK(v->is_number(), "{}: '{}' must be a number", what_, key);
  return std::strtod(v->text.c_str(), nullptr);
}

bool HfConfig::get_bool(std::string_view key, bool fallback) const {
  const Value* v = member(key);
  if (v == nullptr) return fallback;
  DOPPEL_CHECK(v->kind == Value::Kind::Bool, "{}: '{}' must be true or false", what_, key);
  return v->boolean;
}

std::string HfConfig::get_string(std::string_view key, std::optional<std::string> fallback) const {
  const Value* v = member(key);
  if (v == nullptr) {
    DOPPEL_CHECK(fallback.has_value(), "{}: the config has no '{}'", what_, key);
    return *fallback;
  }
  DOPPEL_CHECK(v->is_string(), "{}: '{}' must be a string", what_, key);
  return v->text;
}

}  // namespace doppel::models
