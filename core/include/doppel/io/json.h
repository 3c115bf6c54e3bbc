#pragma once
// A small, strict JSON reader and writer for file headers (safetensors) and request bodies
// (doppel-serve). It is
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

// The lexical layer of the parser: whitespace, literals, strings, numbers and the comma/bracket
// structure of arrays and objects, with errors naming the byte offset. It is public so that
// streaming readers (doppel-serve converts request numbers straight into tensor storage instead
// of building a Value per number) share one implementation with `parse`. `text` must already be
// valid UTF-8 (see is_valid_utf8). Callers bound their own recursion depth.
class Lexer {
 public:
  Lexer(std::string_view text, std::string_view what) : s_(text), what_(what) {}

  [[noreturn]] void fail(std::string_view msg) const { fail_at(pos_, msg); }
  [[noreturn]] void fail_at(size_t pos, std::string_view msg) const;

  void skip_ws();
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return s_[pos_]; }  // precondition: !at_end()
  size_t pos() const { return pos_; }
  // True when the next character starts a number ('-' or a digit).
  bool at_number() const { return !at_end() && (peek() == '-' || (peek() >= '0' && peek() <= '9')); }
  void expect_literal(std::string_view lit);
  // At an opening quote: the decoded string (escapes and surrogate pairs resolved).
  std::string parse_string();
  // At a number: the literal as written, validated against the JSON grammar.
  std::string_view parse_number();

  // At '[': calls `element()` once per element, positioned at it (whitespace skipped); the
  // callback must consume exactly one value. Consumes the closing ']'.
  template <class F>
  void parse_array_elements(F&& element) {
    ++pos_;  // '['
    skip_ws();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return;
    }
    while (true) {
      skip_ws();
      element();
      if (!after_item(']', "an array")) return;
    }
  }

  // At '{': calls `member(key, key_pos)` once per member, positioned at its value; the callback
  // must consume exactly one value. Consumes the closing '}'.
  template <class F>
  void parse_object_members(F&& member) {
    ++pos_;  // '{'
    skip_ws();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return;
    }
    while (true) {
      skip_ws();
      if (at_end() || peek() != '"') fail("expected a string key");
      const size_t key_pos = pos_;
      std::string key = parse_string();
      skip_ws();
      if (at_end() || peek() != ':') fail("expected ':' after an object key");
      ++pos_;
      skip_ws();
      member(std::move(key), key_pos);
      if (!after_item('}', "an object")) return;
    }
  }

 private:
  // After an element: true at ',' (consumed, more follow), false at `close` (consumed).
  bool after_item(char close, std::string_view container);
  uint32_t parse_hex4();

  std::string_view s_;
  std::string_view what_;
  size_t pos_ = 0;
};

// Parses exactly one JSON value spanning `text` (surrounding whitespace allowed). `what` names
// the document in error messages ("safetensors header"). Throws FormatError.
Value parse(std::string_view text, std::string_view what);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
bool is_valid_utf8(std::string_view s);

// `s` as a JSON string literal with quotes; `s` must be valid UTF-8 (checked by callers).
std::string quote(std::string_view s);

}  // namespace doppel::io::json
