// Hostile files (issue 13): a FIFO, a device or a folder given as a model, checkpoint or .npy
// input is refused at once (never waited on, never read without end); a flipped byte anywhere
// in an exported model file is a FormatError naming the section; version 1 files (a committed
// fixture) still load; names that are paths are refused at export; CPU device indices other
// than 0 are refused at load.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>

#include "doppel/graph/compile.h"
#include "doppel/graph/export.h"
#include "doppel/io/safetensors.h"
#include "doppel/runtime/crc32c.h"
#include "doppel/runtime/model.h"
#include "doppel/serve/npy.h"
#include "export_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;
using Clock = std::chrono::steady_clock;

// A FIFO with no writer, removed when the object goes.
struct Fifo {
  std::filesystem::path path;
  Fifo() {
    path = std::filesystem::temp_directory_path() / ("doppel_fifo_" + std::to_string(::getpid()));
    std::filesystem::remove(path);
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  }
  ~Fifo() { std::filesystem::remove(path); }
};

// The message of what `load` throws (E), which must come within a second. A loader that blocks
// on the FIFO is released by opening its write end, so the test fails instead of hanging.
template <typename E>
std::string refused_within_a_second(const std::string& path, const std::function<void()>& load) {
  const auto t0 = Clock::now();
  auto result = std::async(std::launch::async, [&] { return testing::error_message<E>(load); });
  if (result.wait_for(std::chrono::seconds(1)) != std::future_status::ready) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
    FAIL("loading '" << path << "' did not return within a second");
  }
  CHECK(Clock::now() - t0 < std::chrono::seconds(1));
  return result.get();
}

TEST_CASE("hostile files: a FIFO as model, checkpoint or .npy input is refused at once", "[export][hostile]") {
  Fifo fifo;
  const std::string p = fifo.path.string();
  CHECK(refused_within_a_second<FormatError>(p, [&] {
          (void)runtime::Model::load(p);
        }).find("is a FIFO (named pipe), not a regular file") != std::string::npos);
  CHECK(refused_within_a_second<ValueError>(p, [&] {
          (void)io::load_safetensors(p);
        }).find("load_safetensors: '" + p + "' is a FIFO") != std::string::npos);
  CHECK(refused_within_a_second<ValueError>(p, [&] {
          (void)serve::load_npy(p);
        }).find("load_npy: '" + p + "' is a FIFO") != std::string::npos);
}

TEST_CASE("hostile files: /dev/zero and a folder are refused, not read", "[export][hostile]") {
  for (const std::string p : {"/dev/zero", "/dev/urandom"}) {
    CHECK(refused_within_a_second<ValueError>(p, [&] { (void)serve::load_npy(p); }).find("is a character device") !=
          std::string::npos);
    CHECK(refused_within_a_second<FormatError>(p, [&] {
            (void)runtime::Model::load(p);
          }).find("is a character device") != std::string::npos);
    CHECK(refused_within_a_second<ValueError>(p, [&] {
            (void)io::load_safetensors(p);
          }).find("is a character device") != std::string::npos);
  }
  const std::string dir = std::filesystem::temp_directory_path().string();
  CHECK(testing::error_message<FormatError>([&] { (void)runtime::Model::load(dir); }).find("is a folder") !=
        std::string::npos);
}

// An exported MLP's file bytes.
std::vector<char> exported_mlp(const testing::TempPath& path) {
  auto mlp = testing::export_mlp();
  mlp->eval();
  CompiledFunction f = compile([&](const Tensors& in) { return Tensors{mlp->forward(in[0])}; },
                               {.dynamic = {{0, 0}}, .state_names = mlp->state_dict()});
  export_model(f, {testing::make_input({4, 8}, DType::Float32, 1)}, path.str());
  std::ifstream in(path.path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST_CASE("hostile files: a flipped weight byte in an exported file is a FormatError naming the weight",
          "[export][hostile]") {
  testing::TempPath path;
  std::vector<char> bytes = exported_mlp(path);
  const runtime::Model good = runtime::Model::load(path.str());
  CHECK(good.metadata().format_version == 3);
  const Tensor w = good.weights().at(0).second;  // 0.weight, the first blob of the data region
  uint64_t data_offset = 0;
  std::memcpy(&data_offset, bytes.data() + 40, 8);
  const Tensor before = w.clone();
  bytes[data_offset + 17] ^= 0x04;
  {
    std::ofstream out(path.path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
  }
  const std::string msg = testing::error_message<FormatError>([&] { (void)runtime::Model::load(path.str()); });
  INFO(msg);
  CHECK(msg.find("checksum mismatch in weight '0.weight'") != std::string::npos);
  CHECK(msg.find(path.str()) != std::string::npos);
  // A trusted file skips the check: the flipped value is what it computes with.
  const runtime::Model trusted = runtime::Model::load(path.str(), "inference", {.verify_checksums = false});
  CHECK(trusted.weights().at(0).second.to_vector<float>()[4] != before.to_vector<float>()[4]);
  CHECK(trusted.weights().at(0).second.to_vector<float>()[5] == before.to_vector<float>()[5]);
}

TEST_CASE("hostile files: a committed version 1 file loads and computes tanh(W x + b)", "[export][hostile]") {
  // tests/graph/data/mlp_v1.dpl: Linear(3, 2) + Tanh with a dynamic batch, written by the
  // version 1 writer (fuzz/corpus_model/mlp.dpl before the format went to version 2).
  const std::string path = std::string(DOPPEL_SOURCE_DIR) + "/tests/graph/data/mlp_v1.dpl";
  const runtime::Model m = runtime::Model::load(path);
  CHECK(m.metadata().format_version == 1);
  REQUIRE(m.weights().size() == 2);
  const std::vector<float> w = m.weights()[0].second.to_vector<float>(), b = m.weights()[1].second.to_vector<float>();
  REQUIRE(w.size() == 6);
  const Tensor x = testing::make_input({5, 3}, DType::Float32, 3);
  const std::vector<float> xs = x.to_vector<float>(), y = m.run({x})[0].to_vector<float>();
  REQUIRE(y.size() == 10);
  for (size_t r = 0; r < 5; ++r)
    for (size_t o = 0; o < 2; ++o) {
      double acc = b[o];
      for (size_t i = 0; i < 3; ++i) acc += double(w[o * 3 + i]) * double(xs[r * 3 + i]);
      CHECK(std::abs(double(y[r * 2 + o]) - std::tanh(acc)) < 1e-6);
    }
}

TEST_CASE("hostile files: CRC-32C matches the standard check value on both paths", "[export][hostile]") {
  const std::string check = "123456789";
  const auto bytes = std::as_bytes(std::span(check.data(), check.size()));
  CHECK(runtime::crc32c(bytes) == 0xe3069283u);  // the catalogued check value of CRC-32C
  CHECK(runtime::crc32c_portable(bytes) == 0xe3069283u);
  CHECK(runtime::crc32c({}) == 0u);
  // Every length and alignment up to 80 bytes, and a chained CRC equals the one-shot one.
  std::mt19937 rng(5);
  std::vector<std::byte> data(4096 + 7);
  for (auto& d : data) d = std::byte(rng());
  for (size_t off = 0; off < 8; ++off)
    for (size_t n = 0; n <= 80; ++n) {
      const auto s = std::span<const std::byte>(data).subspan(off, n);
      REQUIRE(runtime::crc32c(s) == runtime::crc32c_portable(s));
    }
  // Around the three-stream blocks of the SSE4.2 path (3 x 4096 bytes), and far past them.
  std::vector<std::byte> big(100'000);
  for (auto& d : big) d = std::byte(rng());
  for (const size_t n : {12287, 12288, 12289, 24576, 24583, 99'999, 100'000}) {
    const auto s = std::span<const std::byte>(big).subspan(100'000 - n);
    REQUIRE(runtime::crc32c(s) == runtime::crc32c_portable(s));
  }
  const auto all = std::span<const std::byte>(data);
  CHECK(runtime::crc32c(all.subspan(1000), runtime::crc32c(all.first(1000))) == runtime::crc32c(all));
}

TEST_CASE("hostile files: checksum throughput (prints MB/s)", "[.bench]") {
  // 256 passes over 1 MiB (cache-resident: the CPU's rate, not the memory's).
  std::vector<std::byte> data(size_t(1) << 20, std::byte{0x5a});
  for (const bool portable : {false, true}) {
    uint32_t c = 0;
    const auto t0 = Clock::now();
    for (int k = 0; k < 256; ++k) c = portable ? runtime::crc32c_portable(data, c) : runtime::crc32c(data, c);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    WARN((portable ? "portable" : "dispatched")
         << " CRC-32C: " << 256.0 * double(data.size()) / s / 1e6 << " MB/s (crc " << c << ")");
  }
}

TEST_CASE("hostile files: names that are not safe identifiers", "[export][hostile]") {
  for (const char* ok : {"x", "output0", "logits", "_a", "layer1.0.conv1", "input:0", "a-b", "Y_9"})
    CHECK(runtime::is_safe_name(ok));
  for (const std::string& bad :
       {std::string(""), std::string("../x"), std::string("/abs/path"), std::string("a/b"), std::string("a\\b"),
        std::string("a\0b", 3), std::string("a..b"), std::string(".x"), std::string("-x"), std::string("0x"),
        std::string("a b"), std::string("\xc3\xa9"), std::string(129, 'a')})
    CHECK_FALSE(runtime::is_safe_name(bad));
  CHECK(runtime::is_safe_name(std::string(128, 'a')));
  auto mlp = testing::export_mlp();
  mlp->eval();
  CompiledFunction f = compile([&](const Tensors& in) { return Tensors{mlp->forward(in[0])}; });
  testing::TempPath path;
  const std::string msg = testing::error_message<ValueError>([&] {
    export_model(f, {testing::make_input({2, 8}, DType::Float32, 1)}, path.str(), {.output_names = {"../y"}});
  });
  CHECK(msg.find("output name '../y' is not a safe identifier") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(path.path));
}

}  // namespace
}  // namespace doppel
