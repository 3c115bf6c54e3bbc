// doppel::tensorboard: TFRecord framing against vectors from TensorBoard's own RecordWriter,
// event files framed correctly on disk, PyTorch's naming, the flush thread, and typed errors for
// unwritable paths and bad inputs. The decoded contents are checked in Python against the
// tensorboard package (python_bindings/tests/test_tensorboard.py).
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "doppel/doppel.h"
#include "doppel/runtime/crc32c.h"
#include "doppel/tensorboard/summary_writer.h"
#include "doppel/tensorboard/tfrecord.h"
#include "support/event_records.h"
#include "support/temp_dir.h"
#include "support/test_util.h"

using namespace doppel;
using namespace doppel::tensorboard;
namespace fs = std::filesystem;
using testing::bytes_of;
using testing::event_files;
using testing::read_file;
using testing::records;
using testing::TempDir;
using testing::u32_at;

namespace {

std::string hex(const std::string& s) {
  std::string out;
  for (const unsigned char c : s) out += fmt::format("{:02x}", c);
  return out;
}

}  // namespace

TEST_CASE("tensorboard: masked CRC-32C and TFRecord framing match TensorBoard's RecordWriter", "[tensorboard]") {
  // tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c; CRC-32C("123456789") is
  // the catalogued 0xe3069283, masked ((c >> 15) | (c << 17)) + 0xa282ead8 = 0xc78ab0e5.
  CHECK(masked_crc32c(bytes_of("123456789")) == 0xc78ab0e5u);
  CHECK(masked_crc32c({}) == 0xa282ead8u);
  // tensorboard.summary.writer.record_writer.RecordWriter(BytesIO).write(b"hello") / (b"").
  CHECK(hex(tfrecord("hello")) == "0500000000000000eab2043e68656c6c6fbb1f1c19");
  CHECK(hex(tfrecord("")) == "000000000000000029039807d8ea82a2");
  const std::string big(70000, 'x');  // a length past 16 bits
  const std::string r = tfrecord(big);
  REQUIRE(r.size() == big.size() + 16);
  CHECK(hex(r.substr(0, 8)) == "7011010000000000");
  CHECK(records(r) == std::vector<std::string>{big});
}

TEST_CASE("tensorboard: an event file is named like PyTorch's and starts with the file_version record",
          "[tensorboard]") {
  TempDir d("doppel_tb");
  const fs::path log = d.path / "a" / "b";  // parents are created
  {
    SummaryWriter w(log.string(), {.filename_suffix = ".v2"});
    CHECK(w.log_dir() == log.string());
    const std::string name = fs::path(w.file_path()).filename().string();
    CHECK(std::regex_match(
        name, std::regex(fmt::format(R"(events\.out\.tfevents\.\d{{10}}\.[^.].*\.{}\.\d+\.v2)", ::getpid()))));
    w.add_scalar("loss", 0.5, 3);
    w.add_text("note", "hi");
  }  // the destructor closes: everything is on disk
  const auto files = event_files(log);
  REQUIRE(files.size() == 1);
  const auto recs = records(read_file(files[0]));
  REQUIRE(recs.size() == 3);
  CHECK(recs[0].find("brain.Event:2") != std::string::npos);
  CHECK(recs[1].find("loss") != std::string::npos);
  CHECK(recs[2].find("note/text_summary") != std::string::npos);
}

TEST_CASE("tensorboard: the default log_dir is runs/<Mon><day>_<HH-MM-SS>_<host><comment>", "[tensorboard]") {
  char host[256] = {};
  REQUIRE(::gethostname(host, sizeof host - 1) == 0);
  const std::string dir = default_log_dir("_lr0.1");
  CHECK(std::regex_match(dir, std::regex(fmt::format(R"(runs/[A-Z][a-z]{{2}}\d{{2}}_\d{{2}}-\d{{2}}-\d{{2}}_{}_lr0\.1)",
                                                     std::regex_replace(host, std::regex(R"([.])"), R"(\.)")))));
}

TEST_CASE("tensorboard: the writer thread flushes every flush_secs, close() writes the queue", "[tensorboard]") {
  TempDir d("doppel_tb");
  SummaryWriter w(d.path.string(), {.max_queue = 1000, .flush_secs = 0.05});
  const std::string path = w.file_path();
  const auto size0 = fs::file_size(path);
  w.add_scalar("x", 1.0, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (fs::file_size(path) == size0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(fs::file_size(path) > size0);  // without flush(): the thread wrote it

  SummaryWriter slow(d.path.string() + "/slow", {.max_queue = 1000, .flush_secs = 3600});
  slow.add_scalar("y", 2.0, 0);
  CHECK(records(read_file(slow.file_path())).size() == 1);  // queued only
  slow.flush();
  CHECK(records(read_file(slow.file_path())).size() == 2);
  const std::string first = slow.file_path();
  slow.close();
  slow.flush();                  // after close: nothing to do, as PyTorch
  slow.add_scalar("y", 3.0, 1);  // reopens a new file, as PyTorch
  CHECK(slow.file_path() != first);
  slow.close();
  CHECK(event_files(d.path / "slow").size() == 2);
}

TEST_CASE("tensorboard: add_scalars writes one run folder per key", "[tensorboard]") {
  TempDir d("doppel_tb");
  {
    SummaryWriter w(d.path.string());
    w.add_scalars("loss/all", {{"train", 1.0}, {"val", 2.0}}, 0);
    w.add_scalars("loss/all", {{"train", 0.5}, {"val", 1.5}}, 1);
  }
  for (const char* run : {"loss_all_train", "loss_all_val"}) {
    const auto files = event_files(d.path / run);
    REQUIRE(files.size() == 1);
    CHECK(records(read_file(files[0])).size() == 3);
  }
}

TEST_CASE("tensorboard: an unwritable path is a ValueError naming it", "[tensorboard]") {
  TempDir d("doppel_tb");
  const fs::path file = d.path / "a_file";
  std::ofstream(file) << "not a folder";
  const std::string bad = (file / "logs").string();
  const std::string msg = testing::error_message<ValueError>([&] { SummaryWriter w(bad); });
  CHECK(msg.find(bad) != std::string::npos);
  CHECK(msg.find("log_dir") != std::string::npos);
  // A folder that exists but takes no new file (even for root): the event file's path is named.
  const std::string proc_msg = testing::error_message<ValueError>([&] { SummaryWriter w("/proc/self"); });
  CHECK(proc_msg.find("cannot create the event file '/proc/self/events.out.tfevents.") != std::string::npos);
  CHECK(testing::error_message<ValueError>([&] {
          SummaryWriter w(d.path.string(), {.flush_secs = 0});
        }).find("flush_secs") != std::string::npos);
}

TEST_CASE("tensorboard: bad histogram and image inputs are typed errors naming them", "[tensorboard]") {
  TempDir d("doppel_tb");
  SummaryWriter w(d.path.string());
  CHECK(testing::error_message<ValueError>([&] {
          w.add_histogram("h", zeros({0, 3}));
        }).find("[0, 3]") != std::string::npos);
  const Tensor with_nan = tensor<float>({1.0f, std::nanf(""), 2.0f});
  CHECK(testing::error_message<ValueError>([&] { w.add_histogram("h", with_nan, 0, int64_t(4)); }).find("not finite") !=
        std::string::npos);
  w.add_histogram("h", with_nan, 0);  // fixed bins: the NaN is not counted, as numpy
  CHECK(testing::error_message<ValueError>([&] {
          w.add_histogram("h", ones({3}), 0, std::vector<double>{2, 1});
        }).find("monotonically") != std::string::npos);
  CHECK(testing::error_message<ValueError>([&] {
          w.add_image("i", zeros({3, 4, 5}), 0, {}, "CHWN");
        }).find("CHWN") != std::string::npos);
  CHECK(testing::error_message<ValueError>([&] {
          w.add_image("i", zeros({3, 4, 5}), 0, {}, "CCW");
        }).find("[3, 4, 5]") != std::string::npos);
  CHECK(testing::error_message<ShapeError>([&] {
          w.add_image("i", zeros({2, 4, 5}));
        }).find("2 channels") != std::string::npos);
  CHECK(testing::error_message<ShapeError>([&] {
          w.add_images("i", zeros({2, 4, 4, 5}));
        }).find("4 channels") != std::string::npos);
  CHECK(testing::error_message<ValueError>([&] {
          w.add_hparams({{"lr", 0.1}}, {{"acc", 1.0}}, {{"lr", {HParamValue{std::string("a")}}}});
        }).find("hparam_domain_discrete['lr']") != std::string::npos);
}

TEST_CASE("tensorboard: threads writing through one writer lose no record", "[tensorboard]") {
  TempDir d("doppel_tb");
  SummaryWriter w(d.path.string(), {.max_queue = 7});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&w, t] {
      for (int64_t i = 0; i < 200; ++i) {
        w.add_scalar(fmt::format("t{}", t), double(i), i);
        w.add_scalars("s", {{fmt::format("k{}", t % 2), double(i)}}, i);
        if (i % 50 == 0) w.flush();
      }
    });
  for (auto& th : threads) th.join();
  const std::string path = w.file_path();
  w.close();
  CHECK(records(read_file(path)).size() == 1 + 4 * 200);
  for (const char* run : {"s_k0", "s_k1"}) {
    const auto files = event_files(d.path / run);
    REQUIRE(files.size() == 1);
    CHECK(records(read_file(files[0])).size() == 1 + 2 * 200);
  }
}
