// The Chrome trace event format (JSON object form; chrome://tracing and ui.perfetto.dev read
// it): one complete event ("ph": "X") per recorded event, times in microseconds from the
// first event, PyTorch's argument names where it has them.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

#include "doppel/io/json.h"
#include "doppel/profiler.h"

namespace doppel::profiler {

namespace {

std::string shapes_json(const Event& e) {
  std::string out = "[";
  for (size_t k = 0; k < e.input_shapes.size(); ++k)
    out += fmt::format("{}[{}]", k ? ", " : "", fmt::join(e.input_shapes[k], ", "));
  return out + "]";
}

std::string dtypes_json(const Event& e) {
  std::string out = "[";
  for (size_t k = 0; k < e.input_dtypes.size(); ++k) out += (k ? ", " : "") + io::json::quote(e.input_dtypes[k]);
  return out + "]";
}

}  // namespace

std::string Profile::chrome_trace_json() const {
  const std::vector<Event>& ev = events();
  int64_t origin = 0;
  if (!ev.empty())
    origin = std::min_element(ev.begin(), ev.end(), [](const Event& a, const Event& b) {
               return a.start_ns < b.start_ns;
             })->start_ns;
  const int pid = int(getpid());
  std::string out = "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [";
  for (size_t k = 0; k < ev.size(); ++k) {
    const Event& e = ev[k];
    std::string args;
    if (e.kind == EventKind::Op || e.kind == EventKind::GraphNode)
      args = fmt::format(
          ", \"args\": {{\"Input Dims\": {}, \"Input type\": {}, \"Backend\": {}, \"Implementation\": {}, "
          "\"Bytes allocated\": {}, \"FLOPs\": {}, \"Backward\": {}}}",
          shapes_json(e), dtypes_json(e), io::json::quote(e.backend), io::json::quote(e.implementation),
          e.bytes_allocated, e.flops, e.in_backward ? "true" : "false");
    out += fmt::format(
        "{}\n  {{\"ph\": \"X\", \"name\": {}, \"cat\": {}, \"pid\": {}, \"tid\": {}, \"ts\": {:.3f}, "
        "\"dur\": {:.3f}{}}}",
        k ? "," : "", io::json::quote(e.name), io::json::quote(event_kind_name(e.kind)), pid, e.thread_id,
        double(e.start_ns - origin) / 1e3, double(e.duration_ns()) / 1e3, args);
  }
  return out + "\n]}\n";
}

}  // namespace doppel::profiler
