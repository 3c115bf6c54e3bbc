// Dynamic batching (serve/include/doppel/serve/batcher.h) around a model written as plain loops
// (y = 10 x + column index) that records the batches it ran: concurrent requests are merged,
// each gets exactly its own rows back, incompatible shapes are never merged, and a request
// that makes the model fail gets the error alone.
#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <mutex>
#include <thread>

#include "doppel/serve/batcher.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

using Catch::Matchers::ContainsSubstring;

struct Recorder {
  std::mutex mutex;
  std::vector<Shape> runs;  // the input shape of every model call
};

serve::ServedModel recording_model(std::shared_ptr<Recorder> rec) {
  serve::ServedModel m;
  m.name = "rows";
  m.inputs = {{"x", DType::Float32, {-1, -1}, {"batch", "width"}}};
  m.outputs = {{"y", DType::Float32, {-1, -1}, {"batch", "width"}}};
  m.run = [rec](const std::vector<Tensor>& in) {
    const Tensor& x = in.at(0);
    {
      std::lock_guard lock(rec->mutex);
      rec->runs.push_back(x.shape());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    Tensor y = make_tensor(x.shape(), DType::Float32);
    const float* px = x.data_ptr<float>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (px[i] == 666.0f) throw ValueError("the model refuses 666");
      y.data_ptr<float>()[i] = 10 * px[i] + float(i % x.size(1));
    }
    return std::vector<Tensor>{y};
  };
  return m;
}

Tensor rows_of(int64_t rows, int64_t width, float first) {
  Tensor t = make_tensor({rows, width}, DType::Float32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_ptr<float>()[i] = first + float(i);
  return t;
}

TEST_CASE("batching: concurrent requests are merged and each gets its own rows back", "[serve]") {
  auto rec = std::make_shared<Recorder>();
  std::atomic<int64_t> merged_requests{0}, batches{0};
  const serve::ServedModel m =
      serve::with_batching(recording_model(rec), {.max_batch_size = 8, .batch_timeout_micros = 100000}, [&](int64_t n) {
        ++batches;
        merged_requests += n;
      });
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 24; ++t)
    clients.emplace_back([&, t] {
      const int64_t rows = 1 + t % 3, width = t % 4 == 3 ? 3 : 2;  // some requests of another width
      const Tensor x = rows_of(rows, width, float(100 * t));
      const Tensor y = m.run({x}).at(0);
      bool same = y.shape() == x.shape();
      for (int64_t i = 0; same && i < x.numel(); ++i)
        same = y.data_ptr<float>()[i] == 10 * x.data_ptr<float>()[i] + float(i % width);
      if (same) ++ok;
    });
  for (auto& c : clients) c.join();
  CHECK(ok == 24);
  CHECK(merged_requests == 24);
  CHECK(batches < 24);  // some runs merged several requests
  std::lock_guard lock(rec->mutex);
  for (const Shape& s : rec->runs) CHECK(s[0] <= 8);  // never more rows than max_batch_size
}

TEST_CASE("batching: an error reaches only the request that caused it", "[serve]") {
  auto rec = std::make_shared<Recorder>();
  const serve::ServedModel m =
      serve::with_batching(recording_model(rec), {.max_batch_size = 16, .batch_timeout_micros = 100000}, {});
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t)
    clients.emplace_back([&, t] {
      const Tensor x = rows_of(1, 2, t == 5 ? 666.0f : float(t));
      try {
        const Tensor y = m.run({x}).at(0);
        if (y.data_ptr<float>()[0] == 10 * float(t)) ++ok;
      } catch (const ValueError& e) {
        if (t == 5 && std::string(e.what()).find("666") != std::string::npos) ++refused;
      }
    });
  for (auto& c : clients) c.join();
  CHECK(ok == 7);
  CHECK(refused == 1);
  // A request with more rows than max_batch_size runs alone, in one call.
  const Tensor big = rows_of(40, 2, 0);
  CHECK(m.run({big}).at(0).shape() == Shape{40, 2});
}

TEST_CASE("batching: only signatures with a shared symbolic first dimension qualify", "[serve]") {
  auto rec = std::make_shared<Recorder>();
  serve::ServedModel m = recording_model(rec);
  CHECK_FALSE(serve::batching_unsupported(m));
  serve::ServedModel fixed = m;
  fixed.inputs[0].shape = {4, -1};
  fixed.inputs[0].symbols = {"", "width"};
  CHECK_THAT(serve::batching_unsupported(fixed).value_or(""), ContainsSubstring("'x' has no symbolic first dimension"));
  serve::ServedModel other = m;
  other.outputs[0].symbols = {"n", "width"};
  CHECK_THAT(serve::batching_unsupported(other).value_or(""), ContainsSubstring("'y'"));
  CHECK_THAT(error_message<Error>([&] { serve::with_batching(fixed, {}, {}); }), ContainsSubstring("batching"));
}

}  // namespace
}  // namespace doppel::testing
