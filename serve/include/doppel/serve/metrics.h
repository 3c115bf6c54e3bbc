#pragma once
// doppel-serve's counters, exported at GET /metrics in the Prometheus text format (0.0.4):
//
//   doppel_serve_requests_total{route,code}            requests answered, by route and status
//   doppel_serve_request_duration_seconds{route}       histogram: first byte read -> answer queued
//   doppel_serve_batch_size                            histogram: requests merged per model run
//   doppel_serve_errors_total{kind}                    client_error / server_error answers and
//                                                      transport failures (malformed_request,
//                                                      body_too_large, ..., timeout, connection_refused)
//   doppel_serve_open_connections                      gauge
//
// Thread-safe; every record_* is one short critical section.
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace doppel::serve {

class Metrics {
 public:
  void record_request(std::string_view route, int status, double seconds);
  void record_batch(int64_t size);
  void record_error(std::string_view kind);
  void connection_opened();
  void connection_closed();

  std::string prometheus_text() const;

  // Upper bounds of the histograms' buckets (+Inf is implied).
  static constexpr std::array<double, 14> kLatencyBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  static constexpr std::array<double, 11> kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

 private:
  struct Histogram {
    std::vector<uint64_t> counts;  // per bucket (not cumulative), the last one +Inf
    double sum = 0;
    uint64_t count = 0;
    void add(double v, std::span<const double> bounds);
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  Histogram batch_;
  std::map<std::string, uint64_t> errors_;
  int64_t open_connections_ = 0;
};

}  // namespace doppel::serve
