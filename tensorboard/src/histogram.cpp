// add_histogram's summary: numpy.histogram of the values over the bins, then PyTorch's
// make_histogram (merge to max_bins, keep the support plus one empty bin on the left, since
// TensorBoard reads only the right edges).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "doppel/core/error.h"
#include "summaries.h"

namespace doppel::tensorboard::detail {

namespace {

// PyTorch's SummaryWriter.default_bins: -1e20..-1e-12, 0, 1e-12..1e20 growing by 1.1.
const std::vector<double>& tensorflow_bins() {
  static const std::vector<double> edges = [] {
    std::vector<double> pos;
    for (double v = 1e-12; v < 1e20; v *= 1.1) pos.push_back(v);
    std::vector<double> e;
    for (auto it = pos.rbegin(); it != pos.rend(); ++it) e.push_back(-*it);
    e.push_back(0);
    e.insert(e.end(), pos.begin(), pos.end());
    return e;
  }();
  return edges;
}

// numpy.histogram's edges for `bins` over `v`.
std::vector<double> bin_edges(const std::vector<double>& v, const Bins& bins) {
  if (std::holds_alternative<TensorFlowBins>(bins)) return tensorflow_bins();
  if (const auto* edges = std::get_if<std::vector<double>>(&bins)) {
    if (edges->size() < 2)
      throw ValueError(fmt::format("add_histogram: bins as edges needs at least 2 edges, got {}", edges->size()));
    if (!std::is_sorted(edges->begin(), edges->end()))
      throw ValueError("add_histogram: bins must increase monotonically, when an array of edges");
    return *edges;
  }
  const int64_t n = std::get<int64_t>(bins);
  if (n < 1) throw ValueError(fmt::format("add_histogram: bins must be a positive number of bins, got {}", n));
  auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  double first = *lo, last = *hi;
  if (std::any_of(v.begin(), v.end(), [](double x) { return std::isnan(x); }) || !std::isfinite(first) ||
      !std::isfinite(last))
    throw ValueError(
        fmt::format("add_histogram: the values' range is not finite (NaN or infinity among them); pass bins as edges"));
  if (first == last) {
    first -= 0.5;
    last += 0.5;
  }
  std::vector<double> e(size_t(n) + 1);
  const double step = (last - first) / double(n);
  for (int64_t i = 0; i < n; ++i) e[size_t(i)] = double(i) * step + first;  // numpy.linspace
  e.back() = last;
  return e;
}

}  // namespace

tbp::Summary histogram_summary(const std::string& tag, const Tensor& values, const Bins& bins,
                               std::optional<int64_t> max_bins) {
  if (values.numel() == 0)
    throw ValueError(
        fmt::format("add_histogram('{}'): the input has no element (shape {})", tag, shape_str(values.shape())));
  if (max_bins && *max_bins < 1)
    throw ValueError(fmt::format("add_histogram('{}'): max_bins must be positive, got {}", tag, *max_bins));
  const Tensor flat = values.detach().to(kCPU, DType::Float64).contiguous();
  const double* p = flat.data_ptr<double>();
  const std::vector<double> v(p, p + flat.numel());

  std::vector<double> limits = bin_edges(v, bins);
  const size_t nbins = limits.size() - 1;
  std::vector<double> counts(nbins, 0.0);
  for (const double x : v) {
    if (!(x >= limits.front() && x <= limits.back())) continue;  // NaN and outside: not counted
    const size_t i = size_t(std::upper_bound(limits.begin(), limits.end(), x) - limits.begin());
    ++counts[std::min(i, nbins) - 1];  // the last bin includes its right edge
  }
  if (max_bins && counts.size() > size_t(*max_bins)) {
    const size_t sub = counts.size() / size_t(*max_bins);
    std::vector<double> merged((counts.size() + sub - 1) / sub, 0.0), merged_limits;
    for (size_t i = 0; i < counts.size(); ++i) merged[i / sub] += counts[i];
    for (size_t i = 0; i + 1 < limits.size(); i += sub) merged_limits.push_back(limits[i]);
    merged_limits.push_back(limits.back());
    counts = std::move(merged);
    limits = std::move(merged_limits);
  }
  // The support [start, end) of the counts; the bin left of it (or an empty one) is kept too.
  size_t start = 0;
  while (start < counts.size() && counts[start] == 0) ++start;
  if (start == counts.size())
    throw ValueError(fmt::format("add_histogram('{}'): no value falls into the bins (from {} to {})", tag,
                                 limits.front(), limits.back()));
  size_t end = counts.size();
  while (counts[end - 1] == 0) --end;

  tbp::Summary s;
  tbp::Summary::Value* sv = s.add_value();
  sv->set_tag(tag);
  tbp::HistogramProto* h = sv->mutable_histo();
  double sum = 0, sum_squares = 0;
  for (const double x : v) {
    sum += x;
    sum_squares += x * x;
  }
  const bool has_nan = std::any_of(v.begin(), v.end(), [](double x) { return std::isnan(x); });
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  h->set_min(has_nan ? std::nan("") : *lo);  // numpy's min and max propagate NaN
  h->set_max(has_nan ? std::nan("") : *hi);
  h->set_num(double(v.size()));
  h->set_sum(sum);
  h->set_sum_squares(sum_squares);
  if (start == 0) h->add_bucket(0);
  for (size_t i = start == 0 ? 0 : start - 1; i < end; ++i) h->add_bucket(counts[i]);
  for (size_t i = start; i <= end; ++i) h->add_bucket_limit(limits[i]);
  return s;
}

}  // namespace doppel::tensorboard::detail
