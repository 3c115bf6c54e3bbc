// Reference kernel of multinomial. Each row's weights are summed in double; sample s of the
// output draws the uniform u of sorting::multinomial_uniform and takes the first category
// whose running sum exceeds u * total, so a zero-weight category is never drawn. Without
// replacement the drawn category's weight is then removed from the row. The draws depend on
// (seed, offset, s) only: rows run in parallel with the same samples at any thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/sorting_math.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/sorting.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

// The running sums of a row's weights (in category order, in double).
void running_sums(const double* w, int64_t n, std::vector<double>& cdf) {
  double run = 0;
  for (int64_t i = 0; i < n; ++i) cdf[size_t(i)] = run += w[i];
}

// The first category whose running sum exceeds u * total: a zero-weight category repeats its
// predecessor's sum and is never the first. When rounding puts u * total at the total, the
// first category whose sum reaches the total (one of positive weight).
int64_t draw(const std::vector<double>& cdf, double u) {
  const double x = u * cdf.back();
  const auto it = std::upper_bound(cdf.begin(), cdf.end(), x);
  if (it != cdf.end()) return it - cdf.begin();
  return std::lower_bound(cdf.begin(), cdf.end(), cdf.back()) - cdf.begin();
}

void multinomial_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(0));
  const auto a = MultinomialAttrs::of(c.attrs);
  const int64_t n = x.shape().back(), rows = x.numel() / n, m = a.num_samples;
  std::vector<double> w(size_t(x.numel()));
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "multinomial", [&]<typename T>() {
    const T* p = x.data_ptr<T>();
    for (size_t i = 0; i < w.size(); ++i) w[i] = double(compute_t<T>(p[i]));
  });
  for (int64_t r = 0; r < rows; ++r) {
    double total = 0;
    int64_t positive = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = w[size_t(r * n + i)];
      DOPPEL_CHECK(std::isfinite(v) && v >= 0,
                   "multinomial: the weights must be finite and non-negative, got {} at row {}, category {} "
                   "(weights {})",
                   v, r, i, shape_str(x.shape()));
      total += v;
      positive += v > 0;
    }
    DOPPEL_CHECK(total > 0, "multinomial: row {} of the weights {} sums to zero; every row needs a positive weight", r,
                 shape_str(x.shape()));
    DOPPEL_CHECK(a.replacement || positive >= m,
                 "multinomial: row {} of the weights {} has {} categories of positive weight, too few to draw {} "
                 "samples without replacement",
                 r, shape_str(x.shape()), positive, m);
  }
  int64_t* po = out[0].data_ptr<int64_t>();
  const uint64_t seed = uint64_t(a.seed), offset = uint64_t(a.offset);
  parallel_for(0, rows, std::max<int64_t>(1, (int64_t(1) << 14) / (n * (a.replacement ? 1 : m))),
               [&](int64_t b, int64_t e) {
                 for (int64_t r = b; r < e; ++r) {
                   std::vector<double> row(w.begin() + r * n, w.begin() + (r + 1) * n);
                   std::vector<double> cdf(static_cast<size_t>(n));
                   running_sums(row.data(), n, cdf);
                   for (int64_t j = 0; j < m; ++j) {
                     const int64_t s = r * m + j;
                     const int64_t pick = draw(cdf, sorting::multinomial_uniform(seed, offset, s));
                     po[s] = pick;
                     if (a.replacement) continue;
                     row[size_t(pick)] = 0;
                     running_sums(row.data(), n, cdf);
                   }
                 }
               });
}

}  // namespace

void reference_multinomial_kernel() { register_kernel(OpId::multinomial, Backend::Reference, {multinomial_kernel}); }

}  // namespace doppel::registration
