// Specs and value tests of topk, sort, multinomial, tril and triu: orders against a stable-sort
// oracle written here (and PyTorch 1.13's answers, hand-copied), both sides of topk's heap
// threshold, NaN/±Inf/-0.0/denormals, thread-count independence, and multinomial's statistics.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include "doppel/kernels/op_attrs/sorting.h"
#include "support/gradcheck.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kAllDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8,
                                       DType::UInt8,   DType::Int32,   DType::Int64,    DType::Bool};
const std::vector<DType> kFloatDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Attrs topk_attrs(int64_t k, int64_t dim, bool largest = true) {
  return TopkAttrs{.k = k, .dim = dim, .largest = largest, .sorted = true}.pack();
}
Attrs sort_attrs(int64_t dim, bool descending = false) {
  return SortAttrs{.dim = dim, .descending = descending, .stable = false}.pack();
}
Attrs multinomial_attrs(int64_t m, bool replacement) {
  return MultinomialAttrs{.num_samples = m, .replacement = replacement, .seed = 7, .offset = 3}.pack();
}

std::vector<double> values(const Tensor& t) { return t.to(DType::Float64).to_vector<double>(); }
std::vector<int64_t> ints(const Tensor& t) { return t.to_vector<int64_t>(); }

// Integer-valued inputs: many ties, so the tie order is checked on every backend.
Tensor tied(IntList s, DType dt, uint64_t seed) { return make_input(s, dt, seed, -3, 3).to(DType::Int64).to(dt); }

// The oracle: each line along `dim` stably sorted (NaN largest), first k kept, in float64.
struct Oracle {
  std::vector<double> values;
  std::vector<int64_t> indices;
};
Oracle stable_select(const Tensor& x, int64_t dim, int64_t k, bool descending) {
  const Shape s = x.shape();
  const int64_t n = s[size_t(dim)];
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= s[size_t(d)];
  for (int64_t d = dim + 1; d < int64_t(s.size()); ++d) inner *= s[size_t(d)];
  const std::vector<double> v = values(contiguous_of(x));
  Oracle r{std::vector<double>(size_t(outer * k * inner)), std::vector<int64_t>(size_t(outer * k * inner))};
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      std::vector<int64_t> idx(static_cast<size_t>(n));
      std::iota(idx.begin(), idx.end(), 0);
      auto at = [&](int64_t j) { return v[size_t((o * n + j) * inner + i)]; };
      // rank: NaN above +inf; -0.0 == +0.0 under ==.
      auto less = [&](int64_t a, int64_t b) {
        const double va = at(a), vb = at(b);
        if (std::isnan(va) || std::isnan(vb)) return !std::isnan(va) && std::isnan(vb);
        return va < vb;
      };
      std::stable_sort(idx.begin(), idx.end(),
                       [&](int64_t a, int64_t b) { return descending ? less(b, a) : less(a, b); });
      for (int64_t j = 0; j < k; ++j) {
        const size_t p = size_t((o * k + j) * inner + i);
        r.indices[p] = idx[size_t(j)];
        r.values[p] = at(idx[size_t(j)]);
      }
    }
  return r;
}

void check_against_oracle(const ValuesIndices& got, const Tensor& x, int64_t dim, int64_t k, bool descending) {
  const Oracle want = stable_select(x, dim, k, descending);
  CHECK(ints(got.indices) == want.indices);
  const std::vector<double> v = values(got.values);
  REQUIRE(v.size() == want.values.size());
  for (size_t j = 0; j < v.size(); ++j) {
    INFO("element " << j);
    CHECK((std::isnan(v[j]) ? std::isnan(want.values[j]) : v[j] == want.values[j]));
  }
}

std::vector<Sample> select_samples(DType dt, bool topk) {
  auto attrs = [&](int64_t k, int64_t dim, bool flag) {
    return topk ? topk_attrs(k, dim, flag) : sort_attrs(dim, flag);
  };
  return {{"last dim", {make_input({3, 40}, dt, 1)}, attrs(5, -1, true)},
          {"heap path", {make_input({2, 96}, dt, 2)}, attrs(6, 1, false)},
          {"selection path", {make_input({2, 96}, dt, 3)}, attrs(7, 1, true)},
          {"middle dim", {make_input({2, 9, 3}, dt, 4)}, attrs(9, 1, false)},
          // Over 200 elements: gradcheck skips them (finite differences are undefined at ties).
          {"ties", {tied({4, 51}, dt, 5)}, attrs(3, 1, true)},
          {"ties dim 0", {tied({51, 4}, dt, 6)}, attrs(51, 0, false)},
          {"k = 0", {make_input({3, 4}, dt, 7)}, attrs(0, 1, true)},
          {"0-d", {make_input({}, dt, 8)}, attrs(1, 0, true)},
          {"empty", {make_input({0, 5}, dt, 9)}, attrs(2, 1, true)},
          {"large", {make_input({4, 3000}, dt, 10)}, attrs(50, 1, true)}};
}

}  // namespace

DOPPEL_OP_SPEC(topk_spec) {
  return OpSpec{.op = OpId::topk,
                .dtypes = kAllDTypes,
                .samples = [](DType dt) { return select_samples(dt, true); },
                .errors =
                    [] {
                      const Tensor x = make_input({2, 3}, DType::Float32, 1);
                      return std::vector<ErrorSample>{
                          {"k > size", {x}, topk_attrs(4, 1), ErrorKind::Index, "topk"},
                          {"k < 0", {x}, topk_attrs(-1, 1), ErrorKind::Index, "topk"},
                          {"dim out of range", {x}, topk_attrs(1, 2), ErrorKind::Index, "topk"}};
                    },
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(sort_spec) {
  return OpSpec{.op = OpId::sort,
                .dtypes = kAllDTypes,
                .samples = [](DType dt) { return select_samples(dt, false); },
                .errors =
                    [] {
                      return std::vector<ErrorSample>{{"dim out of range",
                                                       {make_input({2, 3}, DType::Float32, 1)},
                                                       sort_attrs(-3),
                                                       ErrorKind::Index,
                                                       "sort"}};
                    },
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(multinomial_spec) {
  return OpSpec{
      .op = OpId::multinomial,
      .dtypes = kFloatDTypes,
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
                {"1-d with replacement", {make_input({10}, dt, 1, 0.1, 1)}, multinomial_attrs(20, true)},
                {"2-d without replacement", {make_input({3, 12}, dt, 2, 0.1, 1)}, multinomial_attrs(12, false)},
                {"2-d one sample", {make_input({4, 300}, dt, 3, 0, 1)}, multinomial_attrs(1, false)},
                {"no rows", {make_input({0, 5}, dt, 4, 0.1, 1)}, multinomial_attrs(2, true)}};
          },
      .errors =
          [] {
            const Tensor w = make_input({2, 3}, DType::Float32, 1, 0.1, 1);
            auto with = [&](double v) { return reshape(tensor(std::vector<float>{1, float(v), 1}), {1, 3}); };
            return std::vector<ErrorSample>{
                {"3-d", {reshape(w, {1, 2, 3})}, multinomial_attrs(1, true), ErrorKind::Shape, "multinomial"},
                {"0-d",
                 {make_input({}, DType::Float32, 1, 0.1, 1)},
                 multinomial_attrs(1, true),
                 ErrorKind::Shape,
                 "multinomial"},
                {"integer weights", {w.to(DType::Int64)}, multinomial_attrs(1, true), ErrorKind::DType, "multinomial"},
                {"no samples", {w}, multinomial_attrs(0, true), ErrorKind::Value, "num_samples"},
                {"more samples than categories", {w}, multinomial_attrs(4, false), ErrorKind::Value, "replacement"},
                {"negative weight", {with(-1)}, multinomial_attrs(1, true), ErrorKind::Value, "non-negative"},
                {"infinite weight", {with(kInf)}, multinomial_attrs(1, true), ErrorKind::Value, "finite"},
                {"NaN weight", {with(kNaN)}, multinomial_attrs(1, true), ErrorKind::Value, "finite"},
                {"zero row", {zeros({2, 3})}, multinomial_attrs(1, true), ErrorKind::Value, "sums to zero"},
                {"too few positive categories",
                 {reshape(tensor(std::vector<float>{1, 0, 0}), {1, 3})},
                 multinomial_attrs(2, false),
                 ErrorKind::Value,
                 "too few"}};
          }};
}

std::vector<Sample> triangle_samples(DType dt) {
  auto a = [](int64_t d) { return TriangleAttrs{.diagonal = d}.pack(); };
  return {{"square", {make_input({4, 4}, dt, 1)}, a(0)},        {"wide, below", {make_input({3, 5}, dt, 2)}, a(-1)},
          {"tall, above", {make_input({5, 3}, dt, 3)}, a(2)},   {"batched", {make_input({2, 3, 4, 4}, dt, 4)}, a(1)},
          {"far diagonal", {make_input({3, 4}, dt, 5)}, a(-7)}, {"empty", {make_input({2, 0, 3}, dt, 6)}, a(0)},
          {"large", {make_input({2, 130, 130}, dt, 7)}, a(3)}};
}

std::vector<ErrorSample> triangle_errors(const char* name) {
  return {{"1-d", {make_input({3}, DType::Float32, 1)}, TriangleAttrs{.diagonal = 0}.pack(), ErrorKind::Shape, name}};
}

DOPPEL_OP_SPEC(tril_spec) {
  return OpSpec{.op = OpId::tril,
                .dtypes = kAllDTypes,
                .samples = triangle_samples,
                .errors = [] { return triangle_errors("tril"); },
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(triu_spec) {
  return OpSpec{.op = OpId::triu,
                .dtypes = kAllDTypes,
                .samples = triangle_samples,
                .errors = [] { return triangle_errors("triu"); },
                .gradgradcheck = true};
}

TEST_CASE("sort/topk: NaN, infinities and signed zeros in PyTorch 1.13's order", "[sorting]") {
  // torch.tensor([1, 3, 3, 2, 3, nan, -0.0, 0.0, nan, -inf, inf]).sort() and friends; the ties
  // (the 3s, the NaNs, the zeros) come lower index first.
  const Tensor x =
      tensor(std::vector<float>{1, 3, 3, 2, 3, float(kNaN), -0.0f, 0.0f, float(kNaN), float(-kInf), float(kInf)});
  CHECK(ints(sort(x).indices) == std::vector<int64_t>{9, 6, 7, 0, 3, 1, 2, 4, 10, 5, 8});
  CHECK(ints(sort(x, 0, true).indices) == std::vector<int64_t>{5, 8, 10, 1, 2, 4, 3, 0, 6, 7, 9});
  CHECK(ints(topk(x, 4).indices) == std::vector<int64_t>{5, 8, 10, 1});
  CHECK(ints(topk(x, 3, 0, false).indices) == std::vector<int64_t>{9, 6, 7});
  // The values are the input's elements: -0.0 keeps its sign.
  const std::vector<float> v = sort(x).values.to_vector<float>();
  CHECK(std::signbit(v[1]));
  CHECK(!std::signbit(v[2]));
  CHECK(std::isnan(v[9]));
  // Denormals order as numbers, below the smallest normal.
  const float den = std::numeric_limits<float>::denorm_min(), tiny = std::numeric_limits<float>::min();
  CHECK(ints(argsort(tensor(std::vector<float>{tiny, den, 0, -den}))) == std::vector<int64_t>{3, 2, 1, 0});
}

TEST_CASE("topk: both sides of the heap threshold against a stable-sort oracle", "[sorting]") {
  // n = 64: k = 4 scans with the heap (4 * 16 <= 64), k = 5 selects with nth_element.
  for (const DType dt : {DType::Float32, DType::Float64, DType::BFloat16, DType::Int32}) {
    for (const int64_t k : {1, 4, 5, 63, 64}) {
      for (const bool largest : {true, false}) {
        INFO(dtype_name(dt) << " k " << k << " largest " << largest);
        Tensor x = tied({3, 64}, dt, uint64_t(k));
        if (is_floating(dt)) x = masked_fill(x, eq(tied({3, 64}, DType::Int32, 99), 2), kNaN);
        check_against_oracle(topk(x, k, 1, largest), x, 1, k, largest);
        const Tensor xt = contiguous_of(transpose(x, 0, 1));  // the same lines along dim 0
        check_against_oracle(topk(xt, k, 0, largest), xt, 0, k, largest);
        check_against_oracle(topk(transpose(xt, 0, 1), k, 1, largest), x, 1, k, largest);
      }
    }
  }
}

TEST_CASE("sort: integers, bool, stable flag, middle dims and strided input against the oracle", "[sorting]") {
  for (const DType dt : {DType::Int8, DType::UInt8, DType::Int64, DType::Bool, DType::Float16}) {
    for (const bool desc : {false, true}) {
      INFO(dtype_name(dt) << " descending " << desc);
      const Tensor x =
          dt == DType::Bool ? gt(make_input({3, 17, 2}, DType::Float32, 4, -1, 1), 0.0) : tied({3, 17, 2}, dt, 4);
      check_against_oracle(sort(x, 1, desc), x, 1, 17, desc);
      check_against_oracle(sort(x, 1, desc, /*stable=*/true), x, 1, 17, desc);
      CHECK(ints(argsort(x, -1, desc)) == ints(sort(x, 2, desc).indices));
    }
  }
  const Tensor empty = make_input({0, 3}, DType::Float32, 1);
  CHECK(sort(empty, 0).values.shape() == Shape{0, 3});
  CHECK(topk(make_input({2, 0}, DType::Float32, 1), 0).indices.shape() == Shape{2, 0});
  const Tensor zero_d = scalar(5.0f);
  CHECK(topk(zero_d, 1).indices.dim() == 0);
  // k = 0 of a 0-d input gives the element itself, as PyTorch 1.13.
  CHECK(values(topk(zero_d, 0).values) == std::vector<double>{5});
}

TEST_CASE("topk/sort: the same answer on 1 and 2 threads for the generation shape", "[sorting]") {
  const int threads = get_num_threads();
  const Tensor logits = make_input({8, 50257}, DType::Float32, 11);
  set_num_threads(1);
  const ValuesIndices t1 = topk(logits, 50), s1 = sort(logits, -1, true);
  set_num_threads(2);
  const ValuesIndices t2 = topk(logits, 50), s2 = sort(logits, -1, true);
  set_num_threads(threads);
  CHECK(ints(t1.indices) == ints(t2.indices));
  CHECK(ints(s1.indices) == ints(s2.indices));
  check_against_oracle(t1, logits, 1, 50, true);
  CHECK(ints(slice(s1.indices, 1, 0, 50)) == ints(t1.indices));
}

TEST_CASE("topk/sort gradients: the values' gradient lands on the picked positions", "[sorting][autograd]") {
  const Tensor x = tensor(std::vector<double>{0.5, 4, -1, 3, 2}).set_requires_grad(true);
  const ValuesIndices t = topk(x, 2);
  const Tensor w = tensor(std::vector<double>{10, 100});
  CHECK(grad({sum(mul(t.values, w))}, {x})[0].to_vector<double>() == std::vector<double>{0, 10, 0, 100, 0});
  const ValuesIndices s = sort(x, 0, true);
  const Tensor ws = tensor(std::vector<double>{1, 2, 3, 4, 5});
  // Sorted descending: 4 (idx 1), 3 (3), 2 (4), 0.5 (0), -1 (2).
  CHECK(grad({sum(mul(s.values, ws))}, {x})[0].to_vector<double>() == std::vector<double>{4, 1, 5, 2, 3});
}

TEST_CASE("tril/triu: values against a double loop, in place, bool, and the gradient mask", "[sorting]") {
  const Tensor x = make_input({2, 4, 5}, DType::Float64, 3);
  const std::vector<double> v = values(x);
  for (const int64_t d : {-2, 0, 1, 6}) {
    std::vector<double> lo(v.size()), up(v.size());
    for (size_t q = 0; q < v.size(); ++q) {
      const int64_t r = int64_t(q / 5) % 4, c = int64_t(q % 5);
      lo[q] = c - r <= d ? v[q] : 0;
      up[q] = c - r >= d ? v[q] : 0;
    }
    CHECK(values(tril(x, d)) == lo);
    CHECK(values(triu(x, d)) == up);
    Tensor y = x.clone();
    tril_(y, d);
    CHECK(values(y) == lo);
  }
  CHECK(ints(tril(ones({3, 3}, {.dtype = DType::Bool})).to(DType::Int64)) ==
        std::vector<int64_t>{1, 0, 0, 1, 1, 0, 1, 1, 1});
  const Tensor p = ones({3, 3}, {.dtype = DType::Float64}).set_requires_grad(true);
  CHECK(values(grad({sum(triu(p, 1))}, {p})[0]) == std::vector<double>{0, 1, 1, 0, 0, 1, 0, 0, 0});
}

TEST_CASE("multinomial: chi-square goodness of fit with replacement", "[sorting][random]") {
  const std::vector<double> w = {1, 2, 3, 4, 0, 10};
  Generator g(2024);
  const int64_t n = 60000;
  const std::vector<int64_t> s = ints(multinomial(tensor(w), n, true, &g));
  std::vector<double> count(w.size());
  for (int64_t c : s) count[size_t(c)] += 1;
  CHECK(count[4] == 0);  // the zero-weight category
  double chi2 = 0;
  for (size_t c = 0; c < w.size(); ++c) {
    if (w[c] == 0) continue;
    const double e = double(n) * w[c] / 20;
    chi2 += (count[c] - e) * (count[c] - e) / e;
  }
  // 4 degrees of freedom: P(chi2 > 18.47) = 0.001.
  CHECK(chi2 < 18.47);
}

TEST_CASE("multinomial: without replacement no repeats, first draws follow the weights", "[sorting][random]") {
  Generator g(5);
  const Tensor w = reshape(tensor(std::vector<float>{1, 0, 2, 3, 0, 4, 1, 0, 0, 1, 1, 1}), {2, 6});
  const Tensor s = multinomial(w, 4, false, &g);
  CHECK(s.shape() == Shape{2, 4});
  const std::vector<int64_t> v = ints(s);
  for (int r = 0; r < 2; ++r) {
    const std::set<int64_t> row(v.begin() + 4 * r, v.begin() + 4 * r + 4);
    CHECK(row.size() == 4);
    for (int64_t c : row) CHECK(w.to(DType::Float64).to_vector<double>()[size_t(r * 6 + c)] > 0);
  }
  // All 4 of 4 positive categories drawn: every permutation is the full set.
  const Tensor one = reshape(tensor(std::vector<float>{0, 1, 1, 0, 1, 1}), {1, 6});
  const std::vector<int64_t> all = ints(multinomial(one, 4, false, &g));
  CHECK(std::set<int64_t>(all.begin(), all.end()) == std::set<int64_t>{1, 2, 4, 5});
  // The first draw of 20000 rows [1, 3]: category 1 with probability 3/4 (binomial, 5 sigma).
  const Tensor rows = expand(reshape(tensor(std::vector<double>{1, 3}), {1, 2}), {20000, 2});
  const std::vector<int64_t> first = ints(multinomial(rows, 2, false, &g));
  double ones_first = 0;
  for (size_t r = 0; r < first.size(); r += 2) ones_first += first[r] == 1;
  CHECK(std::abs(ones_first - 15000) < 5 * std::sqrt(20000 * 0.75 * 0.25));
}

TEST_CASE("multinomial: a seed gives the same draws at any thread count, the generator advances", "[sorting][random]") {
  const Tensor w = make_input({64, 100}, DType::Float32, 8, 0, 1);
  const int threads = get_num_threads();
  set_num_threads(1);
  Generator g1(42);
  const std::vector<int64_t> a = ints(multinomial(w, 7, false, &g1));
  const std::vector<int64_t> a2 = ints(multinomial(w, 7, false, &g1));
  set_num_threads(2);
  Generator g2(42);
  const std::vector<int64_t> b = ints(multinomial(w, 7, false, &g2));
  set_num_threads(threads);
  CHECK(a == b);
  CHECK(a != a2);
  manual_seed(3);
  const std::vector<int64_t> c = ints(multinomial(w, 3, true));
  manual_seed(3);
  CHECK(ints(multinomial(w, 3, true)) == c);
}

}  // namespace doppel::testing
