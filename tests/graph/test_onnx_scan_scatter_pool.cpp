// ONNX export of the issue-12 structural ops: the ONNX op each maps to, and the clear refusal
// where opset 17 has none (cumprod, the diagonal and unfold views, non-uniform adaptive windows).
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "doppel/graph/onnx.h"
#include "doppel/graph/trace.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using Catch::Matchers::ContainsSubstring;
using Tensors = std::vector<Tensor>;

std::string export_of(const graph::TracedFunction& fn, const Tensors& in) {
  return onnx::export_onnx_bytes(*trace(fn, in).graph);
}

}  // namespace

TEST_CASE("onnx export: cumsum, flip and scatter map to CumSum, Slice and ScatterElements", "[onnx]") {
  const Tensor x = testing::make_input({3, 4}, DType::Float32, 1);
  const Tensor idx = reshape(tensor(std::vector<int64_t>{1, 0, 2, 1}), {1, 4});
  const std::string bytes = export_of(
      [&](const Tensors& in) {
        return Tensors{cumsum(in[0], 1), flip(in[0], {0, -1}), scatter(in[0], 0, idx, add(in[0], 1.0)),
                       cumsum(in[0].to(DType::Int32), 0)};
      },
      {x});
  CHECK_THAT(bytes, ContainsSubstring("CumSum") && ContainsSubstring("Slice") && ContainsSubstring("ScatterElements"));
}

TEST_CASE("onnx export: max pooling indices map to MaxPool's Indices made per-plane", "[onnx]") {
  const Tensor x = testing::make_input({2, 3, 8, 8}, DType::Float32, 2);
  const std::string bytes = export_of(
      [](const Tensors& in) {
        auto [v, i] = max_pool2d_with_indices(in[0], {2});
        auto [av, ai] = adaptive_max_pool2d_with_indices(in[0], {4, 2});
        return Tensors{v, i, av, ai};
      },
      {x});
  CHECK_THAT(bytes, ContainsSubstring("MaxPool") && ContainsSubstring("Mod"));
}

TEST_CASE("onnx export: ops without an opset-17 equivalent are refused naming the op", "[onnx]") {
  const Tensor x = testing::make_input({2, 3, 7, 7}, DType::Float32, 3);
  CHECK_THROWS_WITH(export_of([](const Tensors& in) { return Tensors{cumprod(in[0], 1)}; }, {x}),
                    ContainsSubstring("does not support cumprod"));
  CHECK_THROWS_WITH(export_of([](const Tensors& in) { return Tensors{diagonal(in[0], 0, 2, 3)}; }, {x}),
                    ContainsSubstring("does not support diagonal"));
  CHECK_THROWS_WITH(export_of([](const Tensors& in) { return Tensors{unfold(in[0], 3, 2, 1)}; }, {x}),
                    ContainsSubstring("does not support unfold"));
  CHECK_THROWS_WITH(export_of([](const Tensors& in) { return Tensors{adaptive_max_pool2d(in[0], {3})}; }, {x}),
                    ContainsSubstring("does not divide"));
}

}  // namespace doppel
