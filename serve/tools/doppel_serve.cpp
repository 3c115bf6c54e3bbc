// doppel-serve: serves an exported model file over TensorFlow Serving's REST API until SIGINT
// or SIGTERM. See serve/README.md and serve/include/doppel/serve/server.h.
#include <fmt/format.h>
#include <pthread.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "doppel/runtime/model.h"
#include "doppel/serve/cli.h"
#include "doppel/serve/server.h"

namespace doppel::serve {
namespace {

constexpr std::string_view kUsage =
    "usage: doppel-serve MODEL.dpl [--port N (8501; 0: any free port)] [--host ADDR (127.0.0.1)]\n"
    "                    [--model-name NAME (the file's stem)] [--graph NAME (inference)]\n"
    "                    [--max-body-bytes N (64 MiB)] [--threads T (hardware threads)] [--log-requests]\n"
    "                    [--max-connections N (10000)] [--idle-timeout-seconds S (60)]\n"
    "                    [--request-timeout-seconds S (60)] [--write-timeout-seconds S (60)]\n"
    "The model file is read into memory at start: changing or deleting it later does not affect\n"
    "the server.\n";

double parse_seconds_flag(std::string_view flag, std::string_view text) {
  char* end = nullptr;
  const std::string s(text);
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !(v > 0) || v > 86400)
    throw UsageError(fmt::format("{} takes seconds in (0, 86400], got '{}'", flag, text));
  return v;
}

int serve_main(int argc, char** argv) {
  std::string model_path, name, graph = "inference";
  ServerOptions options;
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
    } else if (a == "--graph") {
      graph = flag_value(argc, argv, i);
    } else if (a == "--max-body-bytes") {
      options.max_body_bytes = size_t(parse_int_flag(a, flag_value(argc, argv, i), 1, int64_t(1) << 40));
    } else if (a == "--threads") {
      options.threads = int(parse_int_flag(a, flag_value(argc, argv, i), 1, 1024));
    } else if (a == "--max-connections") {
      options.max_connections = int(parse_int_flag(a, flag_value(argc, argv, i), 1, 1000000));
    } else if (a == "--idle-timeout-seconds") {
      options.idle_timeout_s = parse_seconds_flag(a, flag_value(argc, argv, i));
    } else if (a == "--request-timeout-seconds") {
      options.request_timeout_s = parse_seconds_flag(a, flag_value(argc, argv, i));
    } else if (a == "--write-timeout-seconds") {
      options.write_timeout_s = parse_seconds_flag(a, flag_value(argc, argv, i));
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
  if (model_path.empty()) throw UsageError("no model file given");
  if (name.empty()) name = std::filesystem::path(model_path).stem().string();
  if (name.empty() || name.find_first_of("/:") != std::string::npos)
    throw UsageError(fmt::format("model name '{}' cannot appear in a URL path; pass --model-name", name));

  // Block the stop signals in every thread (the workers inherit the mask) and take them
  // synchronously on one thread, where calling stop() is safe (a handler could not).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server

  auto model = std::make_shared<const runtime::Model>(load_model_copy(model_path, graph));
  Server server(served_model(model, name), options);
  server.bind();
  std::atomic<bool> listener_done{false};
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (listener_done) return;  // woken by main below
    std::fprintf(stderr, "doppel-serve: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server.stop();
  });
  std::printf("doppel-serve: serving model '%s' at http://%s:%d/v1/models/%s\n", name.c_str(), options.host.c_str(),
              server.port(), name.c_str());
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
