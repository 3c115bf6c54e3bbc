// The memory planner: plan_memory never gives two buffers alive at the same step a common byte
// (random lifetimes and sizes), reaches the live-bytes lower bound where it is easy (chains,
// nested lifetimes), and an executor's plan and its MemoryReport match a graph whose buffers
// are counted by hand, the allocator's counters included.
#include <catch2/catch_test_macros.hpp>
#include <random>

#include "doppel/core/allocator.h"
#include "doppel/doppel.h"
#include "doppel/graph/compile.h"
#include "doppel/graph/memory_plan.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using graph::BufferRequest;
using Tensors = std::vector<Tensor>;

// Fails naming the pair when two buffers alive at one step share a byte, or one is misaligned.
void check_disjoint(const std::vector<BufferRequest>& req, const graph::MemoryPlan& plan) {
  REQUIRE(plan.offsets.size() == req.size());
  for (size_t a = 0; a < req.size(); ++a) {
    CHECK(plan.offsets[a] % 64 == 0);
    CHECK(plan.offsets[a] + req[a].nbytes <= plan.arena_bytes);
    for (size_t b = a + 1; b < req.size(); ++b) {
      const bool same_time = req[a].first <= req[b].last && req[b].first <= req[a].last;
      const bool same_bytes =
          plan.offsets[a] < plan.offsets[b] + req[b].nbytes && plan.offsets[b] < plan.offsets[a] + req[a].nbytes;
      if (same_time && same_bytes) FAIL("buffers " << a << " and " << b << " overlap");
    }
  }
}

TEST_CASE("plan_memory: random lifetimes and sizes never overlap, and the arena is at least the live peak",
          "[graph][memory_plan]") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 1 + int(rng() % 60), steps = 1 + int(rng() % 40);
    std::vector<BufferRequest> req;
    for (int k = 0; k < n; ++k) {
      const auto first = int32_t(rng() % uint32_t(steps));
      const auto last = first + int32_t(rng() % uint32_t(steps - first + 1));
      // Sizes from 0 bytes to ~1 MiB, many not multiples of 64.
      const size_t bytes = rng() % 4 == 0 ? rng() % 100 : size_t(rng() % (1u << 20));
      req.push_back({bytes, first, last});
    }
    INFO("trial " << trial);
    const graph::MemoryPlan plan = graph::plan_memory(req);
    check_disjoint(req, plan);
    CHECK(plan.live_peak_bytes == graph::live_peak_bytes(req));
    CHECK(plan.arena_bytes >= plan.live_peak_bytes);
    CHECK(plan.arena_bytes <= plan.total_request_bytes);
  }
}

TEST_CASE("plan_memory: the live peak by hand, reached on a chain and on nested lifetimes", "[graph][memory_plan]") {
  // A chain: each buffer dies where the next is written; two neighbours are alive at a time.
  const std::vector<BufferRequest> chain = {{640, 0, 1}, {1280, 1, 2}, {640, 2, 3}, {64, 3, 4}};
  const graph::MemoryPlan c = graph::plan_memory(chain);
  check_disjoint(chain, c);
  CHECK(c.live_peak_bytes == 1920);
  CHECK(c.arena_bytes == 1920);
  CHECK(c.total_request_bytes == 2624);
  // A forward/backward shape: activations saved to the end, gradients short-lived in between.
  const std::vector<BufferRequest> nested = {{1000, 0, 5}, {512, 1, 4}, {2048, 2, 3}, {256, 4, 5}, {3000, 5, 6}};
  const graph::MemoryPlan n = graph::plan_memory(nested);
  check_disjoint(nested, n);
  CHECK(n.live_peak_bytes == 1024 + 256 + 3008);  // step 5: 1000, 256 and 3000, each 64-aligned
  CHECK(n.arena_bytes == n.live_peak_bytes);
  CHECK(graph::plan_memory({}).arena_bytes == 0);
}

// x [16, 16]; a = x @ x; b = a @ x; c = relu(b); d = a + c. Steps 0..3, 1 KiB per value.
// In place: c takes b's buffer and d takes a's (both die where they are read): two buffers, at
// most 2 KiB alive. Out of place: four buffers, 3 KiB alive at steps 2 and 3.
CompiledFunction hand_counted_graph() {
  CompileOptions o;
  o.passes.enabled = false;
  o.warmup = false;
  return compile(
      [](const Tensors& in) {
        NoGradGuard no_grad;
        const Tensor a = matmul(in[0], in[0]);
        const Tensor b = matmul(a, in[0]);
        return Tensors{add(a, relu(b))};
      },
      o);
}

TEST_CASE("executor: a hand-counted graph's plan, report and allocator peak", "[graph][memory_plan]") {
  const Tensors in = {testing::make_input({16, 16}, DType::Float32, 3)};
  CompiledFunction f = hand_counted_graph();
  const Tensor want = f(in)[0];  // traces (no warm-up)
  const auto g = f.graph_for(in);
  REQUIRE(g != nullptr);
  REQUIRE(g->nodes().size() == 4);
  for (const bool in_place : {true, false}) {
    INFO("in_place " << in_place);
    graph::Executor ex(g, {.in_place = in_place});
    graph::MemoryReport r = ex.memory_report(in);
    INFO(r.str(*g));
    CHECK(r.steps == 4);
    CHECK(r.state_bytes == 0);
    CHECK(r.grad_bytes == 0);
    CHECK(r.buffers.size() == (in_place ? 2u : 4u));
    CHECK(r.live_peak_bytes == (in_place ? 2048u : 3072u));
    CHECK(r.arena_bytes == r.live_peak_bytes);
    for (const auto& b : r.buffers) CHECK(b.bytes == 1024);
    // The allocator: the first run makes the context (the arena, 2 or 3 KiB: exact size classes)
    // and the result (1 KiB); a run into a given output allocates nothing.
    Allocator& alloc = allocator_for(kCPU);
    const int64_t before = alloc.stats().bytes_in_use;
    const Tensor out = ex.run(in)[0];
    r = ex.memory_report(in);
    CHECK(alloc.stats().bytes_in_use - before == int64_t(r.arena_bytes + 1024 + r.scratch_bytes));
    CHECK(out.to_vector<float>() == want.to_vector<float>());
    const int64_t start = alloc.stats().bytes_in_use;
    alloc.reset_peak();
    ex.run_into(in, Tensors{out});
    CHECK(alloc.stats().peak_bytes_in_use == start);
    CHECK(out.to_vector<float>() == want.to_vector<float>());
  }
}

}  // namespace
}  // namespace doppel
