// Prometheus counters of doppel-serve (see metrics.h).
#include "doppel/serve/metrics.h"

#include <fmt/format.h>

namespace doppel::serve {

void Metrics::Histogram::add(double v, std::span<const double> bounds) {
  if (counts.empty()) counts.assign(bounds.size() + 1, 0);
  size_t b = 0;
  while (b < bounds.size() && v > bounds[b]) ++b;
  ++counts[b];
  sum += v;
  ++count;
}

void Metrics::record_request(std::string_view route, int status, double seconds) {
  std::lock_guard lock(mutex_);
  ++requests_[{std::string(route), status}];
  latency_[std::string(route)].add(seconds, kLatencyBuckets);
  if (status >= 500)
    ++errors_["server_error"];
  else if (status >= 400)
    ++errors_["client_error"];
}

void Metrics::record_batch(int64_t size) {
  std::lock_guard lock(mutex_);
  batch_.add(double(size), kBatchBuckets);
}

void Metrics::record_error(std::string_view kind) {
  std::lock_guard lock(mutex_);
  ++errors_[std::string(kind)];
}

void Metrics::connection_opened() {
  std::lock_guard lock(mutex_);
  ++open_connections_;
}

void Metrics::connection_closed() {
  std::lock_guard lock(mutex_);
  --open_connections_;
}

namespace {

void append_histogram(std::string& out, std::string_view name, std::string_view labels, std::span<const double> bounds,
                      const std::vector<uint64_t>& counts, double sum, uint64_t count) {
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t b = 0; b <= bounds.size(); ++b) {
    cumulative += counts.empty() ? 0 : counts[b];
    const std::string le = b < bounds.size() ? fmt::format("{}", bounds[b]) : "+Inf";
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, le, cumulative);
  }
  const std::string braces = labels.empty() ? "" : fmt::format("{{{}}}", labels);
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, sum, name, braces, count);
}

}  // namespace

std::string Metrics::prometheus_text() const {
  std::lock_guard lock(mutex_);
  std::string out;
  out += "# HELP doppel_serve_requests_total Requests answered, by route and HTTP status.\n";
  out += "# TYPE doppel_serve_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out += fmt::format("doppel_serve_requests_total{{route=\"{}\",code=\"{}\"}} {}\n", key.first, key.second, n);
  out += "# HELP doppel_serve_request_duration_seconds Time from a request's first byte to its answer.\n";
  out += "# TYPE doppel_serve_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_)
    append_histogram(out, "doppel_serve_request_duration_seconds", fmt::format("route=\"{}\"", route), kLatencyBuckets,
                     h.counts, h.sum, h.count);
  out += "# HELP doppel_serve_batch_size Requests merged into one model run (dynamic batching).\n";
  out += "# TYPE doppel_serve_batch_size histogram\n";
  append_histogram(out, "doppel_serve_batch_size", "", kBatchBuckets, batch_.counts, batch_.sum, batch_.count);
  out += "# HELP doppel_serve_errors_total Error answers and transport failures, by kind.\n";
  out += "# TYPE doppel_serve_errors_total counter\n";
  for (const auto& [kind, n] : errors_) out += fmt::format("doppel_serve_errors_total{{kind=\"{}\"}} {}\n", kind, n);
  out += "# HELP doppel_serve_open_connections Open client connections.\n";
  out += "# TYPE doppel_serve_open_connections gauge\n";
  out += fmt::format("doppel_serve_open_connections {}\n", open_connections_);
  return out;
}

}  // namespace doppel::serve
