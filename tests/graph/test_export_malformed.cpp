// The model loader never trusts its file: a hand-encoded tiny model (model_file_builder.h)
// loads and computes what its weights say, and each of the defects below — one field changed,
// dropped or added — is a FormatError whose message names the defect. Every single-byte
// corruption and every truncation of the file also ends in a clean load or a FormatError, and
// the fuzzer's seed corpus and crash inputs (fuzz/corpus_model, fuzz/regressions_model) replay.
#include <catch2/catch_test_macros.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include "doppel/graph/compile.h"
#include "doppel/graph/export.h"
#include "doppel/nn/nn.h"
#include "doppel/runtime/model.h"
#include "model_file_builder.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::Bytes;
using testing::ModelFileBuilder;
using namespace testing;  // the field encoders

std::string load_error(const Bytes& bytes, const std::string& graph = "inference") {
  return testing::error_message<FormatError>([&] { (void)runtime::Model::from_bytes(bytes, graph); });
}

TEST_CASE("model file: the hand-encoded tiny model loads and computes its weights' function", "[export]") {
  const runtime::Model m = runtime::Model::from_bytes(tiny_model().build());
  CHECK(m.signature().inputs.at(0).str() == "x: f32[batch, 4]");
  CHECK(m.signature().outputs.at(0).str() == "y: f32[3*batch]");
  CHECK(m.metadata().producer == "hand-built");
  CHECK(m.metadata().created_unix == 1700000000);
  CHECK(m.metadata().user == std::vector<std::pair<std::string, std::string>>{{"task", "tiny"}});
  CHECK(m.graph_names() == std::vector<std::string>{"inference"});
  REQUIRE(m.weights().size() == 2);
  CHECK(m.weights()[0].first == "fc.weight");
  for (int64_t batch : {1, 2, 5}) {
    std::vector<float> x(size_t(batch * 4));
    for (size_t k = 0; k < x.size(); ++k) x[k] = float(k % 7) - 3.0f;
    Tensor xt = make_tensor({batch, 4}, DType::Float32);
    std::copy(x.begin(), x.end(), xt.data_ptr<float>());
    const std::vector<float> y = m.run({xt})[0].to_vector<float>();
    REQUIRE(y.size() == size_t(batch * 3));
    const float bias[3] = {1.0f, -1.0f, 0.5f};
    for (int64_t r = 0; r < batch; ++r)
      for (int o = 0; o < 3; ++o) {
        float acc = bias[o];
        for (int i = 0; i < 4; ++i) acc += x[size_t(r * 4 + i)] * 0.1f * float(o * 4 + i + 1);
        const float want = acc > 0 ? acc : 0.1f * acc;
        CHECK(std::abs(y[size_t(r * 3 + o)] - want) < 1e-5f);
      }
  }
}

struct Defect {
  const char* what;
  std::function<void(ModelFileBuilder&)> apply;
  const char* expected;  // a substring of the FormatError's message
};

const std::vector<Defect>& defects() {
  static const std::vector<Defect> table = {
      {"wrong magic", [](auto& b) { b.magic = Bytes(8, std::byte('X')); }, "bad magic"},
      {"future version", [](auto& b) { b.version = u32(4); },
       "format version 4 is not supported (this runtime reads versions 1 to 3)"},
      {"unknown flags", [](auto& b) { b.flags = u32(4); }, "unknown header flags"},
      {"stated size larger than the file", [](auto& b) { b.file_size = u64(1 << 20); }, "header says the file has"},
      {"data region shorter than the rest of the file",
       [](auto& b) {
         b.data.resize(b.data.size() + 1);
         b.data_size = u64(b.data.size() - 1);
       },
       "data region"},
      {"metadata past the end", [](auto& b) { b.meta_size = u64(~0ull / 2); }, "runs past the end"},
      {"unaligned data region", [](auto& b) { b.data_offset = u64(70); }, "data region"},
      {"stale header checksum", [](auto& b) { b.header_crc = u32(0x12345678); }, "checksum mismatch in the header"},
      {"stale metadata checksum", [](auto& b) { b.meta_crc = u32(0x12345678); },
       "checksum mismatch in the metadata section"},
      {"flipped weight byte", [](auto& b) { b.data[5] ^= std::byte{0x10}; },
       "checksum mismatch in weight 'fc.weight' (file bytes"},
      {"stale weight checksum", [](auto& b) { b.set("w1.crc", u32(0)); }, "checksum mismatch in weight 'fc.bias'"},
      {"nonzero padding between weights", [](auto& b) { b.data[50] = std::byte{1}; }, "padding at file bytes"},
      {"output name that climbs out of a folder", [](auto& b) { b.set("out0.name", str("../x")); },
       "output 0 name '../x' is not a safe identifier"},
      {"output name that is an absolute path", [](auto& b) { b.set("out0.name", str("/abs/path")); },
       "name '/abs/path' is not a safe identifier"},
      {"output name with a NUL", [](auto& b) { b.set("out0.name", str(std::string("a\0b", 3))); },
       "name 'a\\x00b' is not a safe identifier"},
      {"input name with a slash", [](auto& b) { b.set("in0.name", str("x/y")); }, "input 0 name 'x/y'"},
      {"graph name that is a path", [](auto& b) { b.set("g.name", str("..")); }, "a graph name '..'"},
      {"input on CPU index 1",
       [](auto& b) {
         b.set("in0.type", cat({u8(0), u8(0), u8(1)}));
       },
       "is on CPU device index 1; the CPU has index 0 only"},
      {"factory op placing its result on CPU index 1",
       [](auto& b) {
         b.set("n1.op", str("full")).set("n1.attrs.count", u32(4)).set("n1.attr0", cat({u8(4), u32(1), i64(3)}));
         b.insert_after("n1.attr0", "n1.attr1", cat({u8(2), f64(0.0), u8(5), i64(0), u8(6), i64(1)}));
       },
       "attribute 'device' names CPU device index 1; the CPU has index 0 only"},
      {"node output on CPU index 3",
       [](auto& b) {
         b.set("n0.out0.type", cat({u8(0), u8(0), u8(3)}));
       },
       "CPU device index 3"},
      {"huge producer string", [](auto& b) { b.set("producer", u32(0xffffffffu)); }, "producer has length"},
      {"string past the end", [](auto& b) { b.set("producer", u32(60000)); }, "truncated: producer"},
      {"invalid UTF-8",
       [](auto& b) {
         b.set("w0.name", cat({u32(2), u8(0xc3), u8(0x28)}));
       },
       "not valid UTF-8"},
      {"huge weight count", [](auto& b) { b.set("weights.count", u32(0xfffffff0u)); }, "weight count"},
      {"weight dtype code", [](auto& b) { b.set("w0.dtype", u8(42)); }, "dtype code 42"},
      {"unknown weight flags", [](auto& b) { b.set("w0.flags", u8(6)); }, "unknown flags 0x6"},
      {"wrapped number that is not 0-d", [](auto& b) { b.set("w0.flags", u8(1)); }, "wrapped number but has rank 2"},
      {"negative weight dim", [](auto& b) { b.set("w0.dim0", i64(-3)); }, "has dimension -3"},
      {"absurd weight shape",
       [](auto& b) {
         b.set("w0.dim0", i64(int64_t(1) << 40));
         b.set("w0.dim1", i64(int64_t(1) << 40));
       },
       "needs more bytes than the whole data region"},
      {"weight size disagrees with its shape", [](auto& b) { b.set("w0.nbytes", u64(40)); }, "needs 48 bytes"},
      {"unaligned weight", [](auto& b) { b.set("w1.offset", u64(8)); }, "is not a multiple of 64"},
      {"weight outside the data region", [](auto& b) { b.set("w1.offset", u64(uint64_t(1) << 40)); },
       "outside the data region"},
      {"overlapping weights", [](auto& b) { b.set("w1.offset", u64(0)); }, "overlap"},
      {"huge rank", [](auto& b) { b.set("in0.rank", u32(1000)); }, "rank is 1000"},
      {"input dtype code", [](auto& b) { b.set("in0.type", type(200)); }, "dtype code 200"},
      {"input on CUDA", [](auto& b) { b.set("in0.type", type(0, 1)); }, "CPU graphs only"},
      {"unknown symbol", [](auto& b) { b.set("in0.dim0", dim(0, 1, 5)); }, "refers to symbol 5"},
      {"zero symbolic coefficient", [](auto& b) { b.set("in0.dim0", dim(0, 0, 0)); }, "coefficient 0"},
      {"negative static dim", [](auto& b) { b.set("in0.dim1", dim(-4)); }, "dimension -4 is out of range"},
      {"negative example size", [](auto& b) { b.set("sym0.example", i64(-2)); }, "example size -2"},
      {"state weight index", [](auto& b) { b.set("st1.weight", u32(7)); }, "refers to weight 7"},
      {"huge node count", [](auto& b) { b.set("g.nodes.count", u32(1u << 23)); }, "node count"},
      {"unknown op", [](auto& b) { b.set("n0.op", str("conv9d")); }, "unknown op 'conv9d'"},
      {"arity", [](auto& b) { b.set("n0.inputs.count", u32(1)).erase("n0.in1").erase("n0.in2"); },
       "has 1 inputs, the op takes 2 to 3"},
      {"attribute count", [](auto& b) { b.set("n1.attrs.count", u32(0)).erase("n1.attr0"); },
       "has 0 attributes, the op takes 1"},
      {"attribute kind for the op",
       [](auto& b) {
         b.set("n1.attr0", cat({u8(1), i64(3)}));
       },
       "should be float, got int"},
      {"attribute kind code",
       [](auto& b) {
         b.set("n1.attr0", cat({u8(9), f64(0.1)}));
       },
       "attribute kind 9"},
      {"dangling reference", [](auto& b) { b.set("n0.in0", i32(99)); }, "refers to value %99"},
      {"cyclic reference (a node reading its own output)", [](auto& b) { b.set("n1.in0", i32(4)); },
       "dangling or cyclic"},
      {"absent required input", [](auto& b) { b.set("n0.in1", i32(-1)); }, "refers to value %-1"},
      {"output count", [](auto& b) { b.set("n0.outputs.count", u32(2)); }, "has 2 outputs, the op has 1"},
      {"recorded shape disagrees with inference", [](auto& b) { b.set("n0.out0.dim1", dim(5)); },
       "recorded as float32[2, 5] but the op infers float32[2, 3]"},
      {"recorded dtype disagrees with inference", [](auto& b) { b.set("n0.out0.type", type(1)); },
       "recorded as float64"},
      {"symbolic attribute out of range",
       [](auto& b) {
         b.set("n2.sym0", cat({i32(3), i32(0), dim(0, 3, 0)}));
       },
       "symbolic entry for attribute 3"},
      {"view that does not fit its input",
       [](auto& b) {
         b.set("n2.sym.count", u32(0)).erase("n2.sym0").set("n2.attr0", cat({u8(4), u32(1), i64(7)}));
       },
       "rejects its inputs"},
      {"one_hot counting classes of a value unknown before a run",
       [](auto& b) {
         b.set("n1.op", str("one_hot")).set("n1.attr0", cat({u8(1), i64(-1)}));
       },
       "num_classes = -1"},
      {"absurd int list entry",
       [](auto& b) {
         b.set("n2.attr0", cat({u8(4), u32(1), i64(int64_t(1) << 62)}));
       },
       "entry 0 is 4611686018427387904, outside [-2^40, 2^40]"},
      {"negative rng id", [](auto& b) { b.set("n0.rng", i32(-5)); }, "rng id -5"},
      {"graph output out of range", [](auto& b) { b.set("out0.value", i32(17)); }, "output 0 refers to value %17"},
      {"update of an unknown state",
       [](auto& b) {
         b.set("g.updates.count", u32(1)).insert_after("g.updates.count", "u0", cat({i32(9), i32(5)}));
       },
       "targets state 9"},
      {"update whose value does not match the state",
       [](auto& b) {
         b.set("g.updates.count", u32(1)).insert_after("g.updates.count", "u0", cat({i32(1), i32(3)}));
       },
       "does not match state 'fc.bias'"},
      {"unread bytes after the graphs", [](auto& b) { b.add("extra", u32(0)); }, "unread bytes"},
      {"duplicate input names",
       [](auto& b) {
         b.set("g.inputs.count", u32(2));
         b.insert_after("in0.dim1", "in1", cat({str("x"), type(0), u32(0)}));
       },
       "repeated name 'x'"},
      {"graph count past the data", [](auto& b) { b.set("graphs.count", u32(1000)); }, "graph count is 1000"},
  };
  return table;
}

TEST_CASE("model file: each malformed file is a FormatError naming the defect", "[export]") {
  REQUIRE(defects().size() >= 30);
  for (const Defect& d : defects()) {
    INFO(d.what);
    ModelFileBuilder b = tiny_model();
    d.apply(b);
    const std::string msg = load_error(b.build());
    INFO(msg);
    CHECK(msg.find(d.expected) != std::string::npos);
  }
}

TEST_CASE("model file: truncated files and a missing graph are FormatErrors", "[export]") {
  const Bytes good = tiny_model().build();
  CHECK(load_error(Bytes(good.begin(), good.begin() + 10)).find("shorter than the 64-byte header") !=
        std::string::npos);
  CHECK(load_error(good, "training").find("has no graph 'training' (it has: inference)") != std::string::npos);
  // Every truncation: the header's size check catches it before anything else is read.
  for (size_t n = 0; n < good.size(); ++n) {
    INFO("first " << n << " bytes");
    CHECK(load_error(Bytes(good.begin(), good.begin() + ptrdiff_t(n))) != "<no exception>");
  }
  // A file on disk that ends early fails the same way through load() (the mapping is checked).
  const auto path = std::filesystem::temp_directory_path() / "doppel_truncated_model.dpl";
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(good.data()), std::streamsize(good.size() / 2));
  }
  const std::string msg = testing::error_message<FormatError>([&] { (void)runtime::Model::load(path.string()); });
  CHECK(msg.find("header says the file has") != std::string::npos);
  CHECK(msg.find(path.string()) != std::string::npos);
  std::filesystem::remove(path);
  CHECK(testing::error_message<FormatError>([] {
          (void)runtime::Model::load("/nonexistent/model.dpl");
        }).find("cannot open") != std::string::npos);
}

// How many of the single-byte corruptions of `good` the loader refuses (the others must load).
int rejected_corruptions(const Bytes& good, bool verify) {
  int rejected = 0;
  for (size_t k = 0; k < good.size(); ++k)
    for (uint8_t flip : {uint8_t(0x01), uint8_t(0x80), uint8_t(0xff)}) {
      Bytes bad = good;
      bad[k] ^= std::byte(flip);
      try {
        const runtime::Model m = runtime::Model::from_bytes(bad, "inference", {.verify_checksums = verify});
        (void)m.signature();
      } catch (const FormatError&) {
        ++rejected;
      }
    }
  return rejected;
}

TEST_CASE("model file: every single-byte corruption loads or is a FormatError", "[export]") {
  // Version 2: the checksums cover every byte (padding must be zero), so every flip is refused.
  const Bytes good = tiny_model().build();
  CHECK(rejected_corruptions(good, true) == int(3 * good.size()));
  // Without verification, and in version 1 files, flips inside weight values and padding
  // still load; structural ones must not.
  CHECK(rejected_corruptions(good, false) > int(good.size()));
  CHECK(rejected_corruptions(good, false) < int(3 * good.size()));
  const Bytes v1 = tiny_model(1).build();
  CHECK(rejected_corruptions(v1, true) > int(v1.size()));
  CHECK(rejected_corruptions(v1, true) < int(3 * v1.size()));
}

TEST_CASE("model file: version 1 files (no checksums) still load", "[export]") {
  const runtime::Model m = runtime::Model::from_bytes(tiny_model(1).build());
  CHECK(m.metadata().format_version == 1);
  CHECK(m.signature().outputs.at(0).str() == "y: f32[3*batch]");
  ModelFileBuilder b = tiny_model(1);
  b.reserved = u64(1);
  CHECK(load_error(b.build()).find("reserved field is not zero") != std::string::npos);
  // A flipped weight byte goes unnoticed in version 1: the reason for version 2.
  ModelFileBuilder flipped = tiny_model(1);
  flipped.data[0] ^= std::byte{0x40};
  CHECK(runtime::Model::from_bytes(flipped.build()).weights()[0].second.to_vector<float>()[0] != 0.1f);
}

TEST_CASE("model file: verify_checksums = false loads a flipped weight byte as it is", "[export]") {
  ModelFileBuilder b = tiny_model();
  b.data[64] ^= std::byte{0x01};  // the lowest mantissa bit of fc.bias[0] = 1.0f
  const Bytes bad = b.build();
  CHECK(load_error(bad).find("checksum mismatch in weight 'fc.bias' (file bytes") != std::string::npos);
  const runtime::Model m = runtime::Model::from_bytes(bad, "inference", {.verify_checksums = false});
  CHECK(m.weights()[1].second.to_vector<float>()[0] == std::nextafter(1.0f, 2.0f));
}

TEST_CASE("model file: the fuzzer's corpus and crash inputs load or are FormatErrors", "[export]") {
  int files = 0;
  for (const char* sub : {"corpus_model", "regressions_model"}) {
    const std::filesystem::path dir = std::filesystem::path(DOPPEL_SOURCE_DIR) / "fuzz" / sub;
    if (!std::filesystem::exists(dir)) continue;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      INFO(e.path().string());
      std::ifstream f(e.path(), std::ios::binary);
      const std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      Bytes b(s.size());
      std::memcpy(b.data(), s.data(), s.size());
      for (const bool verify : {false, true}) {  // as the fuzzer loads them
        try {
          (void)runtime::Model::from_bytes(b, "inference", {.verify_checksums = verify});
        } catch (const FormatError&) {
        }
      }
      ++files;
    }
  }
  CHECK(files >= 1);
}

// Writes the fuzzer's seed corpus (run by hand: doppel_tests "[.make_model_corpus]"): the tiny
// model, every malformed variant of it, and small exported MLP and CNN files.
TEST_CASE("model file: write the fuzzer's seed corpus", "[.make_model_corpus]") {
  const std::filesystem::path dir = std::filesystem::path(DOPPEL_SOURCE_DIR) / "fuzz" / "corpus_model";
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const Bytes& b) {
    std::ofstream f(dir / name, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  };
  write("tiny.dpl", tiny_model().build());
  int k = 0;
  for (const Defect& d : defects()) {
    ModelFileBuilder b = tiny_model();
    d.apply(b);
    Bytes bytes = b.build();
    if (bytes.size() <= 4096) write(fmt::format("malformed_{:02}.dpl", k), bytes);
    ++k;
  }
  for (const char* which : {"mlp", "cnn"}) {
    manual_seed(1);
    std::shared_ptr<nn::Module> m =
        which[0] == 'm'
            ? std::shared_ptr<nn::Module>(std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
                  std::make_shared<nn::Linear>(3, 2), std::make_shared<nn::Tanh>()}))
            : std::shared_ptr<nn::Module>(std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
                  std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 2, .kernel = 3, .padding = 1}),
                  std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>()}));
    m->eval();
    const Tensor x = which[0] == 'm' ? testing::make_input({4, 3}, DType::Float32, 1)
                                     : testing::make_input({4, 1, 4, 4}, DType::Float32, 1);
    CompiledFunction f = compile([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{m->forward(in[0])}; },
                                 {.dynamic = {{0, 0}}, .state_names = m->state_dict(), .warmup = false});
    f({x});
    write(fmt::format("{}.dpl", which),
          export_graph_bytes(*f.graph_for({x}), {.producer = "corpus", .created_unix = 0}));
  }
}

}  // namespace
}  // namespace doppel
