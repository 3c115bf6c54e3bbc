// Batch tiling (graph/src/runtime/batch_tiling.h): an inference plan calls runs of batch-separable
// steps a chunk of images at a time. A tiled plan and the untiled plan of the same graph give the
// same bits (oneDNN's convolutions compute each image alike whatever the batch), equal eager, and
// the tiled arena is no larger; the runs and chunks are those the sizes call for, on both sides
// of each threshold (BatchTilingOptions).
#include <catch2/catch_test_macros.hpp>
#include <string>

#include "audit_test_util.h"
#include "doppel/graph/compile.h"
#include "doppel/graph/executor.h"
#include "doppel/graph/export.h"
#include "doppel/graph/ir.h"
#include "doppel/kernels/bf16_support.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/kernels/onednn_audit.h"
#include "doppel/runtime/model.h"
#include "doppel_models.h"
#include "export_test_util.h"
#include "graph/pass_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;
using Tensors = std::vector<Tensor>;
using Fn = std::function<Tensors(const Tensors&)>;
const testing::Tolerance kBitwise{0, 0};
const testing::Tolerance kTol{1e-4, 1e-5};
const graph::ExecutorOptions kUntiled{.tiling = {.enabled = false}};

graph::PassOptions inference_passes(graph::Precision p = graph::Precision::Float32) {
  graph::PassOptions o;
  o.inference = true;
  o.precision = p;
  return o;
}

// fn's graph for inputs like `in` (traced on the second call).
std::shared_ptr<const graph::Graph> graph_of(const Fn& fn, const Tensors& in, graph::PassOptions passes) {
  CompiledFunction f = compile(fn, {.passes = passes});
  f(in);
  f(in);
  return f.graph_for(in);
}

Fn forward_of(nn::Module& m) {
  m.eval();
  return [&m](const Tensors& in) {
    NoGradGuard ng;
    return Tensors{m.forward(in[0])};
  };
}

// Runs g tiled and untiled on `in`: the tiled plan has `runs` tiled runs, the same bits and (when
// `leaner`) no larger arena; returns the tiled result.
Tensor tiled_equals_untiled(const std::shared_ptr<const graph::Graph>& g, const Tensors& in, size_t runs,
                            graph::BatchTilingOptions tiling = {}, bool leaner = true) {
  graph::Executor tiled(g, {.tiling = tiling}), untiled(g, kUntiled);
  const graph::PlanInfo ti = tiled.plan_info(in), ui = untiled.plan_info(in);
  INFO(graph::to_text(*g));
  REQUIRE(ui.tiled.empty());
  REQUIRE(ti.tiled.size() == runs);
  size_t calls = ui.steps;  // a tiled run's steps are called once per chunk
  for (const graph::TiledRun& r : ti.tiled)
    calls += size_t((r.batch + r.chunk - 1) / r.chunk - 1) * size_t(r.last - r.first + 1);
  CHECK(ti.steps == calls);
  if (leaner) CHECK(ti.arena_bytes <= ui.arena_bytes);
  reset_onednn_reference_primitives();
  const Tensor a = tiled.run(in)[0];
  testing::require_no_reference_primitives("tiled plan");
  DOPPEL_REQUIRE_CLOSE(a, untiled.run(in)[0], kBitwise);
  DOPPEL_REQUIRE_CLOSE(tiled.run(in)[0], a, kBitwise);  // a second run on the same context
  Tensors other;                                        // and other inputs bound to it
  for (const Tensor& t : in) other.push_back(t * -0.5);
  DOPPEL_REQUIRE_CLOSE(tiled.run(other)[0], untiled.run(other)[0], kBitwise);
  // The profile: one entry per step, a tiled step's chunks summed.
  CHECK(tiled.profile(in, 1).size() == ui.steps);
  return a;
}

TEST_CASE("batch tiling: the small CNN at batch 64 (nChw16c or channels-last), tiled equals untiled and eager",
          "[batch_tiling]") {
  manual_seed(1);
  auto model = bench::make_model("cnn");
  const Tensor x = make_input({64, 1, 28, 28}, DType::Float32, 7);
  const auto g = graph_of(forward_of(*model), {x}, inference_passes());
  REQUIRE(testing::count_op(*g, OpId::blocked_conv2d) == 2);
  // nChw16c (AVX-512) converts the last pool's output back; channels-last (AVX2) has the linear
  // read it as it is (blocked_flatten).
  const bool channels_last = onednn_channel_block() == 8;
  CHECK(testing::count_op(*g, OpId::from_blocked) == (channels_last ? 0 : 1));
  graph::Executor ex(g);
  // conv, pool, conv, pool (, from_blocked) in chunks of 8 images (the first convolution's input
  // and output, 3 + 100 KB an image, within 1 MiB); the 1.6 MB first linear weight ends the run.
  const std::vector<graph::TiledRun> runs = ex.plan_info(Tensors{x}).tiled;
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].first == 0);
  CHECK(runs[0].last == (channels_last ? 3 : 4));
  CHECK(runs[0].batch == 64);
  CHECK(runs[0].chunk == 8);
  // The arena holds the chunk buffers: well below the untiled one (8.0 MB: the first
  // convolution's output alone is 6.4 MB).
  CHECK(ex.plan_info(Tensors{x}).arena_bytes < graph::Executor(g, kUntiled).plan_info(Tensors{x}).arena_bytes / 3);
  const Tensor got = tiled_equals_untiled(g, {x}, 1);
  NoGradGuard ng;
  DOPPEL_REQUIRE_CLOSE(got, model->forward(x), kTol);
}

// conv-bn-relu-conv-add-relu, plain or blocked by the inference passes.
struct Residual {
  Tensor w1, b1, w2, b2, mean, var, gamma, beta;
  explicit Residual(int64_t c) {
    const double bound = 1.0 / std::sqrt(double(c * 9));
    w1 = make_input({c, c, 3, 3}, DType::Float32, 11, -bound, bound);
    w2 = make_input({c, c, 3, 3}, DType::Float32, 12, -bound, bound);
    b1 = make_input({c}, DType::Float32, 13, -0.1, 0.1);
    b2 = make_input({c}, DType::Float32, 14, -0.1, 0.1);
    mean = make_input({c}, DType::Float32, 15, -0.2, 0.2);
    var = make_input({c}, DType::Float32, 16, 0.5, 1.5);
    gamma = make_input({c}, DType::Float32, 17, 0.5, 1.5);
    beta = make_input({c}, DType::Float32, 18, -0.2, 0.2);
  }
  Tensors operator()(const Tensors& in) const {
    NoGradGuard ng;
    Tensor h = relu(batch_norm(conv2d(in[0], w1, b1, {1, 1}, {1, 1}), mean, var, gamma, beta));
    return {relu(conv2d(h, w2, b2, {1, 1}, {1, 1}) + in[0])};
  }
};

TEST_CASE("batch tiling: a residual block at batch 7 in chunks of 3, 3 and 1", "[batch_tiling]") {
  const Residual net(16);
  const Tensor x = make_input({7, 16, 20, 20}, DType::Float32, 3);
  const Tensor want = net({x})[0];
  // 25.6 KB an image per value; the residual add (or the convolution taking the residual) touches
  // three: 76.8 KB an image, 3 images in 240 KB.
  const graph::BatchTilingOptions small{.chunk_bytes = 240'000, .min_internal_bytes = 0};
  for (const bool blocked : {false, true}) {
    INFO((blocked ? "inference passes (nChw16c)" : "as traced (plain layout)"));
    graph::PassOptions passes = inference_passes();
    passes.enabled = blocked;
    const auto g = graph_of(net, {x}, passes);
    graph::Executor ex(g, {.tiling = small});
    const std::vector<graph::TiledRun> runs = ex.plan_info(Tensors{x}).tiled;
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].chunk == 3);  // 7 has no divisor in (1.5, 3]: a ragged last chunk
    CHECK(runs[0].first == 0);
    CHECK(runs[0].last == int32_t(graph::Executor(g, kUntiled).plan_info(Tensors{x}).steps) - 1);
    DOPPEL_REQUIRE_CLOSE(tiled_equals_untiled(g, {x}, 1, small), want, kTol);
  }
}

TEST_CASE("batch tiling: a channels-last bf16 chain, tiled equals untiled", "[batch_tiling]") {
  if (!onednn_bf16_support().native) SKIP("no native bf16 on this CPU (" << onednn_bf16_support().isa << ")");
  const Residual net(32);
  const Tensor x = make_input({12, 32, 24, 24}, DType::Float32, 4);
  const auto g = graph_of(net, {x}, inference_passes(graph::Precision::BFloat16));
  const std::string text = graph::to_text(*g);
  INFO(text);
  REQUIRE(text.find("bfloat16[12, 1, 24, 24, 32] = blocked_conv2d(") != std::string::npos);
  const Tensor got = tiled_equals_untiled(g, {x}, 1, {.chunk_bytes = 200'000, .min_internal_bytes = 0});
  const Tensor want = net({x})[0];
  double worst = 0, scale = 0;
  const std::vector<double> gv = got.to_vector<double>(), wv = want.to_vector<double>();
  for (size_t k = 0; k < gv.size(); ++k) {
    worst = std::max(worst, std::abs(gv[k] - wv[k]));
    scale = std::max(scale, std::abs(wv[k]));
  }
  CHECK(worst <= 0.03 * scale);  // bf16 arithmetic (test_layout_channels_last.cpp's bound)
}

TEST_CASE("batch tiling: an exported dynamic-batch CNN in the runtime at batch 1, 5 and 64", "[batch_tiling]") {
  manual_seed(2);
  auto model = bench::make_model("cnn");
  CompiledFunction f = compile(forward_of(*model), {.dynamic = {{0, 0, "batch"}}, .passes = inference_passes()});
  testing::TempPath path;
  export_model(f, {make_input({8, 1, 28, 28}, DType::Float32, 1)}, path.str());
  const runtime::Model tiled = runtime::Model::load(path.str());
  const runtime::Model untiled = runtime::Model::load(path.str(), "inference", {.batch_tiling = false});
  for (const int64_t batch : {1, 5, 64}) {
    INFO("batch " << batch);
    const Tensor x = make_input({batch, 1, 28, 28}, DType::Float32, uint64_t(batch));
    // Tiled only where the first convolution's output outgrows the cache: at 64, not at 1 or 5.
    CHECK(tiled.plan_info(Tensors{x}).tiled.size() == (batch == 64 ? 1u : 0u));
    CHECK(untiled.plan_info(Tensors{x}).tiled.empty());
    const Tensor got = tiled.run({x})[0];
    DOPPEL_REQUIRE_CLOSE(got, untiled.run({x})[0], kBitwise);
    NoGradGuard ng;
    DOPPEL_REQUIRE_CLOSE(got, model->forward(x), kTol);
  }
}

// x [N, 16, 32, 32] -> conv 16->16 5x5 (25,600 bytes of weights) -> conv 16->`wide` 3x3 (9,216
// bytes for 16) -> relu [-> 2x2 max pool], as traced (no passes). With max_weight_bytes = 20,000
// the first convolution stays out: the run is the rest, its input the first convolution's output.
struct Chain {
  Tensor w0 = make_input({16, 16, 5, 5}, DType::Float32, 21, -0.05, 0.05);
  Tensor w1;
  bool pool;
  Chain(int64_t wide, bool pool_) : w1(make_input({wide, 16, 3, 3}, DType::Float32, 22, -0.1, 0.1)), pool(pool_) {}
  Tensors operator()(const Tensors& in) const {
    NoGradGuard ng;
    const Tensor h = relu(conv2d(conv2d(in[0], w0, Tensor(), {1, 1}, {2, 2}), w1, Tensor(), {1, 1}, {1, 1}));
    return {pool ? max_pool2d(h, {2, 2}) : h};
  }
};

graph::PassOptions as_traced() {
  graph::PassOptions o;
  o.enabled = false;
  return o;
}

TEST_CASE("batch tiling: runs and chunks on both sides of each threshold", "[batch_tiling]") {
  const Chain chain(16, true);
  auto runs_at = [&](int64_t batch, graph::BatchTilingOptions o) {
    const Tensor x = make_input({batch, 16, 32, 32}, DType::Float32, 5);
    return graph::Executor(graph_of(chain, {x}, as_traced()), {.tiling = o}).plan_info(Tensors{x}).tiled;
  };
  // The second convolution, relu and pool: internal values 2 x 64 KiB an image against
  // min_internal_bytes = 2.5 MiB: tiled from N = 20; the convolution's step touches 128 KiB an
  // image.
  const graph::BatchTilingOptions second{.max_weight_bytes = 20'000};
  CHECK(runs_at(19, second).empty());
  const std::vector<graph::TiledRun> r20 = runs_at(20, second);
  REQUIRE(r20.size() == 1);
  CHECK(r20[0].first == 1);
  CHECK(r20[0].last == 3);
  CHECK(r20[0].batch == 20);
  CHECK(r20[0].chunk == 5);  // 1 MiB / 128 KiB = 8, and 5 divides 20
  // Every step when the weights fit: 3 x 64 KiB an image internal, tiled from N = 14 (chunks of 7).
  const std::vector<graph::TiledRun> all = runs_at(14, {});
  REQUIRE(all.size() == 1);
  CHECK(all[0].first == 0);
  CHECK(all[0].last == 3);
  CHECK(all[0].chunk == 7);
  CHECK(runs_at(13, {}).empty());
  // The chunk: 8 divides 40; 1.25 MiB / 128 KiB = 10 has no divisor of 44 in (5, 10] and stays 10
  // (ragged); at 2 MiB it is 16, dividing 64.
  CHECK(runs_at(40, second).at(0).chunk == 8);
  auto with_chunk = [&](size_t bytes) {
    graph::BatchTilingOptions o = second;
    o.chunk_bytes = bytes;
    return o;
  };
  CHECK(runs_at(44, with_chunk(1'310'720)).at(0).chunk == 10);
  CHECK(runs_at(64, with_chunk(size_t(2) << 20)).at(0).chunk == 16);
  // A chunk of the whole batch is no tiling: 4 MiB / 128 KiB = 32.
  CHECK(runs_at(32, with_chunk(size_t(4) << 20)).empty());
  CHECK(runs_at(33, with_chunk(size_t(4) << 20)).at(0).chunk == 32);
  // A step whose one image outgrows the chunk stays out: the convolution and relu touch 128 KiB
  // an image; without them the pool alone has no internal value.
  CHECK(runs_at(32, with_chunk(131'072)).at(0).chunk == 1);
  CHECK(runs_at(32, with_chunk(131'071)).empty());
  // Weights: the second convolution's 9,216 bytes. Without it the run is relu and pool, one
  // internal value (2 MiB at N = 32, under 2.5): not tiled.
  CHECK(runs_at(32, {.max_weight_bytes = 9216}).size() == 1);
  CHECK(runs_at(32, {.max_weight_bytes = 9215}).empty());
  CHECK(runs_at(32, {.enabled = false}).empty());
}

// The lifetime rule: a run's input is read again by every chunk and its output written by every
// chunk, so both live over the whole run. Here the run is the second convolution (16 -> 32
// channels) and relu, in chunks of 4; its output (128 KiB an image) would otherwise share the
// arena with its input (64 KiB an image, last read at the run's first step), and chunk 1 would
// write the input rows of chunks 2 and 3 before they are read. (The tiled arena is larger here by
// the convolution's chunk buffer: untiled, the relu writes over the convolution's output.)
TEST_CASE("batch tiling: a run's inputs and outputs live over the whole run", "[batch_tiling]") {
  const Chain widen(32, false);
  const graph::BatchTilingOptions second{.max_weight_bytes = 20'000, .min_internal_bytes = 0};
  for (const int64_t batch : {32, 35}) {
    INFO("batch " << batch);
    const Tensor x = make_input({batch, 16, 32, 32}, DType::Float32, 6);
    const auto g = graph_of(widen, {x}, as_traced());
    const std::vector<graph::TiledRun> runs = graph::Executor(g, {.tiling = second}).plan_info(Tensors{x}).tiled;
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].first == 1);
    CHECK(runs[0].chunk == 4);  // 1 MiB / 256 KiB (the relu's input and output); ragged at 35
    DOPPEL_REQUIRE_CLOSE(tiled_equals_untiled(g, {x}, 1, second, /*leaner=*/false), widen({x})[0], kTol);
  }
}

}  // namespace
}  // namespace doppel
