// The CUDA library kernels' plan cache on the CPU (pure C++, no device): keys tell apart
// every property a cuBLASLt/cuDNN plan depends on (op, device, shapes, strides, dtypes,
// attributes, list boundaries) and agree on equal ones; a plan is made once per key, also when
// threads race on a miss; and the cuBLASLt operand mapping (lt_matrix) against its definition.
#if defined(DOPPEL_WITH_CUDA)
#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "cuda/libraries/algo_cache.h"
#include "cuda/libraries/gemm.h"

namespace doppel::cuda {
namespace {

AlgoKey key_of(const Tensor& a, const Tensor& b, int device = 0, OpId op = OpId::matmul) {
  return AlgoKey(op, device).add(a).add(b);
}

Tensor strided(IntList shape, IntList strides, DType t = DType::Float32) {
  const Tensor base = make_tensor({64}, t);
  return make_view(base, shape, strides, 0);
}

TEST_CASE("algo cache keys distinguish every plan input", "[cuda_algo_cache]") {
  const Tensor a = make_tensor({4, 8}, DType::Float32), b = make_tensor({8, 3}, DType::Float32);
  const AlgoKey k = key_of(a, b);
  CHECK(k == key_of(make_tensor({4, 8}, DType::Float32), make_tensor({8, 3}, DType::Float32)));
  CHECK(AlgoKey::Hash{}(k) == AlgoKey::Hash{}(key_of(a, b)));
  CHECK_FALSE(k == key_of(a, b, 1));                                  // device
  CHECK_FALSE(k == key_of(a, b, 0, OpId::linear));                    // op
  CHECK_FALSE(k == key_of(make_tensor({4, 8}, DType::BFloat16), b));  // dtype
  CHECK_FALSE(k == key_of(make_tensor({8, 4}, DType::Float32), b));   // shape
  CHECK_FALSE(k == key_of(strided({4, 8}, {1, 4}), b));               // strides: a transposed view
  CHECK_FALSE(k == key_of(a, Tensor()));                              // an undefined operand
  CHECK_FALSE(k == key_of(b, a));                                     // operand order
  // List boundaries: [1, 2], [3] differs from [1], [2, 3].
  CHECK_FALSE(AlgoKey(OpId::convolution, 0).add(IntList{1, 2}).add(IntList{3}) ==
              AlgoKey(OpId::convolution, 0).add(IntList{1}).add(IntList{2, 3}));
  // Attributes: kind, value and float bits.
  CHECK_FALSE(AlgoKey(OpId::convolution, 0).add(Attr::of_int(1)) ==
              AlgoKey(OpId::convolution, 0).add(Attr::of_bool(true)));
  CHECK_FALSE(AlgoKey(OpId::convolution, 0).add(Attr::of_float(0.1)) ==
              AlgoKey(OpId::convolution, 0).add(Attr::of_float(0.2)));
  CHECK(AlgoKey(OpId::convolution, 0).add(Attr::of_ints({1, 1})) ==
        AlgoKey(OpId::convolution, 0).add(Attr::of_ints({1, 1})));
}

TEST_CASE("algo cache makes one plan per key", "[cuda_algo_cache]") {
  AlgoCache<int> cache;
  int made = 0;
  const AlgoKey k1 = AlgoKey(OpId::matmul, 0).add(int64_t(7)), k2 = AlgoKey(OpId::matmul, 0).add(int64_t(8));
  const auto p1 = cache.get(k1, [&] { return ++made; });
  const auto p1_again = cache.get(k1, [&] { return ++made; });
  const auto p2 = cache.get(k2, [&] { return ++made; });
  CHECK(made == 2);
  CHECK(p1.get() == p1_again.get());
  CHECK(*p1 == 1);
  CHECK(*p2 == 2);
  CHECK(cache.size() == 2);
}

TEST_CASE("algo cache racing misses agree on one plan", "[cuda_algo_cache]") {
  AlgoCache<int> cache;
  std::atomic<int> made{0};
  const AlgoKey k = AlgoKey(OpId::convolution, 0).add(int64_t(1));
  std::vector<const int*> seen(8);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < seen.size(); ++t)
    threads.emplace_back([&, t] { seen[t] = cache.get(k, [&] { return ++made; }).get(); });
  for (auto& th : threads) th.join();
  CHECK(made >= 1);
  for (const int* p : seen) CHECK(p == seen[0]);  // every caller uses the inserted plan
  CHECK(cache.size() == 1);
}

// Element (r, c) of row-major X (strides sr, sc) must be element (i, j) of the stored
// column-major matrix at i + j * ld, with (i, j) = (c, r) when not transposed, (r, c) when.
void check_mapping(int64_t R, int64_t C, int64_t sr, int64_t sc) {
  const auto m = lt_matrix(R, C, sr, sc);
  REQUIRE(m.has_value());
  CHECK(m->ld >= std::max<int64_t>(m->rows, 1));
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t i = m->transposed ? r : c, j = m->transposed ? c : r;
      CHECK(i < m->rows);
      CHECK(j < m->cols);
      CHECK(i + j * m->ld == r * sr + c * sc);
    }
}

TEST_CASE("lt_matrix maps row-major operands to cuBLASLt layouts", "[cuda_algo_cache]") {
  check_mapping(3, 5, 5, 1);  // contiguous
  check_mapping(3, 5, 8, 1);  // padded rows (a slice)
  check_mapping(3, 5, 1, 3);  // a transposed view
  check_mapping(3, 5, 1, 7);  // a transposed view of a padded matrix
  check_mapping(1, 5, 0, 1);  // one row, meaningless row stride
  check_mapping(4, 1, 9, 0);  // one column, meaningless column stride
  check_mapping(1, 1, 0, 0);
  CHECK_FALSE(lt_matrix(3, 5, 10, 2).has_value());  // neither dim unit-strided
  CHECK_FALSE(lt_matrix(3, 5, 0, 1).has_value());   // broadcast rows overlap
  CHECK_FALSE(lt_matrix(3, 5, 2, 1).has_value());   // overlapping rows
}

}  // namespace
}  // namespace doppel::cuda
#endif
