// oneDNN primitives are made for the OpenMP thread count of their caller (oneDNN fixes their work
// split, and the threads they run on, when it makes them): the kernels' primitive cache keeps one
// per thread count (onednn_common.h, KeyBuilder), so after set_num_threads a kernel runs a
// primitive made for the new count, and going back reuses the one made for the old count.
#include <catch2/catch_test_macros.hpp>

#include "cpu/onednn/onednn_common.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/parallel.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

TEST_CASE("oneDNN primitive cache: a primitive per thread count", "[ops][onednn]") {
  const Tensor x = make_input({2, 8, 9, 9}, DType::Float32, 31), w = make_input({16, 8, 3, 3}, DType::Float32, 32);
  const Tensor b = make_input({16}, DType::Float32, 33);
  const int threads = get_num_threads();
  set_num_threads(1);
  const Tensor one = conv2d(x, w, b, {1, 1}, {1, 1});
  CHECK(last_selected_backend() == Backend::OneDNN);
  const size_t made_for_one = onednn::cache_size();
  set_num_threads(2);
  const Tensor two = conv2d(x, w, b, {1, 1}, {1, 1});
  const size_t made_for_two = onednn::cache_size();
  set_num_threads(1);
  const Tensor again = conv2d(x, w, b, {1, 1}, {1, 1});
  const size_t after = onednn::cache_size();
  set_num_threads(threads);
  CHECK(made_for_two > made_for_one);  // new primitives for 2 threads
  CHECK(after == made_for_two);        // 1 thread's reused
  CHECK_FALSE(compare(two, one, Tolerance{1e-5, 1e-5}).has_value());
  CHECK_FALSE(compare(again, one, Tolerance{0, 0}).has_value());
}

}  // namespace
}  // namespace doppel::testing
