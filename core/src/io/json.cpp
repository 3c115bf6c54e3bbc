#include "doppel/io/json.h"

#include <fmt/format.h>

#include <charconv>

#include "doppel/core/error.h"

namespace doppel::io::json {

const Value* Value::find(std::string_view key) const {
  if (kind != Kind::Object) return nullptr;
  for (size_t i = 0; i < keys.size(); ++i)
    if (keys[i] == key) return &items[i];
  return nullptr;
}

std::optional<int64_t> Value::as_int64() const {
  if (kind != Kind::Number) return std::nullopt;
  if (text.find_first_of(".eE") != std::string::npos) return std::nullopt;
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || p != end) return std::nullopt;  // out of range
  return v;
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;  // a continuation byte or 0xF8..0xFF as a lead byte
    }
    if (end - p <= n) return false;
    for (int k = 1; k <= n; ++k) {
      if ((p[k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[k] & 0x3F);
    }
    static constexpr uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += n + 1;
  }
  return true;
}

namespace {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

}  // namespace

void Lexer::fail_at(size_t pos, std::string_view msg) const {
  throw FormatError(fmt::format("{}: malformed JSON at byte {}: {}", what_, pos, msg));
}

void Lexer::skip_ws() {
  while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
}

void Lexer::expect_literal(std::string_view lit) {
  if (s_.substr(pos_, lit.size()) != lit) fail(fmt::format("expected '{}'", lit));
  pos_ += lit.size();
}

bool Lexer::after_item(char close, std::string_view container) {
  skip_ws();
  if (at_end()) fail(fmt::format("unexpected end of input inside {}", container));
  if (peek() == ',') {
    ++pos_;
    return true;
  }
  if (peek() == close) {
    ++pos_;
    return false;
  }
  fail(fmt::format("expected ',' or '{}' in {}", close, container));
}

uint32_t Lexer::parse_hex4() {
  if (s_.size() - pos_ < 4) fail("truncated \\u escape");
  uint32_t cp = 0;
  for (int k = 0; k < 4; ++k) {
    const char c = s_[pos_++];
    cp <<= 4;
    if (c >= '0' && c <= '9')
      cp |= uint32_t(c - '0');
    else if (c >= 'a' && c <= 'f')
      cp |= uint32_t(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      cp |= uint32_t(c - 'A' + 10);
    else
      fail("invalid hex digit in \\u escape");
  }
  return cp;
}

std::string Lexer::parse_string() {
  ++pos_;  // opening quote
  std::string out;
  while (true) {
    if (at_end()) fail("unterminated string");
    const char c = s_[pos_];
    if (c == '"') {
      ++pos_;
      return out;
    }
    if (uint8_t(c) < 0x20) fail("unescaped control character in a string");
    if (c != '\\') {
      out += c;  // the whole document was UTF-8-validated before parsing
      ++pos_;
      continue;
    }
    ++pos_;
    if (at_end()) fail("unterminated escape");
    const char e = s_[pos_++];
    switch (e) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t cp = parse_hex4();
        if (cp >= 0xDC00 && cp <= 0xDFFF) fail("lone low surrogate in \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (s_.substr(pos_, 2) != "\\u") fail("high surrogate not followed by a low surrogate");
          pos_ += 2;
          const uint32_t lo = parse_hex4();
          if (lo < 0xDC00 || lo > 0xDFFF) fail("high surrogate not followed by a low surrogate");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        append_utf8(out, cp);
        break;
      }
      default:
        --pos_;
        fail(fmt::format("invalid escape '\\{}'", e));
    }
  }
}

std::string_view Lexer::parse_number() {
  const size_t start = pos_;
  auto digits = [&] {
    const size_t d0 = pos_;
    while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
    return pos_ - d0;
  };
  if (peek() == '-') ++pos_;
  if (at_end()) fail("truncated number");
  if (peek() == '0') {
    ++pos_;
    if (!at_end() && peek() >= '0' && peek() <= '9') fail("leading zeros are not allowed in numbers");
  } else if (digits() == 0) {
    fail("expected a digit");
  }
  if (!at_end() && peek() == '.') {
    ++pos_;
    if (digits() == 0) fail("expected a digit after '.'");
  }
  if (!at_end() && (peek() == 'e' || peek() == 'E')) {
    ++pos_;
    if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
    if (digits() == 0) fail("expected a digit in the exponent");
  }
  return s_.substr(start, pos_ - start);
}

namespace {

// The recursive-descent tree builder on top of the Lexer; depth is bounded by kMaxDepth.
class Parser {
 public:
  Parser(std::string_view s, std::string_view what) : lex_(s, what) {}

  Value parse_document() {
    lex_.skip_ws();
    Value v = parse_value(0);
    lex_.skip_ws();
    if (!lex_.at_end()) lex_.fail("unexpected trailing characters after the JSON value");
    return v;
  }

 private:
  Value parse_value(int depth) {
    if (depth > kMaxDepth) lex_.fail(fmt::format("nesting deeper than {} levels", kMaxDepth));
    if (lex_.at_end()) lex_.fail("unexpected end of input, expected a value");
    Value v;
    switch (lex_.peek()) {
      case '{':
        parse_object(v, depth);
        break;
      case '[':
        parse_array(v, depth);
        break;
      case '"':
        v.kind = Value::Kind::String;
        v.text = lex_.parse_string();
        break;
      case 't':
        lex_.expect_literal("true");
        v.kind = Value::Kind::Bool;
        v.boolean = true;
        break;
      case 'f':
        lex_.expect_literal("false");
        v.kind = Value::Kind::Bool;
        break;
      case 'n':
        lex_.expect_literal("null");
        break;
      default:
        if (lex_.at_number()) {
          v.kind = Value::Kind::Number;
          v.text = std::string(lex_.parse_number());
        } else {
          lex_.fail(fmt::format("unexpected character 0x{:02x}", uint8_t(lex_.peek())));
        }
    }
    return v;
  }

  void parse_object(Value& v, int depth) {
    v.kind = Value::Kind::Object;
    lex_.parse_object_members([&](std::string key, size_t key_pos) {
      // Linear scan: headers have few keys per object, and a map would cost more than it saves.
      for (const auto& k : v.keys)
        if (k == key) lex_.fail_at(key_pos, fmt::format("duplicate key \"{}\"", key));
      v.items.push_back(parse_value(depth + 1));
      v.keys.push_back(std::move(key));
    });
  }

  void parse_array(Value& v, int depth) {
    v.kind = Value::Kind::Array;
    lex_.parse_array_elements([&] { v.items.push_back(parse_value(depth + 1)); });
  }

  Lexer lex_;
};

}  // namespace

Value parse(std::string_view text, std::string_view what) {
  if (!is_valid_utf8(text)) throw FormatError(fmt::format("{}: not valid UTF-8", what));
  return Parser(text, what).parse_document();
}

std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (uint8_t(c) < 0x20)
          out += fmt::format("\\u{:04x}", unsigned(uint8_t(c)));
        else
          out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace doppel::io::json
