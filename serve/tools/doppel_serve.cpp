// doppel-serve: serves an exported model file (or a folder of numbered versions) over
// TensorFlow Serving's and KServe v2's REST APIs until SIGINT or SIGTERM. See serve/README.md
// and serve/include/doppel/serve/server.h.
#include <fmt/format.h>
#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>

#include "doppel/runtime/model.h"
#include "doppel/serve/batcher.h"
#include "doppel/serve/cli.h"
#include "doppel/serve/metrics.h"
#include "doppel/serve/model_versions.h"
#include "doppel/serve/server.h"
#include "doppel/serve/version_watcher.h"

namespace doppel::serve {
namespace {

constexpr std::string_view kUsage =
    "usage: doppel-serve (MODEL.dpl | --model-base-path DIR) [options]\n"
    "  MODEL.dpl                        serve this file as version 1\n"
    "  --model-base-path DIR            serve DIR/<N>/model.dpl, the newest version N; new versions\n"
    "                                   are picked up while serving\n"
    "  --file-system-poll-wait-seconds S  how often DIR is scanned (1; 0: only at start)\n"
    "  --num-versions N                 how many of the newest versions stay loaded (1)\n"
    "  --model-name NAME                the <name> of the URLs (the file's stem / DIR's name)\n"
    "  --graph NAME                     the graph of the file to serve (inference)\n"
    "  --no-verify                      skip the model files' checksums (trusted files only)\n"
    "  --port N (8501; 0: any free port)  --host ADDR (127.0.0.1)\n"
    "  --threads T                      worker threads (hardware threads; with batching at least\n"
    "                                   2 x max batch size x batch threads)\n"
    "  --enable-batching                merge concurrent requests along the batch dimension\n"
    "  --max-batch-size N (32)  --batch-timeout-micros U (1000)  --num-batch-threads N (1)\n"
    "  --max-body-bytes N (64 MiB)  --max-connections N (10000)\n"
    "  --idle-timeout-seconds S (60)  --request-timeout-seconds S (60)  --write-timeout-seconds S (60)\n"
    "  --log-requests                   one line per request on stderr\n"
    "Models are read into memory: changing or deleting a model file later does not affect the\n"
    "server. Endpoints: /v1/models/NAME[/versions/N][:predict|:classify|:regress|/metadata],\n"
    "/v2/models/NAME[/versions/N][/infer|/ready], /v2/health/{live,ready}, /metrics.\n";

double parse_seconds_flag(std::string_view flag, std::string_view text, bool zero_ok) {
  char* end = nullptr;
  const std::string s(text);
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !(zero_ok ? v >= 0 : v > 0) || v > 86400)
    throw UsageError(fmt::format("{} takes seconds in {}0, 86400], got '{}'", flag, zero_ok ? "[" : "(", text));
  return v;
}

int serve_main(int argc, char** argv) {
  std::string model_path, base_path, name, graph = "inference";
  ServerOptions options;
  BatchingOptions batching;
  runtime::LoadOptions load;
  bool enable_batching = false;
  int num_versions = 1;
  double poll_seconds = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage.data(), stdout);
      return 0;
    } else if (a == "--port") {
      options.port = int(parse_int_flag(a, flag_value(argc, argv, i), 0, 65535));
    } else if (a == "--host") {
      options.host = flag_value(argc, argv, i);
    } else if (a == "--model-name") {
      name = flag_value(argc, argv, i);
    } else if (a == "--model-base-path") {
      base_path = flag_value(argc, argv, i);
    } else if (a == "--file-system-poll-wait-seconds") {
      poll_seconds = parse_seconds_flag(a, flag_value(argc, argv, i), true);
    } else if (a == "--num-versions") {
      num_versions = int(parse_int_flag(a, flag_value(argc, argv, i), 1, 1000));
    } else if (a == "--graph") {
      graph = flag_value(argc, argv, i);
    } else if (a == "--no-verify") {
      load.verify_checksums = false;
    } else if (a == "--max-body-bytes") {
      options.max_body_bytes = size_t(parse_int_flag(a, flag_value(argc, argv, i), 1, int64_t(1) << 40));
    } else if (a == "--threads") {
      options.threads = int(parse_int_flag(a, flag_value(argc, argv, i), 1, 4096));
    } else if (a == "--enable-batching") {
      enable_batching = true;
    } else if (a == "--max-batch-size") {
      batching.max_batch_size = parse_int_flag(a, flag_value(argc, argv, i), 1, 1 << 20);
    } else if (a == "--batch-timeout-micros") {
      batching.batch_timeout_micros = parse_int_flag(a, flag_value(argc, argv, i), 0, 60'000'000);
    } else if (a == "--num-batch-threads") {
      batching.num_batch_threads = int(parse_int_flag(a, flag_value(argc, argv, i), 1, 256));
    } else if (a == "--max-connections") {
      options.max_connections = int(parse_int_flag(a, flag_value(argc, argv, i), 1, 1000000));
    } else if (a == "--idle-timeout-seconds") {
      options.idle_timeout_s = parse_seconds_flag(a, flag_value(argc, argv, i), false);
    } else if (a == "--request-timeout-seconds") {
      options.request_timeout_s = parse_seconds_flag(a, flag_value(argc, argv, i), false);
    } else if (a == "--write-timeout-seconds") {
      options.write_timeout_s = parse_seconds_flag(a, flag_value(argc, argv, i), false);
    } else if (a == "--log-requests") {
      options.log_requests = true;
    } else if (a.starts_with("-")) {
      throw UsageError(fmt::format("unknown option '{}'", a));
    } else if (model_path.empty()) {
      model_path = a;
    } else {
      throw UsageError(fmt::format("unexpected argument '{}' (one model file only)", a));
    }
  }
  if (model_path.empty() == base_path.empty())
    throw UsageError("give either a model file or --model-base-path DIR (exactly one)");
  if (name.empty() && base_path.empty()) name = std::filesystem::path(model_path).stem().string();
  if (name.empty()) {
    std::filesystem::path dir = std::filesystem::path(base_path).lexically_normal();
    if (!dir.has_filename()) dir = dir.parent_path();  // "models/mlp/"
    name = dir.filename().string();
  }
  if (name.empty() || name.find_first_of("/:") != std::string::npos)
    throw UsageError(fmt::format("model name '{}' cannot appear in a URL path; pass --model-name", name));
  if (enable_batching && options.threads == 0) {
    // Workers wait inside the batcher for their batch: enough of them to fill batches.
    const int64_t want = 2 * batching.max_batch_size * batching.num_batch_threads;
    options.threads = int(std::clamp<int64_t>(want, std::max(2, int(std::thread::hardware_concurrency())), 4096));
  }

  // Block the stop signals in every thread (the workers inherit the mask) and take them
  // synchronously on one thread, where calling stop() is safe (a handler could not).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server
  // Every connection is a file descriptor: raise the soft limit (often 1024) to the hard one so
  // that --max-connections, not EMFILE, is what bounds them.
  if (rlimit nofile{}; ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }

  auto metrics = std::make_shared<Metrics>();
  auto versions = std::make_shared<ModelVersions>(name);
  // Batching wraps every version that is loaded; a signature without a batch dimension is
  // served unbatched, and start-up says so.
  auto prepare = [&, metrics](ServedModel m) {
    if (!enable_batching) return m;
    if (const auto why = batching_unsupported(m)) {
      std::printf("doppel-serve: batching off for this model: %s\n", why->c_str());
      std::fflush(stdout);
      return m;
    }
    return with_batching(std::move(m), batching, [metrics](int64_t n) { metrics->record_batch(n); });
  };
  if (enable_batching)
    std::printf("doppel-serve: batching on: at most %lld rows per run, %lld us timeout, %d batch thread(s)\n",
                static_cast<long long>(batching.max_batch_size), static_cast<long long>(batching.batch_timeout_micros),
                batching.num_batch_threads);
  std::optional<VersionWatcher> watcher;
  if (base_path.empty()) {
    versions->set(1, std::make_shared<const ServedModel>(prepare(load_served_model(model_path, graph, load, name))));
  } else {
    watcher.emplace(versions, VersionWatcherOptions{base_path, graph, load, num_versions, poll_seconds, prepare});
  }
  Server server(versions, metrics, options);
  server.bind();
  std::atomic<bool> listener_done{false};
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (listener_done) return;  // woken by main below
    std::fprintf(stderr, "doppel-serve: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server.stop();
  });
  std::printf("doppel-serve: serving model '%s' (version %lld) at http://%s:%d/v1/models/%s\n", name.c_str(),
              static_cast<long long>(versions->snapshot()->rbegin()->first), options.host.c_str(), server.port(),
              name.c_str());
  std::fflush(stdout);
  server.listen();
  // listen() returns after stop() (the signal thread) or when accepting fails; in the latter
  // case wake the signal thread so it can be joined.
  listener_done = true;
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  return 0;
}

}  // namespace
}  // namespace doppel::serve

int main(int argc, char** argv) {
  return doppel::serve::run_tool("doppel-serve", doppel::serve::kUsage, doppel::serve::serve_main, argc, argv);
}
