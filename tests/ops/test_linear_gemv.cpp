// linear on one row (kernels/cpu/onednn/gemv.h: a matrix-vector loop instead of oneDNN's matmul
// at M = 1): against float64 dot products, on both sides of the direct-loop threshold (N·K =
// 4096), of the 16-lane body / tail split and of the 8-row passes, with leading dims of size 1, a strided bias, NaN
// and ±Inf; every vector-ISA copy and 1 or 2 threads give the same bits.
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "cpu/onednn/gemv.h"
#include "cpu/vector_isa.h"
#include "doppel/kernels/kernel_table.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

// y[n] = Σ_k x[k]·w[n, k] (+ b[n]) in float64, and Σ_k |x[k]·w[n, k]| (the rounding scale).
struct Dot {
  std::vector<double> y, scale;
};
Dot dot_oracle(const Tensor& x, const Tensor& w, const Tensor& b) {
  const std::vector<double> xv = x.to_vector<double>(), wv = w.contiguous().to_vector<double>();
  const std::vector<double> bv = b.defined() ? b.to_vector<double>() : std::vector<double>();
  const int64_t N = w.size(0), K = w.size(1);
  Dot d{std::vector<double>(size_t(N)), std::vector<double>(size_t(N))};
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) {
      d.y[size_t(n)] += xv[size_t(k)] * wv[size_t(n * K + k)];
      d.scale[size_t(n)] += std::abs(xv[size_t(k)] * wv[size_t(n * K + k)]);
    }
    if (!bv.empty()) d.y[size_t(n)] += bv[size_t(n)], d.scale[size_t(n)] += std::abs(bv[size_t(n)]);
  }
  return d;
}

void check_close(const Tensor& got, const Dot& want, int64_t K) {
  const std::vector<float> g = got.to_vector<float>();
  REQUIRE(g.size() == want.y.size());
  for (size_t n = 0; n < g.size(); ++n)
    CHECK(std::abs(double(g[n]) - want.y[n]) <= double(K + 2) * 0x1p-24 * want.scale[n] + 1e-30);
}

bool bits_equal(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

TEST_CASE("linear on one row: the matrix-vector loop against float64 dot products", "[ops][linalg][gemv]") {
  uint64_t seed = 40;
  for (const int64_t K : {1, 15, 16, 17, 64, 100, 784, 3136, 4099})
    for (const int64_t N : {1, 3, 4, 5, 7, 8, 9, 63, 64, 128, 300}) {
      INFO("K " << K << ", N " << N);
      const Tensor x = make_input({1, K}, DType::Float32, seed++), w = make_input({N, K}, DType::Float32, seed++);
      const Tensor b = make_input({N}, DType::Float32, seed++);
      CHECK(onednn::gemv_applies(x, w) == (N * K >= onednn::kGemvMinMacs));
      check_close(linear(x, w, b), dot_oracle(x, w, b), K);
      check_close(linear(x, w), dot_oracle(x, w, Tensor()), K);
      // Leading dims of size 1, and a bias read through a stride.
      const Tensor b2 = make_input({N, 2}, DType::Float32, seed++).select(1, 1);
      const Tensor y3 = linear(x.reshape({1, 1, K}), w, b2);
      CHECK(y3.shape() == Shape{1, 1, N});
      check_close(y3.reshape({N}), dot_oracle(x, w, b2), K);
    }
}

TEST_CASE("linear on one row: NaN and infinities propagate as in a dot product", "[ops][linalg][gemv]") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const int64_t K = 200, N = 40;
  Tensor x = make_input({1, K}, DType::Float32, 7), w = make_input({N, K}, DType::Float32, 8, 0.5, 1.0);
  x.data_ptr<float>()[3] = nan;  // every output NaN
  for (const float v : linear(x, w).to_vector<float>()) CHECK(std::isnan(v));
  x = make_input({1, K}, DType::Float32, 7, 0.5, 1.0);
  x.data_ptr<float>()[150] = inf;  // the tail is not touched: in the 16-lane body
  w.data_ptr<float>()[5 * K + 150] = -1.0f;
  w.data_ptr<float>()[6 * K + 150] = 0.0f;  // inf · 0: NaN
  const std::vector<float> y = linear(x, w).to_vector<float>();
  CHECK(y[0] == inf);
  CHECK(y[5] == -inf);
  CHECK(std::isnan(y[6]));
  x.data_ptr<float>()[199] = -inf;  // +inf and -inf in one row: NaN
  CHECK(std::isnan(linear(x, w).to_vector<float>()[0]));
}

TEST_CASE("linear on one row: every vector ISA and 1 or 2 threads give the same bits", "[ops][linalg][gemv]") {
  // The copies read 8, 4 or 2 rows per pass: 131 rows leave a tail for each, K = 3137 one past the lanes.
  for (const auto& [K, N] : {std::pair<int64_t, int64_t>{3136, 128}, {3137, 131}}) {
    INFO("K " << K << ", N " << N);
    const Tensor x = make_input({1, K}, DType::Float32, 24), w = make_input({N, K}, DType::Float32, 25);
    const Tensor b = make_input({N}, DType::Float32, 26);
    const Tensor want = linear(x, w, b);
    check_close(want, dot_oracle(x, w, b), K);
    for (const auto isa : {vector_isa::Isa::Portable, vector_isa::Isa::Avx2, vector_isa::Isa::Avx512}) {
      if (!vector_isa::supported(isa)) continue;
      INFO("ISA " << int(isa));
      vector_isa::ForcedIsa forced(isa);
      CHECK(bits_equal(linear(x, w, b), want));
    }
  }
  const Tensor x = make_input({1, 3136}, DType::Float32, 21), w = make_input({128, 3136}, DType::Float32, 22);
  const Tensor b = make_input({128}, DType::Float32, 23);
  const Tensor want = linear(x, w, b);
  const int threads = get_num_threads();
  set_num_threads(1);
  const Tensor one = linear(x, w, b);
  set_num_threads(2);
  const Tensor two = linear(x, w, b);
  set_num_threads(threads);
  CHECK(bits_equal(one, want));
  CHECK(bits_equal(two, want));
}

}  // namespace
}  // namespace doppel::testing
