// PyTorch's key_averages().table(): one row per event name, sorted, with self and total times.
#include <fmt/format.h>

#include <algorithm>

#include "doppel/core/error.h"
#include "doppel/profiler.h"

namespace doppel::profiler {

namespace {

// PyTorch's time format: "1.234s", "12.345ms", "123.456us".
std::string time_str(double ns) {
  if (ns >= 1e9) return fmt::format("{:.3f}s", ns / 1e9);
  if (ns >= 1e6) return fmt::format("{:.3f}ms", ns / 1e6);
  return fmt::format("{:.3f}us", ns / 1e3);
}

std::string percent(double part, double whole) {
  return fmt::format("{:.2f}%", whole > 0 ? 100.0 * part / whole : 0.0);
}

}  // namespace

int64_t KeyAverages::self_ns_total() const {
  int64_t total = 0;
  for (const KeyAverage& r : rows_) total += r.self_ns;
  return total;
}

std::string KeyAverages::table(std::string_view sort_by, int row_limit) const {
  using Key = double (*)(const KeyAverage&);
  static constexpr std::pair<std::string_view, Key> kKeys[] = {
      {"self_cpu_time_total", [](const KeyAverage& r) { return double(r.self_ns); }},
      {"cpu_time_total", [](const KeyAverage& r) { return double(r.total_ns); }},
      {"cpu_time", [](const KeyAverage& r) { return r.avg_ns(); }},
      {"count", [](const KeyAverage& r) { return double(r.calls); }},
      {"flops", [](const KeyAverage& r) { return double(r.flops); }},
  };
  const auto* key = std::find_if(std::begin(kKeys), std::end(kKeys), [&](const auto& k) { return k.first == sort_by; });
  DOPPEL_CHECK(key != std::end(kKeys),
               "key_averages().table: unknown sort_by '{}'; use self_cpu_time_total, cpu_time_total, cpu_time, "
               "count or flops",
               sort_by);
  std::vector<KeyAverage> rows = rows_;
  std::stable_sort(rows.begin(), rows.end(),
                   [&](const KeyAverage& a, const KeyAverage& b) { return key->second(a) > key->second(b); });
  if (row_limit >= 0 && size_t(row_limit) < rows.size()) rows.resize(size_t(row_limit));
  const double self_total = double(self_ns_total());
  size_t name_w = 4;
  for (const KeyAverage& r : rows) name_w = std::max(name_w, std::min<size_t>(r.name.size(), 60));
  std::string rule(name_w, '-');
  for (int c = 0; c < 7; ++c) rule += "  " + std::string(12, '-');
  std::string out = rule + "\n";
  out += fmt::format("{:>{}}  {:>12}  {:>12}  {:>12}  {:>12}  {:>12}  {:>12}  {:>12}\n", "Name", name_w, "Self CPU %",
                     "Self CPU", "CPU total %", "CPU total", "CPU time avg", "# of Calls", "Total MFLOPs");
  out += rule + "\n";
  for (const KeyAverage& r : rows) {
    const std::string name = r.name.size() > 60 ? r.name.substr(0, 57) + "..." : r.name;
    out += fmt::format("{:>{}}  {:>12}  {:>12}  {:>12}  {:>12}  {:>12}  {:>12}  {:>12}\n", name, name_w,
                       percent(double(r.self_ns), self_total), time_str(double(r.self_ns)),
                       percent(double(r.total_ns), self_total), time_str(double(r.total_ns)), time_str(r.avg_ns()),
                       r.calls, r.flops ? fmt::format("{:.3f}", double(r.flops) / 1e6) : "--");
  }
  out += rule + "\n";
  out += fmt::format("Self CPU time total: {}\n", time_str(self_total));
  return out;
}

}  // namespace doppel::profiler
