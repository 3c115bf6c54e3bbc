#pragma once
// Timing, argument parsing and JSON-line output shared by doppel_bench and the libtorch peer
// (bench/peer/torch_bench.cpp). Header-only and C++17 with no doppel or torch includes: the two
// programs must stay separate binaries (their oneDNN copies export the same C symbols; see
// bench/peer/README.md), so whatever they share has to be compiled into each.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// This process's CPU time in milliseconds (all its threads).
inline double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

// The upper median of v.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Command line shared by both programs:  PROG BENCH THREADS REPS
// BENCH is one of kBenchNames; `PROG list` prints them.
struct Args {
  std::string bench;
  int threads = 1;
  int reps = 15;
};

inline const std::vector<std::string>& bench_names() {
  static const std::vector<std::string> names = {"add_8",
                                                 "matmul_8x8",
                                                 "sgemm_256",
                                                 "sgemm_1024",
                                                 "sgemm_2048",
                                                 "train_mlp_64_sgd",
                                                 "train_mlp_64_adam",
                                                 "train_mlp_256_sgd",
                                                 "train_mlp_256_adam",
                                                 "train_cnn_64_sgd",
                                                 "train_cnn_64_adam",
                                                 "train_cnn_256_sgd",
                                                 "train_cnn_256_adam",
                                                 "graph_train_mlp_64_sgd",
                                                 "graph_train_mlp_64_adam",
                                                 "graph_train_mlp_256_sgd",
                                                 "graph_train_mlp_256_adam",
                                                 "graph_train_cnn_64_sgd",
                                                 "graph_train_cnn_64_adam",
                                                 "graph_train_cnn_256_sgd",
                                                 "graph_train_cnn_256_adam",
                                                 "graph_infer_mlp_64",
                                                 "graph_infer_mlp_256",
                                                 "graph_infer_cnn_1",
                                                 "graph_infer_cnn_64",
                                                 "graph_infer_cnn_256",
                                                 "graph_chain_200",
                                                 "graph_mem_mlp_64_adam",
                                                 "graph_mem_cnn_64_adam",
                                                 "graph_train_mlp_64_sgd_ingraph",
                                                 "graph_train_mlp_64_adam_ingraph",
                                                 "graph_train_cnn_64_sgd_ingraph",
                                                 "graph_train_cnn_64_adam_ingraph",
                                                 "graph_train_mlp_64_sgdfused",
                                                 "graph_train_mlp_64_adamfused",
                                                 "graph_train_cnn_64_sgdfused",
                                                 "graph_train_cnn_64_adamfused",
                                                 "graph_mem_mlp_64_sgd",
                                                 "graph_mem_cnn_64_sgd",
                                                 "graph_mem_mlp_64_sgdfused",
                                                 "graph_mem_mlp_64_adamfused",
                                                 "graph_mem_cnn_64_sgdfused",
                                                 "graph_mem_cnn_64_adamfused",
                                                 "graph_mem_mlp_64_sgd_ingraph",
                                                 "graph_mem_mlp_64_adam_ingraph",
                                                 "graph_mem_cnn_64_sgd_ingraph",
                                                 "graph_mem_cnn_64_adam_ingraph",
                                                 "graph_mem_mlp_64_sgdfused_ingraph",
                                                 "graph_mem_cnn_64_sgdfused_ingraph",
                                                 "graph_rss_mlp_64_sgd",
                                                 "graph_rss_mlp_64_adam",
                                                 "graph_rss_cnn_64_sgd",
                                                 "graph_rss_cnn_64_adam",
                                                 "graph_rss_mlp_64_sgd_ingraph",
                                                 "graph_rss_mlp_64_adam_ingraph",
                                                 "graph_rss_cnn_64_sgd_ingraph",
                                                 "graph_rss_cnn_64_adam_ingraph",
                                                 "graph_profile_mlp_64_sgd",
                                                 "graph_profile_mlp_64_sgdfused",
                                                 "graph_profile_mlp_64_adam",
                                                 "graph_profile_mlp_64_sgd_ingraph",
                                                 "graph_profile_mlp_64_adam_ingraph",
                                                 "graph_profile_cnn_64_sgd",
                                                 "graph_peak_mlp_64_sgd",
                                                 "graph_peak_mlp_64_adam",
                                                 "graph_peak_mlp_64_sgd_ingraph",
                                                 "graph_peak_mlp_64_sgdfused"};
  return names;
}

// Graph-mode benchmarks ("graph_..."): doppel_bench runs the step as a doppel::compile'd graph
// AND eagerly in the same process (the JSON line carries both); the peer runs its eager version
// (graph_train_X is train_X for the peer). graph_chain_200 is 200 chained adds on float32 [8]: the
// executor's cost per kernel step against eager's (and the peer's) cost per op. graph_mem_* are
// doppel-only: the allocator's peak bytes in use during one training step, graph against eager.
inline bool is_graph_bench(const std::string& b) { return b.rfind("graph_", 0) == 0; }
inline bool is_memory_bench(const std::string& b) { return b.rfind("graph_mem_", 0) == 0; }
// graph_rss_*: the process's resident-set growth over one training step, eager and graph in
// separate processes (doppel-only).
inline bool is_rss_bench(const std::string& b) { return b.rfind("graph_rss_", 0) == 0; }
inline bool is_profile_bench(const std::string& b) { return b.rfind("graph_profile_", 0) == 0; }
// graph_peak_*: the compiled step's FLOP rate over the FMA peak, alternating in one process.
inline bool is_peak_bench(const std::string& b) { return b.rfind("graph_peak_", 0) == 0; }
inline bool is_infer_bench(const std::string& b) { return b.rfind("graph_infer_", 0) == 0; }
inline bool is_chain_bench(const std::string& b) { return b == "graph_chain_200"; }
inline int64_t chain_length(const std::string&) { return 200; }

inline bool is_overhead_bench(const std::string& b) { return b == "add_8" || b == "matmul_8x8" || is_chain_bench(b); }

// Eager training steps: "train_<model>_<batch>_<optimizer>", e.g. train_cnn_64_adam.
// model: mlp (Flatten, Linear 784-512, ReLU, Linear 512-512, ReLU, Linear 512-10) or cnn (the
// examples/fashion_mnist.cpp model); optimizer: sgd (lr 0.01, momentum 0.9) or adam (lr 1e-3).
struct TrainSpec {
  std::string model;  // "mlp" or "cnn"
  int64_t batch = 0;
  std::string optim;  // "sgd" or "adam", "sgdfused" or "adamfused" (fused = true)
};

inline bool is_train_bench(const std::string& b) {
  return b.rfind("train_", 0) == 0 || b.rfind("graph_train_", 0) == 0 || is_memory_bench(b) || is_rss_bench(b) ||
         is_profile_bench(b) || is_peak_bench(b);
}
// Benchmarks timed per step of a model (ms/step): training steps and inference.
inline bool is_step_bench(const std::string& b) { return is_train_bench(b) || is_infer_bench(b); }

// Parses "[graph_]train_<model>_<batch>_<optim>", "graph_{mem,rss}_<model>_<batch>_<optim>" and
// "graph_infer_<model>_<batch>" (optim left empty).
inline TrainSpec train_spec(const std::string& name) {
  std::string b = name;
  if (is_graph_bench(b)) b = b.substr(6);  // "train_...", "mem_...", "infer_..."
  TrainSpec s;
  const size_t m_start = b.find('_') + 1;
  const size_t m_end = b.find('_', m_start);
  const size_t b_end = b.find('_', m_end + 1);
  s.model = b.substr(m_start, m_end - m_start);
  s.batch = std::atoll(b.c_str() + m_end + 1);
  s.optim = b_end == std::string::npos ? std::string() : b.substr(b_end + 1);
  return s;
}

// The n of "sgemm_<n>", or 0 for another name.
inline int64_t sgemm_size(const std::string& b) {
  if (b.rfind("sgemm_", 0) != 0) return 0;
  return std::atoll(b.c_str() + 6);
}

[[noreturn]] inline void usage(const char* prog, const char* why) {
  std::fprintf(stderr, "%s: %s\nusage: %s BENCH THREADS REPS   (BENCH: ", prog, why, prog);
  for (const auto& n : bench_names()) std::fprintf(stderr, "%s ", n.c_str());
  std::fprintf(stderr, ")\n       %s list\n", prog);
  std::exit(2);
}

inline Args parse_args(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "list") == 0) {
    for (const auto& n : bench_names()) std::printf("%s\n", n.c_str());
    std::exit(0);
  }
  if (argc != 4) usage(argv[0], "expected 3 arguments");
  Args a;
  a.bench = argv[1];
  a.threads = std::atoi(argv[2]);
  a.reps = std::atoi(argv[3]);
  if (std::find(bench_names().begin(), bench_names().end(), a.bench) == bench_names().end())
    usage(argv[0], "unknown benchmark");
  if (a.threads < 1) usage(argv[0], "THREADS must be >= 1");
  if (a.reps < 1) usage(argv[0], "REPS must be >= 1");
  return a;
}

// Seconds per call of f: warm up, pick an inner iteration count so that one repetition lasts
// about `rep_seconds` (timer resolution and loop overhead vanish), then time `reps`
// repetitions. Returns the per-call time of each repetition, sorted.
struct Timing {
  std::vector<double> per_call;  // seconds, sorted ascending
  int64_t inner = 0;             // calls per repetition
  double median() const { return per_call[per_call.size() / 2]; }
};

template <typename F>
Timing time_calls(F&& f, int reps, double rep_seconds, double warmup_seconds, int64_t min_warm_calls = 3) {
  // Warm-up: first calls pay for thread-pool start, page faults, primitive creation and
  // clock ramp-up (and, for a training step, the optimizer's state allocation on the first
  // step). Run for at least `warmup_seconds` and at least `min_warm_calls` calls.
  int64_t warm_calls = 0;
  auto t0 = Clock::now();
  while (warm_calls < min_warm_calls || seconds_since(t0) < warmup_seconds) {
    f();
    ++warm_calls;
  }
  // Estimate one call from a short timed batch after the warm-up (the warm-up's own average
  // includes the slow first calls).
  int64_t probe = std::max<int64_t>(1, warm_calls / 4);
  t0 = Clock::now();
  for (int64_t i = 0; i < probe; ++i) f();
  const double est = std::max(seconds_since(t0) / double(probe), 1e-9);
  Timing t;
  t.inner = std::max<int64_t>(1, int64_t(rep_seconds / est));
  for (int r = 0; r < reps; ++r) {
    t0 = Clock::now();
    for (int64_t i = 0; i < t.inner; ++i) f();
    t.per_call.push_back(seconds_since(t0) / double(t.inner));
  }
  std::sort(t.per_call.begin(), t.per_call.end());
  return t;
}

// Emits one JSON line with the raw figures of a benchmark. For overhead benchmarks the unit is
// ns per call; for training steps ms per step (plus the batch and samples/s at the median); for
// sgemm it is GFLOP/s (median of the per-repetition rates, whose order is the reverse of the times').
inline void emit(const char* impl, const Args& a, const Timing& t, int actual_threads, const std::string& extra = {}) {
  std::string unit;
  std::vector<double> v;
  std::string more = extra;
  if (is_overhead_bench(a.bench)) {
    unit = "ns/op";
    for (double s : t.per_call) v.push_back(s * 1e9);
  } else if (is_step_bench(a.bench)) {
    unit = "ms/step";
    for (double s : t.per_call) v.push_back(s * 1e3);
    const int64_t batch = train_spec(a.bench).batch;
    char buf[96];
    std::snprintf(buf, sizeof buf, "\"batch\":%lld,\"samples_per_s\":%.6g", static_cast<long long>(batch),
                  double(batch) / t.median());
    more = more.empty() ? std::string(buf) : more + "," + buf;
  } else {
    unit = "GFLOP/s";
    const double n = double(sgemm_size(a.bench));
    for (double s : t.per_call) v.push_back(2.0 * n * n * n / s / 1e9);
    std::sort(v.begin(), v.end());
  }
  std::string reps_json;
  for (size_t i = 0; i < v.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.6g", i ? "," : "", v[i]);
    reps_json += buf;
  }
  std::printf(
      "{\"impl\":\"%s\",\"bench\":\"%s\",\"threads\":%d,\"threads_actual\":%d,\"unit\":\"%s\",\"median\":%.6g,"
      "\"min\":%.6g,\"max\":%.6g,\"reps\":%zu,\"inner\":%lld,\"values\":[%s]%s%s}\n",
      impl, a.bench.c_str(), a.threads, actual_threads, unit.c_str(), v[v.size() / 2], v.front(), v.back(), v.size(),
      static_cast<long long>(t.inner), reps_json.c_str(), more.empty() ? "" : ",", more.c_str());
  std::fflush(stdout);
}

// How long one repetition lasts and how long to warm up, per benchmark. sgemm_2048 is ~0.1-0.2 s
// a call on one core, so one call per repetition is already far above the timer's resolution;
// a CNN step at batch 256 is of the same order, an MLP step at batch 64 a few ms.
inline double rep_seconds_for(const std::string& b) { return is_overhead_bench(b) ? 0.02 : 0.1; }
inline double warmup_seconds_for(const std::string& b) {
  return is_overhead_bench(b) ? 0.1 : is_step_bench(b) ? 0.2 : 0.3;
}
// Training steps warm up for at least 5 steps: the first ones create the optimizer state and
// every primitive of the forward and backward passes (and, in graph mode, the eager warm-up call,
// the trace and the executor's plan).
inline int64_t min_warm_calls_for(const std::string& b) { return is_step_bench(b) ? 5 : 3; }

// Checks a few entries of C = A·B (all n×n, row-major, contiguous) against a double-precision
// dot product, so that a fast but wrong matmul cannot produce a figure. Returns an error text or "".
inline std::string check_gemm(const float* a, const float* b, const float* c, int64_t n) {
  const int64_t probes[][2] = {{0, 0}, {n - 1, n - 1}, {n / 2, n / 3}, {n / 3, n - 1}, {n - 1, 0}};
  for (const auto& p : probes) {
    double want = 0, mag = 0;
    for (int64_t k = 0; k < n; ++k) {
      want += double(a[p[0] * n + k]) * double(b[k * n + p[1]]);
      mag += std::fabs(double(a[p[0] * n + k]) * double(b[k * n + p[1]]));
    }
    const double got = c[p[0] * n + p[1]];
    // fp32 accumulation over n terms: typical error ~sqrt(n)·eps·mag; a wrong kernel is off by O(mag).
    if (!(std::fabs(got - want) <= 1e-4 * mag + 1e-6)) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "C[%lld,%lld] = %.7g, expected %.7g", static_cast<long long>(p[0]),
                    static_cast<long long>(p[1]), got, want);
      return buf;
    }
  }
  return {};
}

}  // namespace bench
