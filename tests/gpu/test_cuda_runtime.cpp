// The CUDA runtime on cuda:0: the caching allocator's reuse across streams and its counters,
// streams, events and StreamGuard, host/device round trips (contiguous, strided, every dtype),
// pinned asynchronous copies and pinned DataLoader batches, Module::to round trips, and graph
// plans on the device (captured into a CUDA graph and replayed) against eager execution.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "doppel/core/allocator.h"
#include "doppel/core/cuda/allocator.h"
#include "doppel/core/cuda/runtime.h"
#include "doppel/core/cuda/stream.h"
#include "doppel/data/dataloader.h"
#include "doppel/graph/compile.h"
#include "doppel/nn/nn.h"
#include "support/gpu.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using Catch::Matchers::ContainsSubstring;
using testing::kCuda0;
using testing::make_input;
using testing::Tolerance;
using Tensors = std::vector<Tensor>;

}  // namespace

TEST_CASE("cuda allocator: reuse on the same stream at once, on another stream after its work", "[gpu][runtime]") {
  DOPPEL_REQUIRE_GPU();
  Allocator& a = allocator_for(kCuda0);
  cuda::Stream s1(0), s2(0);
  constexpr size_t kBytes = size_t(3) << 20;
  void* p = nullptr;
  {
    cuda::StreamGuard g(s1);
    CHECK(cuda::current_stream(0) == s1.get());
    p = a.allocate(kBytes);
    a.deallocate(p, kBytes);
    void* q = a.allocate(kBytes);  // same stream: the same block
    CHECK(q == p);
    a.deallocate(q, kBytes);
  }
  s1.synchronize();  // stream 1's work up to the free is done: stream 2 may take the block
  {
    cuda::StreamGuard g(s2);
    void* r = a.allocate(kBytes);
    CHECK(r == p);
    a.deallocate(r, kBytes);
  }
  CHECK(cuda::current_stream(0) != s1.get());
  CHECK(cuda::current_stream(0) != s2.get());
  const AllocatorStats st = a.stats();
  CHECK(st.bytes_cached >= int64_t(4) << 20);
  a.empty_cache();
  CHECK(a.stats().bytes_cached == 0);
}

TEST_CASE("cuda allocator: record_stream keeps a block from reuse until the other stream is done", "[gpu][runtime]") {
  DOPPEL_REQUIRE_GPU();
  Allocator& a = allocator_for(kCuda0);
  cuda::Stream side(0);
  void* p = a.allocate(4096);
  cuda::record_stream(0, p, side.get());
  // Keep the side stream busy, so that its event cannot have completed at the next allocation
  // (`big` lives until the side stream is done with it).
  const Tensor big = ones({1 << 24}, {.device = kCuda0});
  {
    cuda::StreamGuard g(side);
    for (int k = 0; k < 20; ++k) mul_(big, 1.0);
  }
  a.deallocate(p, 4096);
  void* q = a.allocate(4096);
  const bool side_busy = !side.query();
  if (side_busy) CHECK(q != p);
  a.deallocate(q, 4096);
  side.synchronize();
}

TEST_CASE("cuda allocator: an impossible allocation is an OutOfMemoryError naming size, device and stats",
          "[gpu][runtime]") {
  DOPPEL_REQUIRE_GPU();
  const std::string msg =
      testing::error_message<OutOfMemoryError>([] { (void)allocator_for(kCuda0).allocate(size_t(1) << 50); });
  CHECK_THAT(msg, ContainsSubstring("cuda:0"));
  CHECK_THAT(msg, ContainsSubstring(std::to_string(size_t(1) << 50)));
  CHECK_THAT(msg, ContainsSubstring("bytes in use"));
}

TEST_CASE("streams and events: query, synchronize, elapsed time, priorities", "[gpu][runtime]") {
  DOPPEL_REQUIRE_GPU();
  const auto range = cuda::Stream::priority_range(0);
  cuda::Stream hi(0, range.greatest);
  CHECK(hi.priority() == range.greatest);
  cuda::Event start(0, true), stop(0, true);
  Tensor x = ones({1 << 22}, {.device = kCuda0});
  {
    cuda::StreamGuard g(hi);
    start.record(hi.get());
    mul_(x, 2.0);
    stop.record(hi.get());
  }
  stop.synchronize();
  CHECK(stop.query());
  CHECK(hi.query());
  CHECK(stop.elapsed_ms(start) >= 0.0f);
  CHECK_THROWS_AS(cuda::Event(0).elapsed_ms(start), DeviceError);
  // Ordering across streams through an event.
  cuda::Stream other(0);
  cuda::Event done(0);
  done.record(hi.get());
  done.wait(other.get());
  other.synchronize();
}

TEST_CASE("host/device round trips keep every value, for every dtype and strided sources", "[gpu][runtime]") {
  DOPPEL_REQUIRE_GPU();
  for (DType dt : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8, DType::UInt8,
                   DType::Int32, DType::Int64, DType::Bool}) {
    INFO(dtype_name(dt));
    const Tensor t = make_input({5, 7}, dt, 3);
    const Tensor d = t.to(kCuda0);
    CHECK(d.device() == kCuda0);
    DOPPEL_REQUIRE_CLOSE(d.to(kCPU), t, Tolerance{});
    const Tensor strided = t.t();
    DOPPEL_REQUIRE_CLOSE(strided.to(kCuda0).to(kCPU), strided.contiguous(), Tolerance{});
  }
  const Tensor t = make_input({6}, DType::Float32, 4);
  DOPPEL_REQUIRE_CLOSE(t.to(kCuda0, DType::Float64).to(kCPU), t.to(DType::Float64), Tolerance{});
  // copy_ across devices, into an existing tensor.
  Tensor dst = zeros({6}, {.device = kCuda0});
  copy_(dst, t);
  DOPPEL_REQUIRE_CLOSE(dst.to(kCPU), t, Tolerance{});
  Tensor back = zeros({6});
  copy_(back, dst);
  DOPPEL_REQUIRE_CLOSE(back, t, Tolerance{});
}

TEST_CASE("pinned memory: asynchronous copies both ways, pinned DataLoader batches", "[gpu][runtime]") {
  DOPPEL_REQUIRE_GPU();
  const Tensor t = make_input({1 << 16}, DType::Float32, 5);
  const Tensor pinned = t.pin_memory();
  CHECK(pinned.is_pinned());
  CHECK_FALSE(t.is_pinned());
  CHECK(pinned.pin_memory().is_same(pinned));
  const Tensor d = pinned.to(kCuda0);
  Tensor out = make_pinned_tensor({1 << 16}, DType::Float32);
  copy_(out, d);
  synchronize(kCuda0);  // the copy into pinned memory is asynchronous
  DOPPEL_REQUIRE_CLOSE(out, t, Tolerance{});

  class Range final : public data::Dataset {
   public:
    size_t size() const override { return 6; }
    data::Example get(size_t i) const override { return {full({3}, double(i)), {}}; }
  };
  data::DataLoader loader(std::make_shared<Range>(), {.batch_size = 2, .pin_memory = true});
  int64_t k = 0;
  for (const data::Batch& b : loader) {
    CHECK(b.data.is_pinned());
    const Tensor moved = b.data.to(kCuda0).to(kCPU);
    CHECK(moved.sum().item<double>() == double(3 * (2 * k + 2 * k + 1)));
    ++k;
  }
}

TEST_CASE("Module::to(cuda) and back keeps the parameter objects and their values", "[gpu][runtime]") {
  DOPPEL_REQUIRE_GPU();
  manual_seed(9);
  nn::Sequential m{std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::BatchNorm1d>(3)};
  const Tensors params = m.parameters();
  Tensors values;
  for (const Tensor& p : params) values.push_back(p.detach().clone());
  m.to(kCuda0);
  for (const Tensor& p : m.parameters()) CHECK(p.device() == kCuda0);
  for (const auto& [n, b] : m.named_buffers()) CHECK(b.device() == kCuda0);
  const Tensor y = m.forward(make_input({5, 4}, DType::Float32, 6).to(kCuda0));
  CHECK(y.device() == kCuda0);
  m.to(kCPU);
  const Tensors after = m.parameters();
  for (size_t k = 0; k < params.size(); ++k) {
    CHECK(after[k].is_same(params[k]));
    CHECK(after[k].device() == kCPU);
    DOPPEL_REQUIRE_CLOSE(after[k], values[k], Tolerance{});
  }
}

TEST_CASE("a graph plan on cuda:0, captured and replayed, equals eager execution", "[gpu][runtime]") {
  DOPPEL_REQUIRE_GPU();
  manual_seed(12);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Linear>(8, 16), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(16, 4)});
  model->eval();
  model->to(kCuda0);
  auto fn = [model](const Tensors& in) { return Tensors{model->forward(in[0]).softmax(-1)}; };
  const Tensor example = make_input({6, 8}, DType::Float32, 7).to(kCuda0);
  graph::Executor exec(trace(fn, {example}).graph);
  // Run 1 launches the steps, run 2 captures and launches, runs 3+ replay: each with new inputs.
  for (int run = 0; run < 5; ++run) {
    INFO("run " << run);
    const Tensor x = make_input({6, 8}, DType::Float32, uint64_t(100 + run)).to(kCuda0);
    const Tensors got = exec.run(Tensors{x});
    const Tensors want = fn({x});
    REQUIRE(got.size() == 1);
    CHECK(got[0].device() == kCuda0);
    DOPPEL_REQUIRE_CLOSE(got[0].to(kCPU), want[0].to(kCPU), (Tolerance{1e-5, 1e-6}));
  }
}

}  // namespace doppel
