// The oneDNN kernels' weight cache (kernels/cpu/onednn/weight_cache.h): a weight's reordered copy
// and its NaN/infinity scan are reused while its storage's version stands, and never once the
// weight changed — through an op (eager, or an executor updating its state in place) or through
// memory doppel does not version (borrowed, shared out). Each result is checked against the
// reference kernel on the same values at that moment.
#include <cmath>
#include <cstring>
#include <functional>

#include "doppel/dispatch.h"
#include "doppel/graph/compile.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/weight_cache.h"
#include "support/onednn_products.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;

Tensor conv(const Tensor& x, const Tensor& w) { return conv2d(x, w, Tensor(), {1, 1}, {1, 1}); }

Tensor on_reference(const std::function<Tensor()>& f) {
  ForceBackendGuard reference(Backend::Reference);
  return f();
}

// Sums of up to 144 products of O(1) values in float32, in two summation orders.
const testing::Tolerance kTol{1e-4, 1e-4};

TEST_CASE("weight cache: a convolution's weight is reordered once per version", "[onednn_semantics][weight_cache]") {
  const Tensor x = make_input({2, 16, 12, 12}, DType::Float32, 1);
  const Tensor w = make_input({32, 16, 3, 3}, DType::Float32, 2);
  (void)conv(x, w);
  if (last_selected_backend() != Backend::OneDNN) SKIP("oneDNN does not run this convolution here");
  (void)conv(x, w);  // the second call at this version keeps the reordered copy
  const auto kept = weight_cache_stats();
  if (kept.prepack_misses == 0) SKIP("oneDNN reads this weight in its own layout: nothing to prepack");
  const Tensor y1 = conv(x, w), y2 = conv(x, w);
  const auto after = weight_cache_stats();
  CHECK(after.prepack_hits - kept.prepack_hits == 2);
  CHECK(after.prepack_misses == kept.prepack_misses);
  DOPPEL_REQUIRE_CLOSE(y1, on_reference([&] { return conv(x, w); }), kTol);

  // An in-place op moves the version on: the next calls use the new values, and the copy is
  // kept again from the second of them.
  mul_(w, -2.0);
  for (int k = 0; k < 3; ++k) DOPPEL_REQUIRE_CLOSE(conv(x, w), on_reference([&] { return conv(x, w); }), kTol);
  CHECK(weight_cache_stats().prepack_misses == after.prepack_misses + 1);
  // A view of the weight (another offset and geometry) is an entry of its own.
  const Tensor half = w.narrow(0, 16, 16);
  for (int k = 0; k < 2; ++k) DOPPEL_REQUIRE_CLOSE(conv(x, half), on_reference([&] { return conv(x, half); }), kTol);
}

TEST_CASE("weight cache: a weight changed before every call is never copied", "[onednn_semantics][weight_cache]") {
  const Tensor x = make_input({2, 16, 12, 12}, DType::Float32, 11);
  const Tensor w = make_input({32, 16, 3, 3}, DType::Float32, 12);
  const auto before = weight_cache_stats();
  for (int k = 0; k < 5; ++k) {
    add_(w, 0.01);  // a training step's update
    DOPPEL_REQUIRE_CLOSE(conv(x, w), on_reference([&] { return conv(x, w); }), kTol);
  }
  // Each reference call above met w once more at the same version, but through another backend:
  // the oneDNN kernel met each version once, so nothing was kept.
  CHECK(weight_cache_stats().prepack_misses == before.prepack_misses);
}

TEST_CASE("weight cache: memory written outside doppel's ops is never trusted", "[onednn_semantics][weight_cache]") {
  const Tensor x = make_input({1, 8, 10, 10}, DType::Float32, 3);
  std::vector<float> buffer(size_t(16 * 8 * 9));
  const Tensor init = make_input({16, 8, 3, 3}, DType::Float32, 4);
  std::memcpy(buffer.data(), init.raw_data(), buffer.size() * sizeof(float));
  const Tensor w = from_buffer(buffer.data(), {16, 8, 3, 3}, DType::Float32);
  REQUIRE_FALSE(w.storage()->versioned());
  const Tensor before = conv(x, w);
  for (float& v : buffer) v = -v;  // the owner writes its memory: no version bump
  const Tensor after = conv(x, w);
  DOPPEL_REQUIRE_CLOSE(after, on_reference([&] { return conv(x, w); }), kTol);
  DOPPEL_REQUIRE_CLOSE(after, neg(before), kTol);
}

TEST_CASE("weight cache: a fused kernel's NaN scan of its weight follows the weight's version",
          "[onednn_semantics][weight_cache]") {
  const testing::OneDnnProducts onednn_products;  // the primitives this test is about
  const Attrs relu = FusedLinearAttrs{.activation = int64_t(FusedActivation::relu), .alpha = 0, .beta = 0}.pack();
  const Tensor x = make_input({3, 64}, DType::Float32, 5), b = make_input({32}, DType::Float32, 6);
  const Tensor w = make_input({32, 64}, DType::Float32, 7);
  auto run = [&] { return dispatch1(OpId::fused_linear, {x, w, b}, relu); };
  DOPPEL_REQUIRE_CLOSE(run(), on_reference(run), kTol);
  DOPPEL_REQUIRE_CLOSE(run(), on_reference(run), kTol);  // the second meeting keeps "no NaN"
  const auto kept = weight_cache_stats();
  DOPPEL_REQUIRE_CLOSE(run(), on_reference(run), kTol);
  CHECK(weight_cache_stats().scan_hits >= kept.scan_hits + 2);  // the weight's and the bias's answers
  // A NaN written through an op: relu(NaN) must stay NaN (oneDNN's post-op would give 0).
  copy_(w.select(0, 5), full({64}, NAN));
  const Tensor y = run();
  CHECK(std::isnan(y.select(1, 5).select(0, 0).item<float>()));
  DOPPEL_REQUIRE_CLOSE(y, on_reference(run), kTol);
}

// A training step changes its weight before every fused_linear call: with relu the kernel runs
// the unfused ops (the product, then eager's relu over the output) instead of scanning the whole
// weight for NaN and infinities each step. NaN and ±inf in the weight, the bias and the input,
// written between steps, give eager's unfused bits; a weight that then stays put is scanned once
// and the fused primitive runs, with the same bits.
TEST_CASE("weight cache: fused_linear relu on a weight changed every step keeps NaN and infinities bit for bit",
          "[onednn_semantics][weight_cache]") {
  const testing::OneDnnProducts onednn_products;  // the primitives this test is about
  const Tensor x = make_input({64, 96}, DType::Float32, 41), w = make_input({48, 96}, DType::Float32, 42);
  const Tensor b = make_input({48}, DType::Float32, 43);
  const auto bits_equal = [](const Tensor& got, const Tensor& want) {
    REQUIRE(got.shape() == want.shape());
    const Tensor g = got.contiguous(), e = want.contiguous();
    CHECK(std::memcmp(g.raw_data(), e.raw_data(), size_t(g.numel()) * sizeof(float)) == 0);
  };
  const auto at = [](const Tensor& y, int64_t r, int64_t c) { return y.select(0, r).select(0, c).item<float>(); };
  const Attrs relu_attrs = FusedLinearAttrs{.activation = int64_t(FusedActivation::relu), .alpha = 0, .beta = 0}.pack();
  const auto fused = [&] { return dispatch1(OpId::fused_linear, {x, w, b}, relu_attrs); };
  const auto unfused = [&] { return relu(linear(x, w, b)); };
  for (int step = 0; step < 8; ++step) {
    INFO("step " << step);
    add_(w, 0.01);  // the optimizer's update: a new version
    add_(b, 0.01);
    if (step == 1) copy_(w.select(0, 5).narrow(0, 7, 1), full({1}, NAN));
    if (step == 2) copy_(w.select(0, 6).narrow(0, 3, 1), full({1}, INFINITY));
    if (step == 3) copy_(b.narrow(0, 9, 1), full({1}, -INFINITY));
    if (step == 4) copy_(b.narrow(0, 10, 1), full({1}, NAN));
    if (step == 5) copy_(x.select(0, 2).narrow(0, 0, 1), full({1}, NAN));
    const Tensor y = fused();
    CHECK(last_selected_backend() == Backend::OneDNN);
    bits_equal(y, unfused());
    if (step >= 1) CHECK(std::isnan(at(y, 0, 5)));  // relu(NaN) = NaN, not oneDNN's 0
    if (step >= 3) CHECK(at(y, 0, 9) == 0.f);       // relu(-inf)
    if (step >= 4) CHECK(std::isnan(at(y, 0, 10)));
    if (step >= 5) CHECK(std::isnan(at(y, 2, 20)));
  }
  // Clean values again, then a weight that stays put: scanned at its second call, fused from then.
  copy_(w, make_input({48, 96}, DType::Float32, 44));
  copy_(b, make_input({48}, DType::Float32, 45));
  copy_(x, make_input({64, 96}, DType::Float32, 41));
  const auto before = weight_cache_stats();
  for (int k = 0; k < 4; ++k) {
    bits_equal(fused(), unfused());
    DOPPEL_REQUIRE_CLOSE(fused(), on_reference(fused), kTol);
  }
  CHECK(weight_cache_stats().scan_hits - before.scan_hits == 12);  // calls 3 to 8, weight and bias
}

TEST_CASE("weight cache: an executor updating a weight in place and reading it in the same run",
          "[onednn_semantics][weight_cache]") {
  const Tensor x = make_input({2, 8, 9, 9}, DType::Float32, 8);
  const Tensor w = make_input({16, 8, 3, 3}, DType::Float32, 9), w_eager = w.clone();
  auto step = [&](const Tensor& in, const Tensor& weight) {
    const Tensor first = conv(in, weight);
    mul_(weight, 0.5);  // the state update, then a read of the new value
    return std::vector<Tensor>{add(first, conv(in, weight))};
  };
  CompiledFunction f = compile([&](const std::vector<Tensor>& in) { return step(in[0], w); });
  for (int k = 0; k < 4; ++k) {
    INFO("call " << k);
    const Tensor got = f({x})[0];
    DOPPEL_REQUIRE_CLOSE(got, step(x, w_eager)[0], kTol);
  }
  CHECK(f.num_graph_runs() >= 2);
}

// GPT-2's Conv1D: x [..., in] @ weight [in, out]. The weight is prepacked like a linear layer's
// (matmul read it in its plain layout, which oneDNN repacked on every call: 2.2x slower than
// linear at 256 rows, 768 -> 3072), and a decode step's [B, 1, in] rows run as the same one
// [B, in] product (a batched primitive would read the weight once per row, and want it in a 3-d
// layout of its own).
TEST_CASE("weight cache: matmul prepacks a constant [in, out] weight once and reads it once per call",
          "[onednn_semantics][weight_cache]") {
  const testing::OneDnnProducts onednn_products;  // the primitives this test is about
  const Tensor w = make_input({96, 160}, DType::Float32, 21);
  const Tensor x2 = make_input({8, 96}, DType::Float32, 22), x3 = x2.reshape({8, 1, 96});
  auto product = [&](const Tensor& x) { return [&x, &w] { return x.matmul(w); }; };
  for (int k = 0; k < 3; ++k) (void)x2.matmul(w);  // met, met again (prepacked), kept
  if (last_selected_backend() != Backend::OneDNN) SKIP("oneDNN does not run this matmul here");
  // Prepacked: each call takes the kept copy (a hit), or, where the primitive prefers w's own
  // layout (oneDNN's x64 gemm on AVX2), reads w as it is; never a reorder per call.
  const auto kept = weight_cache_stats();
  const Tensor y2 = x2.matmul(w);
  const auto after2 = weight_cache_stats();
  const int64_t packed = after2.prepack_hits - kept.prepack_hits;  // 1: w prepacked; 0: read as it is
  CHECK(packed + after2.prepack_as_is - kept.prepack_as_is == 1);
  CHECK(after2.prepack_reorders == kept.prepack_reorders);
  const Tensor y3 = x3.matmul(w);
  const auto after3 = weight_cache_stats();
  // The same 2-d layout: one [8, 96] product.
  CHECK(after3.prepack_hits == after2.prepack_hits + packed);
  CHECK(after3.prepack_as_is == after2.prepack_as_is + 1 - packed);
  CHECK(after3.prepack_misses == kept.prepack_misses);
  CHECK(after3.prepack_reorders == kept.prepack_reorders);
  DOPPEL_REQUIRE_CLOSE(y2, on_reference(product(x2)), kTol);
  DOPPEL_REQUIRE_CLOSE(y3, on_reference(product(x3)), kTol);
  REQUIRE(y3.shape() == Shape{8, 1, 160});

  // A new version is read as it is, then prepacked again; a weight stored transposed (a view
  // with unit row stride) is prepacked from its own strides.
  mul_(w, -0.5);
  for (int k = 0; k < 4; ++k) DOPPEL_REQUIRE_CLOSE(x3.matmul(w), on_reference(product(x3)), kTol);
  const auto after_new = weight_cache_stats();
  CHECK(after_new.prepack_misses == after3.prepack_misses + packed);
  CHECK(after_new.prepack_reorders == after3.prepack_reorders + 2 * packed);  // one for one call, one kept
  // The transposed weight: a plain-layout primitive reads it prepacked to its own layout too.
  const Tensor wt = make_input({160, 96}, DType::Float32, 23).t();
  auto transposed = [&] { return x3.matmul(wt); };
  for (int k = 0; k < 4; ++k) DOPPEL_REQUIRE_CLOSE(transposed(), on_reference(transposed), kTol);
  const auto after_t = weight_cache_stats();
  const int64_t packed_t = after_t.prepack_misses - after_new.prepack_misses;    // 1: prepacked
  CHECK(packed_t + (after_t.prepack_as_is - after_new.prepack_as_is) / 3 == 1);  // calls 2-4 read as is
  CHECK(after_t.prepack_reorders == after_new.prepack_reorders + 2 * packed_t);
  CHECK(after_t.prepack_hits == after_new.prepack_hits + packed_t);
  // A broadcast weight (a stride-0 view) reads right, packed or not: matmul's and linear's.
  const Tensor row = make_input({1, 160}, DType::Float32, 24), broadcast = row.expand({96, 160});
  auto by_row = [&] { return x3.matmul(broadcast); };
  auto linear_by_row = [&] { return linear(x2, broadcast.t()); };
  for (int k = 0; k < 4; ++k) {
    DOPPEL_REQUIRE_CLOSE(by_row(), on_reference(by_row), kTol);
    DOPPEL_REQUIRE_CLOSE(linear_by_row(), on_reference(linear_by_row), kTol);
  }
}

// A training step reads each weight once per version as linear's x·wᵀ (forward) and once as
// matmul's dy·w (the input gradient): neither read is worth a prepacking reorder, which used
// once costs more than reading the plain layout (the MLP step reordered its 512×512 weight on
// every step, ~75 µs of 2 ms). A weight that stays put is still prepacked for each reader.
TEST_CASE("weight cache: a training step's weight is read as it is by linear and by matmul",
          "[onednn_semantics][weight_cache]") {
  const testing::OneDnnProducts onednn_products;  // the primitives this test is about
  const Tensor w = make_input({160, 96}, DType::Float32, 31);
  const Tensor x = make_input({16, 96}, DType::Float32, 32), dy = make_input({16, 160}, DType::Float32, 33);
  auto forward = [&] { return linear(x, w); };
  auto input_grad = [&] { return dy.matmul(w); };
  const auto before = weight_cache_stats();
  for (int step = 0; step < 4; ++step) {
    DOPPEL_REQUIRE_CLOSE(forward(), on_reference(forward), kTol);
    if (last_selected_backend() != Backend::OneDNN) SKIP("oneDNN does not run this linear here");
    DOPPEL_REQUIRE_CLOSE(input_grad(), on_reference(input_grad), kTol);
    add_(w, 0.01);  // the optimizer's update
  }
  CHECK(weight_cache_stats().prepack_reorders == before.prepack_reorders);
  // At one version each reader prepacks on its own: its second call reorders, its third keeps.
  for (int k = 0; k < 5; ++k) {
    DOPPEL_REQUIRE_CLOSE(forward(), on_reference(forward), kTol);
    DOPPEL_REQUIRE_CLOSE(input_grad(), on_reference(input_grad), kTol);
  }
  // Per reader whose primitive wants a prepacked layout: one miss, two reorders, two hits; a
  // reader whose primitive prefers the weight's own layout (oneDNN's x64 gemm on AVX2) reads it
  // as it is on calls 2 to 5.
  const auto after = weight_cache_stats();
  const int64_t as_is = after.prepack_as_is - before.prepack_as_is;
  REQUIRE(as_is % 4 == 0);
  const int64_t packed = 2 - as_is / 4;
  INFO(packed << " of the 2 readers prepack");
  CHECK(packed >= 0);
  CHECK(after.prepack_misses - before.prepack_misses == packed);
  CHECK(after.prepack_reorders - before.prepack_reorders == 2 * packed);
  CHECK(after.prepack_hits - before.prepack_hits == 2 * packed);
}

}  // namespace
}  // namespace doppel
