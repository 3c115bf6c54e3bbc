// Writes whose input overlaps the written-to tensor (issue 12, item 4): PyTorch refuses a partial
// overlap ("some elements of the input tensor and the written-to tensor refer to a single memory
// location") and a write into an expanded tensor; an input that is exactly the output
// (`z.add_(z)`) stays allowed. Expected values are computed here by hand.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "doppel/doppel.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

using Catch::Matchers::ContainsSubstring;

std::vector<double> iota(int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = double(i);
  return v;
}

// Both sides of the oneDNN threshold (contiguous float32 with >= 4096 elements).
constexpr int64_t kSides[] = {3, 80};

}  // namespace

TEST_CASE("in-place: a partially overlapping input is refused, naming the call", "[inplace_overlap]") {
  for (const int64_t n : kSides) {
    CAPTURE(n);
    const Tensor z = tensor(iota(n * n), {n, n}).to(DType::Float32);
    const std::string msg = error_message<ValueError>([&] { add_(z, z.t()); });
    CHECK_THAT(msg, ContainsSubstring("add_: unsupported operation: some elements of input 1") &&
                        ContainsSubstring("refer to a single memory location") && ContainsSubstring("clone()"));
    CHECK(z.to_vector<double>() == iota(n * n));  // refused before anything was written
    const Tensor x = tensor(iota(n * n)).to(DType::Float32);
    CHECK_THROWS_AS(add_(x.slice(0, 1, n * n), x.slice(0, 0, n * n - 1)), ValueError);
    CHECK_THROWS_AS(mul_(x.slice(0, 0, n * n - 1), x.slice(0, 1, n * n)), ValueError);
    CHECK_THAT(error_message<ValueError>([&] { copy_(x.slice(0, 1, n * n), x.slice(0, 0, n * n - 1)); }),
               ContainsSubstring("copy_: unsupported operation"));
    // A broadcast row of the tensor being written (row 0 would be read after it was overwritten).
    CHECK_THROWS_AS(mul_(z, z.select(0, 0)), ValueError);
    // Windows that share columns: x[:, :-1] += x[:, 1:].
    CHECK_THROWS_AS(add_(z.slice(1, 0, n - 1), z.slice(1, 1, n)), ValueError);
    CHECK(z.to_vector<double>() == iota(n * n));
    CHECK(x.to_vector<double>() == iota(n * n));
  }
}

TEST_CASE("in-place: writing into an expanded tensor is refused", "[inplace_overlap]") {
  const Tensor row = tensor(std::vector<float>{1, 2, 3});
  const Tensor wide = row.expand({4, 3});
  CHECK_THAT(error_message<ValueError>([&] { add_(wide, 1.0); }),
             ContainsSubstring("add_: unsupported operation: more than one element of the written-to tensor") &&
                 ContainsSubstring("clone()"));
  CHECK_THROWS_AS(copy_(wide, ones({4, 3})), ValueError);
  // Overlapping windows with no zero stride: element k + j at [k, j].
  const Tensor base = tensor(iota(6)).to(DType::Float32);
  CHECK_THROWS_AS(neg_(make_view(base, {5, 2}, {1, 1}, 0)), ValueError);
  CHECK(row.to_vector<float>() == std::vector<float>{1, 2, 3});
  CHECK(base.to_vector<double>() == iota(6));
}

TEST_CASE("in-place: full and disjoint sharing stay allowed", "[inplace_overlap]") {
  for (const int64_t n : kSides) {
    CAPTURE(n);
    const std::vector<double> v = iota(n * n);
    const Tensor z = tensor(v, {n, n}).to(DType::Float32);
    add_(z, z);
    mul_(z, z);
    std::vector<double> want(v.size());
    for (size_t i = 0; i < v.size(); ++i) want[i] = double(float(2 * v[i]) * float(2 * v[i]));  // in float32
    CHECK(z.to_vector<double>() == want);
    // The same elements through another view object.
    const Tensor flat = tensor(v).to(DType::Float64);
    sub_(flat, reshape(flat, {n, n}).reshape({n * n}));
    CHECK(flat.to_vector<double>() == std::vector<double>(v.size(), 0.0));
    // Interleaved but disjoint: even columns += odd columns.
    const Tensor w = tensor(v, {n, n}).to(DType::Float32);
    const Tensor even = make_view(w, {n, n / 2}, {n, 2}, 0), odd = make_view(w, {n, n / 2}, {n, 2}, 1);
    add_(even, odd);
    std::vector<double> expect = v;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c + 1 < n; c += 2) expect[size_t(r * n + c)] += v[size_t(r * n + c + 1)];
    CHECK(w.to_vector<double>() == expect);
    // Disjoint halves.
    const Tensor h = tensor(v).to(DType::Float32);
    const int64_t half = n * n / 2;
    add_(h.slice(0, 0, half), h.slice(0, half, 2 * half));
    CHECK(h.to_vector<double>()[0] == v[0] + v[size_t(half)]);
  }
  // Strides that do not nest yet name distinct elements (offsets 3i + 2j: 0, 2, 4, 3, 5, 7).
  const Tensor base = tensor(iota(8)).to(DType::Float32);
  neg_(make_view(base, {2, 3}, {3, 2}, 0));
  CHECK(base.to_vector<double>() == std::vector<double>{-0.0, 1, -2, -3, -4, -5, 6, -7});
}

}  // namespace doppel::testing
