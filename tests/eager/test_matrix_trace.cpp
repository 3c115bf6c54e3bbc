// doppel::trace(matrix), torch.trace: the diagonal sum against double loops, its identity-pattern
// gradient, and its overload next to graph capture's doppel::trace(fn, inputs).
#include <cmath>
#include <limits>

#include <catch2/catch_approx.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "doppel/graph/trace.h"
#include "support/gradcheck.h"
#include "support/test_util.h"

namespace doppel::testing {

TEST_CASE("trace sums the main diagonal of square, wide, tall, strided and empty matrices", "[matrix_trace]") {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{4, 4}, {2, 5}, {5, 2}, {1, 7}, {0, 3}, {3, 0}}) {
    const Tensor m = make_input({rows, cols}, DType::Float64, uint64_t(rows * 10 + cols));
    const std::vector<double> v = m.to_vector<double>();
    double want = 0;
    for (int64_t i = 0; i < std::min(rows, cols); ++i) want += v[size_t(i * cols + i)];
    INFO(rows << "x" << cols);
    CHECK(trace(m).dim() == 0);
    CHECK(trace(m).item<double>() == Catch::Approx(want).epsilon(1e-12));
    // The transpose (a strided view) has the same diagonal.
    CHECK(trace(transpose(m, 0, 1)).item<double>() == Catch::Approx(want).epsilon(1e-12));
  }
  // Off-diagonal NaN and inf do not leak into the sum.
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  CHECK(trace(reshape(tensor(std::vector<double>{1, nan, inf, 2}), {2, 2})).item<double>() == 3.0);
  // Integers sum to int64, as in PyTorch.
  const Tensor ints = reshape(tensor(std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}), {3, 3});
  CHECK(trace(ints).dtype() == DType::Int64);
  CHECK(trace(ints).item<int64_t>() == 15);
}

TEST_CASE("trace's gradient is the identity pattern", "[matrix_trace]") {
  Tensor m = make_input({3, 4}, DType::Float64, 5).set_requires_grad(true);
  CHECK(grad({trace(m)}, {m})[0].to_vector<double>() == std::vector<double>{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0});
  auto f = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{trace(in[0])}; };
  const auto r = gradcheck(f, {grad_input(make_input({4, 3}, DType::Float64, 6))});
  INFO(r.value_or(""));
  CHECK(!r);
}

TEST_CASE("trace refuses what is not a matrix and bool, naming itself", "[matrix_trace]") {
  CHECK_THROWS_AS(trace(make_input({3}, DType::Float32, 1)), ShapeError);
  CHECK_THROWS_AS(trace(make_input({2, 2, 2}, DType::Float32, 1)), ShapeError);
  CHECK_THROWS_WITH(trace(make_input({3}, DType::Float32, 1)), Catch::Matchers::ContainsSubstring("trace"));
  CHECK_THROWS_AS(trace(reshape(tensor(std::vector<bool>{true, false, false, true}), {2, 2})), DTypeError);
}

TEST_CASE("trace(matrix) and graph capture's trace(fn, inputs) coexist", "[matrix_trace]") {
  const Tensor m = make_input({3, 3}, DType::Float32, 7);
  const graph::TraceResult captured =
      trace([](const std::vector<Tensor>& in) { return std::vector<Tensor>{trace(in[0])}; }, {m});
  REQUIRE(captured.outputs.size() == 1);
  CHECK(captured.outputs[0].item<float>() == trace(m).item<float>());
}

}  // namespace doppel::testing
