// safetensors I/O and checkpoints: bit-exact round trips of every dtype, validation of
// malformed files (each a FormatError naming the problem), atomic saves, and the fuzz corpus
// as regression inputs.
#include <unistd.h>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "doppel/io/checkpoint.h"
#include "doppel/io/json.h"
#include "doppel/io/safetensors.h"
#include "support/temp_dir.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::ContainsSubstring;
using io::Metadata;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// Raw bytes of a tensor (contiguous), for bit-exact comparisons.
std::string bytes_of(const Tensor& t) {
  Tensor c = t;
  if (!t.is_contiguous()) {
    c = make_tensor(t.shape(), t.dtype());
    copy_strided(c, t);
  }
  return std::string(static_cast<const char*>(c.raw_data()), c.nbytes());
}

// A tensor of `dtype` whose bytes are a deterministic pattern (including NaN payloads, -0 and
// denormals for the floating types: a bit-exact round trip must keep them all).
Tensor pattern_tensor(IntList shape, DType dtype, uint8_t salt) {
  Tensor t = make_tensor(shape, dtype);
  auto* p = static_cast<uint8_t*>(t.raw_data());
  for (size_t i = 0; i < t.nbytes(); ++i) p[i] = uint8_t(i * 131 + salt * 17 + 7);
  if (dtype == DType::Bool)
    for (size_t i = 0; i < t.nbytes(); ++i) p[i] &= 1;
  return t;
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &n, 8);
  return s;
}
std::string file_with_header(const std::string& header, const std::string& data = "") {
  return le64(header.size()) + header + data;
}

void require_same(const StateDict& a, const StateDict& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("tensor " << a[i].first);
    CHECK(a[i].first == b[i].first);
    CHECK(a[i].second.dtype() == b[i].second.dtype());
    CHECK(a[i].second.shape() == b[i].second.shape());
    CHECK(bytes_of(a[i].second) == bytes_of(b[i].second));
  }
}

constexpr DType kAllDTypes[] = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8,
                                DType::UInt8,   DType::Int32,   DType::Int64,    DType::Bool};

StateDict all_dtype_state() {
  StateDict sd;
  uint8_t salt = 0;
  for (DType dt : kAllDTypes) {
    const std::string n(dtype_name(dt));
    sd.emplace_back(n + ".matrix", pattern_tensor({3, 5}, dt, salt++));
    sd.emplace_back(n + ".scalar", pattern_tensor({}, dt, salt++));
    sd.emplace_back(n + ".empty", pattern_tensor({0, 4}, dt, salt++));
    const Tensor base = pattern_tensor({4, 3}, dt, salt++);
    sd.emplace_back(n + ".transposed", make_view(base, {3, 4}, {1, 3}, 0));  // non-contiguous
  }
  return sd;
}

TEST_CASE("safetensors: every dtype round-trips bit-exactly, incl. 0-d, empty and strided", "[checkpoint]") {
  TempDir dir;
  const StateDict sd = all_dtype_state();
  const Metadata meta{{"format", "pt"}, {"unicode", "caf\xc3\xa9 \xe2\x9c\x93"}, {"quote\"and\\slash", "line\nbreak"}};
  io::save_safetensors(dir.file("a.safetensors"), sd, meta);
  const io::SafetensorsFile f = io::load_safetensors(dir.file("a.safetensors"));
  require_same(f.tensors, sd);  // same names in the same order
  CHECK(f.metadata == meta);
  for (const auto& [name, t] : f.tensors) CHECK(t.is_contiguous());

  // Re-serializing what we read gives the identical file.
  const std::string bytes = read_bytes(dir.file("a.safetensors"));
  CHECK(io::serialize_safetensors(f.tensors, f.metadata) == bytes);
}

TEST_CASE("safetensors: header is space-padded so the data section is 8-byte aligned", "[checkpoint]") {
  for (int64_t n : {1, 2, 3, 5, 7}) {
    const std::string bytes =
        io::serialize_safetensors({{std::string(size_t(n), 'x'), pattern_tensor({n}, DType::UInt8, 1)}});
    uint64_t hlen = 0;
    std::memcpy(&hlen, bytes.data(), 8);
    CHECK((8 + hlen) % 8 == 0);
    CHECK(bytes.size() == 8 + hlen + size_t(n));
    const std::string header = bytes.substr(8, hlen);
    CHECK(header.front() == '{');
    CHECK(header.find_last_not_of(' ') == header.rfind('}'));
  }
  // An empty state dict is a valid file too.
  const std::string empty = io::serialize_safetensors({});
  CHECK(empty.size() == 16);
  const io::SafetensorsFile f =
      io::parse_safetensors(std::span(reinterpret_cast<const uint8_t*>(empty.data()), empty.size()));
  CHECK(f.tensors.empty());
}

TEST_CASE("safetensors: files from the reference writer's layout parse (sorted, aligned, metadata first)",
          "[checkpoint]") {
  // Hand-written like the Python package writes them: keys in any order, offsets by dtype
  // alignment, spaces after the JSON.
  const std::string header = R"({"__metadata__":{"format":"np"},"b":{"dtype":"I8","shape":[2],"data_offsets":[8,10]},)"
                             R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}      )";
  std::string data(10, '\0');
  const float av[2] = {1.5f, -2.0f};
  std::memcpy(data.data(), av, 8);
  data[8] = 3;
  data[9] = -4;
  const std::string file = file_with_header(header, data);
  const io::SafetensorsFile f =
      io::parse_safetensors(std::span(reinterpret_cast<const uint8_t*>(file.data()), file.size()));
  REQUIRE(f.tensors.size() == 2);
  CHECK(f.tensors[0].first == "a");  // data-section order
  CHECK(f.tensors[0].second.to_vector<float>() == std::vector<float>{1.5f, -2.0f});
  CHECK(f.tensors[1].first == "b");
  CHECK(f.tensors[1].second.to_vector<int64_t>() == std::vector<int64_t>{3, -4});
  CHECK(f.metadata == Metadata{{"format", "np"}});
}

struct Malformed {
  const char* name;
  std::string bytes;
  const char* expect;  // a substring of the FormatError message
};

std::vector<Malformed> malformed_cases() {
  const std::string f32x1 = R"("dtype":"F32","shape":[1])";
  auto one = [](const std::string& entry) { return std::string(R"({"a":{)") + entry + "}}"; };
  std::vector<Malformed> c = {
      {"empty file", "", "file too small (0 bytes)"},
      {"short size field", "\x01\x02\x03\x04", "file too small (4 bytes)"},
      {"header size over the limit", le64(200'000'000) + "{}", "exceeds the 100000000-byte limit"},
      {"header size past the end", le64(100) + "{}", "header size 100 exceeds the 2 bytes"},
      {"header size zero", le64(0), "unexpected end of input"},
      {"header not UTF-8", file_with_header("{\"\xff\":1}"), "not valid UTF-8"},
      {"overlong UTF-8", file_with_header("{\"\xc0\xaf\":1}"), "not valid UTF-8"},
      {"header not JSON", file_with_header("hello"), "malformed JSON"},
      {"header is an array", file_with_header("[]"), "must be a JSON object"},
      {"trailing garbage after the JSON", file_with_header("{} x"), "trailing characters"},
      {"truncated JSON", file_with_header(R"({"a":{"dtype":"F32")"), "unexpected end of input"},
      {"unterminated string", file_with_header(R"({"a)"), "unterminated string"},
      {"trailing comma", file_with_header(R"({"a":{},})"), "expected a string key"},
      {"invalid escape", file_with_header(R"({"\q":{}})"), "invalid escape"},
      {"lone surrogate escape", file_with_header(R"({"\ud800":{}})"), "surrogate"},
      {"raw control character", file_with_header("{\"a\x01\":{}}"), "control character"},
      {"leading zeros", file_with_header(one(f32x1 + R"(,"data_offsets":[00,4])"), "abcd"), "leading zeros"},
      {"too deeply nested",
       file_with_header(R"({"__metadata__":)" + std::string(100, '[') + std::string(100, ']') + "}"), "nesting deeper"},
      {"duplicate tensor name",
       file_with_header(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],)"
                        R"("data_offsets":[1,2]}})",
                        "xy"),
       "duplicate key \"a\""},
      {"entry not an object", file_with_header(R"({"a":5})"), "entry must be an object"},
      {"unknown entry field", file_with_header(one(f32x1 + R"(,"data_offsets":[0,4],"x":1)"), "abcd"),
       "unknown field \"x\""},
      {"missing dtype", file_with_header(one(R"("shape":[1],"data_offsets":[0,4])"), "abcd"), "missing \"dtype\""},
      {"dtype not a string", file_with_header(one(R"("dtype":4,"shape":[1],"data_offsets":[0,4])"), "abcd"),
       "\"dtype\" must be a string"},
      {"unsupported dtype", file_with_header(one(R"("dtype":"U16","shape":[1],"data_offsets":[0,2])"), "ab"),
       "unsupported dtype \"U16\""},
      {"missing shape", file_with_header(one(R"("dtype":"F32","data_offsets":[0,4])"), "abcd"), "missing \"shape\""},
      {"shape not an array", file_with_header(one(R"("dtype":"F32","shape":1,"data_offsets":[0,4])"), "abcd"),
       "\"shape\" must be an array"},
      {"negative dimension", file_with_header(one(R"("dtype":"F32","shape":[-1],"data_offsets":[0,4])"), "abcd"),
       "negative dimension -1"},
      {"fractional dimension", file_with_header(one(R"("dtype":"F32","shape":[1.5],"data_offsets":[0,4])"), "abcd"),
       "shape entries must be integers"},
      {"element count overflows",
       file_with_header(one(R"("dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4])"), "abcd"),
       "overflows"},
      {"missing data_offsets", file_with_header(one(f32x1), "abcd"), "missing \"data_offsets\""},
      {"data_offsets of length 3", file_with_header(one(f32x1 + R"(,"data_offsets":[0,4,4])"), "abcd"),
       "must be an array [begin, end]"},
      {"data_offsets out of int64 range",
       file_with_header(one(f32x1 + R"(,"data_offsets":[0,99999999999999999999])"), "abcd"), "non-negative integers"},
      {"negative offset", file_with_header(one(f32x1 + R"(,"data_offsets":[-4,0])"), "abcd"), "non-negative integers"},
      {"begin after end", file_with_header(one(R"("dtype":"F32","shape":[0],"data_offsets":[4,0])"), "abcd"),
       "begin 4 > end 0"},
      {"offsets past the data section",
       file_with_header(one(R"("dtype":"F32","shape":[2],"data_offsets":[0,8])"), "abcd"),
       "extend past the data section (4 bytes)"},
      {"byte count mismatch", file_with_header(one(R"("dtype":"F32","shape":[2],"data_offsets":[0,4])"), "abcd"),
       "needs 8 bytes but data_offsets [0, 4] span 4"},
      {"overlapping tensors",
       file_with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[2],)"
                        R"("data_offsets":[2,6]}})",
                        "abcdef"),
       "overlap"},
      {"gap between tensors",
       file_with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],)"
                        R"("data_offsets":[8,12]}})",
                        "abcdefghijkl"),
       "belong to no tensor"},
      {"uncovered trailing data", file_with_header(one(f32x1 + R"(,"data_offsets":[0,4])"), "abcdefgh"),
       "the tensors cover only 4"},
      {"metadata not an object", file_with_header(R"({"__metadata__":[]})"), "must be an object of strings"},
      {"metadata value not a string", file_with_header(R"({"__metadata__":{"k":1}})"),
       "value of \"k\" must be a string"},
      {"BOOL byte other than 0/1",
       file_with_header(one(R"("dtype":"BOOL","shape":[2],"data_offsets":[0,2])"), std::string("\x01\x02", 2)),
       "must be 0 or 1"},
  };
  return c;
}

TEST_CASE("safetensors: malformed files are FormatErrors naming the problem and the file", "[checkpoint]") {
  TempDir dir;
  const auto cases = malformed_cases();
  CHECK(cases.size() >= 20);
  int i = 0;
  for (const auto& mc : cases) {
    INFO("case: " << mc.name);
    const std::string path = dir.file(fmt::format("bad{}.safetensors", i++));
    write_bytes(path, mc.bytes);
    try {
      (void)io::load_safetensors(path);
      FAIL("no error for a malformed file");
    } catch (const FormatError& e) {
      const std::string msg = e.what();
      INFO("message: " << msg);
      CHECK_THAT(msg, ContainsSubstring(mc.expect));
      CHECK_THAT(msg, ContainsSubstring(path));
    }
    // The in-memory parser agrees.
    CHECK_THROWS_AS(
        io::parse_safetensors(std::span(reinterpret_cast<const uint8_t*>(mc.bytes.data()), mc.bytes.size())),
        FormatError);
  }
}

TEST_CASE("safetensors: every truncation of a valid file is a FormatError", "[checkpoint]") {
  const std::string bytes = io::serialize_safetensors(
      {{"w", pattern_tensor({2, 3}, DType::Float32, 3)}, {"b", pattern_tensor({3}, DType::Int64, 4)}}, {{"k", "v"}});
  for (size_t n = 0; n < bytes.size(); ++n) {
    INFO("truncated to " << n << " bytes");
    CHECK_THROWS_AS(io::parse_safetensors(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), n)), FormatError);
  }
}

TEST_CASE("safetensors: missing files and invalid state dicts are clear errors", "[checkpoint]") {
  TempDir dir;
  CHECK_THAT(error_message<ValueError>([&] { (void)io::load_safetensors(dir.file("nope.safetensors")); }),
             ContainsSubstring("nope.safetensors") && ContainsSubstring("No such file"));
  CHECK_THAT(error_message<ValueError>([&] { (void)io::load_safetensors(dir.path.string()); }),
             ContainsSubstring("not a regular file"));
  const Tensor t = pattern_tensor({2}, DType::Float32, 0);
  CHECK_THROWS_AS(io::serialize_safetensors({{"a", t}, {"a", t}}), ValueError);
  CHECK_THROWS_AS(io::serialize_safetensors({{"__metadata__", t}}), ValueError);
  CHECK_THROWS_AS(io::serialize_safetensors({{"a", Tensor()}}), ValueError);
  CHECK_THROWS_AS(io::serialize_safetensors({{"\xff", t}}), ValueError);
}

TEST_CASE("safetensors: a failed save leaves the previous file intact and no temporaries", "[checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const StateDict old_sd{{"w", pattern_tensor({64}, DType::Float32, 1)}};
  io::save_safetensors(path, old_sd);
  const std::string old_bytes = read_bytes(path);
  const StateDict new_sd{{"w", pattern_tensor({128}, DType::Float32, 2)}};
  const size_t new_size = io::serialize_safetensors(new_sd).size();

  for (int64_t fail_at : {int64_t(0), int64_t(5), int64_t(new_size / 2), int64_t(new_size)}) {
    INFO("failure after " << fail_at << " bytes");
    io::detail::set_write_failure_after_bytes_for_testing(fail_at);
    CHECK_THAT(error_message<ValueError>([&] { (void)io::save_safetensors(path, new_sd); }),
               ContainsSubstring("injected failure"));
    io::detail::set_write_failure_after_bytes_for_testing(-1);
    CHECK(read_bytes(path) == old_bytes);
    size_t files = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++files;
    CHECK(files == 1);  // the temporary was removed
  }
  require_same(io::load_safetensors(path).tensors, old_sd);

  // A directory that does not exist: an error naming the path, nothing created.
  CHECK_THAT(error_message<ValueError>([&] { (void)io::save_safetensors(dir.file("missing/x.safetensors"), new_sd); }),
             ContainsSubstring("missing/x.safetensors"));
  // Renaming over a directory fails after the temporary was written: it is cleaned up.
  fs::create_directories(dir.path / "sub" / "occupied");
  CHECK_THROWS_AS(io::save_safetensors((dir.path / "sub" / "occupied").string(), new_sd), ValueError);
  size_t sub_files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path / "sub")) ++sub_files;
  CHECK(sub_files == 1);

  // A successful save replaces the old file.
  io::save_safetensors(path, new_sd);
  require_same(io::load_safetensors(path).tensors, new_sd);
}

TEST_CASE("checkpoint: model + optimizer state round-trip bit-exactly by part", "[checkpoint]") {
  TempDir dir;
  const StateDict model{{"fc.weight", pattern_tensor({4, 3}, DType::Float32, 1)},
                        {"fc.bias", pattern_tensor({4}, DType::Float32, 2)},
                        {"bn.num_batches_tracked", pattern_tensor({}, DType::Int64, 3)}};
  const StateDict optim{{"param_groups.0.lr", pattern_tensor({}, DType::Float64, 4)},
                        {"state.0.exp_avg", pattern_tensor({4, 3}, DType::Float32, 5)},
                        {"state.0.step", pattern_tensor({}, DType::Int64, 6)}};
  const std::string path = dir.file("ckpt.safetensors");
  io::save_checkpoint(path, {{"model", model}, {"optim", optim}, {"scheduler", {}}}, {{"epoch", "7"}});
  const io::Checkpoint ck = io::load_checkpoint(path);
  REQUIRE(ck.parts.size() == 3);
  CHECK(ck.parts[0].first == "model");
  CHECK(ck.parts[1].first == "optim");
  CHECK(ck.parts[2].first == "scheduler");
  require_same(ck.part("model"), model);
  require_same(ck.part("optim"), optim);
  CHECK(ck.part("scheduler").empty());
  CHECK(ck.metadata == Metadata{{"epoch", "7"}});
  CHECK(ck.has_part("optim"));
  CHECK_FALSE(ck.has_part("ema"));
  CHECK_THAT(error_message<ValueError>([&] { (void)ck.part("ema"); }), ContainsSubstring("model, optim, scheduler"));

  // The file is plain safetensors with prefixed keys.
  const io::SafetensorsFile raw = io::load_safetensors(path);
  CHECK(raw.tensors[0].first == "model/fc.weight");
  CHECK(raw.tensors[3].first == "optim/param_groups.0.lr");

  CHECK_THROWS_AS(io::save_checkpoint(path, {{"a/b", model}}), ValueError);
  CHECK_THROWS_AS(io::save_checkpoint(path, {{"m", model}, {"m", optim}}), ValueError);
  CHECK_THROWS_AS(io::save_checkpoint(path, {{"m", model}}, {{std::string(io::kCheckpointPartsKey), "x"}}), ValueError);
  // A plain safetensors file, or one whose keys match no listed part, is not a checkpoint.
  io::save_safetensors(dir.file("plain.safetensors"), model);
  CHECK_THAT(error_message<FormatError>([&] { (void)io::load_checkpoint(dir.file("plain.safetensors")); }),
             ContainsSubstring("not a doppel checkpoint"));
  io::save_safetensors(dir.file("odd.safetensors"), {{"model/w", pattern_tensor({1}, DType::Float32, 0)}},
                       {{std::string(io::kCheckpointPartsKey), "optim"}});
  CHECK_THAT(error_message<FormatError>([&] { (void)io::load_checkpoint(dir.file("odd.safetensors")); }),
             ContainsSubstring("belongs to none of the parts"));
}

TEST_CASE("json: strict parser decodes escapes and rejects what RFC 8259 does", "[checkpoint]") {
  const auto v = io::json::parse(R"( {"a\u00e9\ud83d\ude00\n": [1, -0, 2.5e3, true, false, null, "x"]} )", "t");
  REQUIRE(v.is_object());
  REQUIRE(v.keys.size() == 1);
  CHECK(v.keys[0] == "a\xc3\xa9\xf0\x9f\x98\x80\n");
  const auto& arr = v.items[0];
  REQUIRE(arr.items.size() == 7);
  CHECK(arr.items[0].as_int64() == 1);
  CHECK(arr.items[1].as_int64() == 0);
  CHECK_FALSE(arr.items[2].as_int64().has_value());
  CHECK(arr.items[3].boolean);
  CHECK(io::json::parse(io::json::quote("a\"b\\c\x01\n\xe2\x9c\x93"), "t").text == "a\"b\\c\x01\n\xe2\x9c\x93");
  for (const char* bad :
       {"", "{", "[1,]", "01", "1.", "-", "1e", "\"\\u12\"", "tru", "{\"a\" 1}", "[1 2]", "\"\xed\xa0\x80\""})
    CHECK_THROWS_AS(io::json::parse(bad, "t"), FormatError);
}

TEST_CASE("safetensors: the fuzz corpus parses or fails with FormatError only", "[checkpoint]") {
  // The seed corpus and any crash inputs the fuzzer found (fuzz/regressions) replay here.
  const fs::path root = fs::path(DOPPEL_SOURCE_DIR) / "fuzz";
  size_t n = 0, valid = 0;
  for (const char* sub : {"corpus", "regressions"}) {
    if (!fs::exists(root / sub)) continue;
    for (const auto& e : fs::directory_iterator(root / sub)) {
      if (!e.is_regular_file()) continue;
      INFO("input " << e.path().string());
      const std::string bytes = read_bytes(e.path().string());
      try {
        const io::SafetensorsFile f =
            io::parse_safetensors(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
        // What parses must re-serialize to something that parses to the same tensors.
        const std::string again = io::serialize_safetensors(f.tensors, f.metadata);
        const io::SafetensorsFile g =
            io::parse_safetensors(std::span(reinterpret_cast<const uint8_t*>(again.data()), again.size()));
        require_same(g.tensors, f.tensors);
        ++valid;
      } catch (const FormatError&) {
      }
      ++n;
    }
  }
  CHECK(n >= 20);
  CHECK(valid >= 3);
}

}  // namespace
}  // namespace doppel::testing
