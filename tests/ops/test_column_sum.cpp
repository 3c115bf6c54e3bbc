// The float32 column sums (sum / mean over leading or middle dims of a contiguous tensor, oneDNN
// backend, kernels/cpu/onednn/column_sum.h): exact against float64 loops that sum each column in
// row order and round once (the reference kernel's arithmetic, which the loop reproduces bit for
// bit), on both sides of the inner-size threshold, the 64-column block and the parallel grain,
// with NaN, ±Inf, −0 and denormals; the same bits on 1 and 2 threads.
#include <cmath>
#include <cstring>
#include <limits>

#include "cpu/onednn/column_sum.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/reduction.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN(), kInf = std::numeric_limits<float>::infinity();

// The oracle: x read as [outer, rows, inner]; each column summed in double in row order, the
// mean divided in double, one rounding to float.
std::vector<float> column_oracle(const std::vector<float>& x, int64_t outer, int64_t rows, int64_t inner, bool mean) {
  std::vector<float> y(size_t(outer * inner));
  for (int64_t a = 0; a < outer; ++a)
    for (int64_t i = 0; i < inner; ++i) {
      double s = 0;
      for (int64_t r = 0; r < rows; ++r) s += double(x[size_t((a * rows + r) * inner + i)]);
      y[size_t(a * inner + i)] = float(mean ? s / double(rows) : s);
    }
  return y;
}

// Bitwise equality (NaN equal to NaN, −0 distinct from +0).
void check_bits(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      CHECK(std::isnan(got[i]));
      continue;
    }
    uint32_t g = 0, w = 0;
    std::memcpy(&g, &got[i], 4);
    std::memcpy(&w, &want[i], 4);
    INFO("element " << i << ": " << got[i] << " vs " << want[i]);
    CHECK(g == w);
  }
}

Tensor reduce(OpId op, const Tensor& x, IntList dims, bool keepdim) {
  return op == OpId::sum ? sum(x, dims, keepdim) : mean(x, dims, keepdim);
}

struct Case {
  Shape shape;
  Shape dims;
  int64_t outer, rows, inner;
};

}  // namespace

TEST_CASE("column sums: sum and mean over leading and middle dims equal float64 column loops", "[ops][column_sum]") {
  const std::vector<Case> cases = {
      {{64, 512}, {0}, 1, 64, 512},         // the MLP's bias gradient
      {{64, 10}, {0}, 1, 64, 10},           // the last layer's: a tail block only
      {{3, 8}, {0}, 1, 3, 8},               // inner at the threshold
      {{5, 63}, {0}, 1, 5, 63},             // one short block
      {{5, 64}, {0}, 1, 5, 64},             // one full block
      {{5, 65}, {0}, 1, 5, 65},             // a full block and a 1-column tail
      {{2, 130}, {0}, 1, 2, 130},           // two blocks and a tail
      {{300, 257}, {0}, 1, 300, 257},       // above the parallel grain
      {{4, 6, 16}, {0, 1}, 1, 24, 16},      // [B, T, C] over B and T
      {{3, 7, 33}, {1}, 3, 7, 33},          // a middle dim: outer 3
      {{2, 3, 4, 20}, {1, 2}, 2, 12, 20},   // two middle dims
      {{2, 1, 5, 1, 9}, {0, 2}, 1, 10, 9},  // size-1 dims anywhere
      {{1, 6, 40}, {1}, 1, 6, 40},          // a size-1 outer dim
      {{6, 1, 40}, {0, 1}, 1, 6, 40},       // a reduced size-1 dim
  };
  for (const Case& k : cases)
    for (OpId op : {OpId::sum, OpId::mean})
      for (bool keepdim : {false, true}) {
        const Tensor x = make_input(k.shape, DType::Float32, uint64_t(k.shape.size() * 31 + k.inner), -3, 3);
        INFO(op_name(op) << " of " << shape_str(x.shape()) << " over " << shape_str(k.dims) << " keepdim " << keepdim);
        const Tensor y = reduce(op, x, k.dims, keepdim);
        CHECK(last_selected_backend() == Backend::OneDNN);
        const OpCall call{op, std::span<const Tensor>(&x, 1), ReduceAttrs{.dims = k.dims, .keepdim = keepdim}.pack()};
        const auto g = onednn::column_geometry(call);
        REQUIRE(g);
        CHECK((g->outer == k.outer && g->rows == k.rows && g->inner == k.inner));
        check_bits(y.to_vector<float>(),
                   column_oracle(x.to_vector<float>(), k.outer, k.rows, k.inner, op == OpId::mean));
      }
}

TEST_CASE("column sums: the geometries the loop declines still give the double-loop values", "[ops][column_sum]") {
  struct Declined {
    Tensor x;
    Shape dims;
  };
  const Tensor base = make_input({6, 7}, DType::Float32, 3, -2, 2);
  const std::vector<Declined> cases = {
      {base, {0}},                                                              // inner 7: below the threshold
      {transpose(make_input({16, 6}, DType::Float32, 4), 0, 1), {1}},           // not contiguous
      {make_input({4, 5, 6, 16}, DType::Float32, 5), {0, 2}},                   // kept dim between reduced dims
      {make_input({9, 32}, DType::Float32, 6), {1}},                            // a row sum: inner 1
      {to_dtype(make_input({9, 32}, DType::Float32, 7), DType::Float64), {0}},  // not float32
  };
  for (const Declined& d : cases) {
    INFO(shape_str(d.x.shape()) << " over " << shape_str(d.dims));
    const OpCall call{OpId::sum, std::span<const Tensor>(&d.x, 1), ReduceAttrs{.dims = d.dims, .keepdim = true}.pack()};
    CHECK_FALSE(onednn::column_geometry(call));
    // The value from whichever kernel runs: a double loop over the reduced index set.
    const Tensor y = sum(d.x, d.dims, true);
    const Tensor xd = to_dtype(d.x, DType::Float64);
    const std::vector<double> want = sum(xd, d.dims, true).to_vector<double>();  // float64: reference kernel
    const std::vector<double> got = to_dtype(y, DType::Float64).to_vector<double>();
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(std::abs(got[i] - want[i]) <= 1e-5 * (1 + std::abs(want[i])));
  }
  // Below the threshold a leading-dim sum is not oneDNN's (its only kernel there is ref:any).
  sum(base, {0});
  CHECK(last_selected_backend() == Backend::Reference);
}

TEST_CASE("column sums: NaN, infinities, signed zeros and denormals", "[ops][column_sum]") {
  const int64_t rows = 5, inner = 70;  // a full block and a tail
  std::vector<float> v(size_t(rows * inner));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(int(i % 11) - 5) * 0.25f;
  auto at = [&](int64_t r, int64_t c) -> float& { return v[size_t(r * inner + c)]; };
  at(2, 0) = kNaN;                                      // NaN propagates
  at(0, 1) = kInf;                                      // +Inf
  at(4, 2) = -kInf;                                     // -Inf
  at(1, 3) = kInf, at(3, 3) = -kInf;                    // Inf - Inf = NaN
  for (int64_t r = 0; r < rows; ++r) at(r, 4) = -0.0f;  // all -0
  for (int64_t r = 0; r < rows; ++r) at(r, 66) = std::numeric_limits<float>::denorm_min();
  at(0, 67) = 3e38f, at(1, 67) = 3e38f;                      // overflows float, not double: rounds to +Inf
  at(0, 68) = 3e38f, at(1, 68) = 3e38f, at(2, 68) = -3e38f;  // exact in double: 3e38
  at(3, 69) = kNaN, at(1, 69) = kInf;                        // NaN in the tail
  const Tensor x = reshape(tensor(v), {rows, inner});
  for (OpId op : {OpId::sum, OpId::mean}) {
    INFO(op_name(op));
    const std::vector<float> got = reduce(op, x, {0}, false).to_vector<float>();
    CHECK(last_selected_backend() == Backend::OneDNN);
    const std::vector<float> want = column_oracle(v, 1, rows, inner, op == OpId::mean);
    check_bits(got, want);
    CHECK(std::isnan(got[0]));
    CHECK(got[1] == kInf);
    CHECK(got[2] == -kInf);
    CHECK(std::isnan(got[3]));
    CHECK(got[4] == 0.0f);
    CHECK(got[66] > 0.0f);
    CHECK(std::isnan(got[69]));
    // The reference kernel (the oracle of every other sum test) gives the same bits.
    ForceBackendGuard ref(Backend::Reference);
    check_bits(reduce(op, x, {0}, false).to_vector<float>(), want);
  }
  CHECK(sum(x, {0}).to_vector<float>()[67] == kInf);
}

TEST_CASE("column sums: 1 and 2 threads give the same bits", "[ops][column_sum]") {
  const int threads = get_num_threads();
  const Tensor x = make_input({256, 1000}, DType::Float32, 12, -1, 1);  // above the parallel grain
  set_num_threads(1);
  const std::vector<float> one = sum(x, {0}).to_vector<float>();
  set_num_threads(2);
  const std::vector<float> two = sum(x, {0}).to_vector<float>();
  set_num_threads(threads);
  check_bits(two, one);
  check_bits(one, column_oracle(x.to_vector<float>(), 1, 256, 1000, false));
}

}  // namespace doppel::testing
