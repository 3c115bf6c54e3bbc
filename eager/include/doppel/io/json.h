#pragma once
// A small, strict JSON reader and writer, just enough for file headers (safetensors). It is
// strict on purpose: headers come from untrusted files, so anything RFC 8259 does not allow
// (trailing commas, comments, invalid UTF-8, lone surrogates, leading zeros, duplicate keys,
// nesting deeper than a fixed limit) is rejected with a FormatError naming the byte offset.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace doppel::io::json {

struct Value {
  enum class Kind : uint8_t { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  // Kind::String: the decoded string. Kind::Number: the literal as written.
  std::string text;
  // Kind::Array: the elements. Kind::Object: the values, parallel to `keys` (in file order).
  std::vector<Value> items;
  std::vector<std::string> keys;

  bool is_object() const { return kind == Kind::Object; }
  bool is_array() const { return kind == Kind::Array; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Number; }
  // The member named `key` of an object, or nullptr.
  const Value* find(std::string_view key) const;
  // The value of an integer literal (no fraction, no exponent) that fits in int64, else nullopt.
  std::optional<int64_t> as_int64() const;
};

// Nesting deeper than this is a FormatError (keeps the recursive parser's stack bounded).
inline constexpr int kMaxDepth = 64;

// Parses exactly one JSON value spanning `text` (surrounding whitespace allowed). `what` names
// the document in error messages ("safetensors header"). Throws FormatError.
Value parse(std::string_view text, std::string_view what);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
bool is_valid_utf8(std::string_view s);

// `s` as a JSON string literal with quotes; `s` must be valid UTF-8 (checked by callers).
std::string quote(std::string_view s);

}  // namespace doppel::io::json
