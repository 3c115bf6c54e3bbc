#pragma once
// doppel-serve's REST server, on Boost.Beast/Asio (serve/README.md says why). Routes
// (routes.cpp: TF Serving; kserve_routes.cpp: KServe v2 / Open Inference Protocol):
//
//   GET  /v1/models/<name>[/versions/N]            model status (every loaded version AVAILABLE)
//   GET  /v1/models/<name>[/versions/N]/metadata   signature_def: inputs/outputs, dtype, shape (-1 = symbolic)
//   POST /v1/models/<name>[/versions/N]:predict    {"instances": ...} or {"inputs": ...} (predict_json.h)
//   POST /v1/models/<name>[/versions/N]:regress    {"examples": [...]}: one output of one value per example
//   POST /v1/models/<name>[/versions/N]:classify   {"examples": [...]}: one output of class scores per example
//   POST /v1/models/<name>[/versions/N]:generate   {"input_ids": [[ids], ...], "max_new_tokens": n, "eos_token_id": e}
//                                                  → {"output_ids": [[new ids], ...]}: greedy generation by a
//                                                  decoder file (generate_route.cpp)
//   GET  /v2, /v2/health/live, /v2/health/ready    server metadata and health
//   GET  /v2/models/<name>[/versions/N][/ready]    model metadata (datatype FP32..., shape -1 = symbolic), readiness
//   POST /v2/models/<name>[/versions/N]/infer      kserve_json.h (Triton's binary extension too)
//   GET  /metrics                                  Prometheus text (metrics.h)
//
// Without /versions/N the newest loaded version answers. Errors are JSON ({"error": "..."}):
// unknown model or version or path 404, wrong method 405, malformed JSON or a request that does
// not fit the signature (shape, dtype, names) 400, a body over the limit 413, no version loaded
// 503, anything else 500. A request never takes the server down: every handler catches
// everything and answers.
//
// Transport (server.cpp): one I/O thread runs every connection's reads and writes (event-driven,
// nothing blocks it); parsing the JSON, running the model and writing the answer's JSON happen on
// a pool of worker threads. HTTP/1.1 is parsed strictly: malformed framing (negative, huge,
// duplicate or conflicting Content-Length, a header line without a colon, an unknown
// Transfer-Encoding) is a 400 and closes the connection; the body limit holds on the decoded
// body (chunked too: 413); Content-Encoding other than identity is a 415 (nothing is inflated).
// Every connection has deadlines (idle between requests, the whole request, writing the
// answer), so slow clients cannot hold the server; connections are bounded (503 past the
// bound); TCP_NODELAY is set; keep-alive and pipelining work (answers in request order).
//
// The server knows the model only through ServedModel, so it does not depend on how the model
// is executed (doppel-serve adapts runtime::Model; the tests use small C++ functions).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/tensor.h"

namespace doppel::serve {

struct ServedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;        // -1 where the dimension is symbolic
  std::vector<std::string> symbols;  // per dimension: the symbol's name, or "" when static
};

// One :generate request: prompts of any lengths (token ids), greedy decoding options.
struct GenerateRequest {
  std::vector<std::vector<int64_t>> prompts;
  int64_t max_new_tokens = 20;
  std::optional<int64_t> eos_token_id;  // unset: the model's own
};

struct ServedModel {
  std::string name;  // the <name> of the URLs
  std::vector<ServedTensor> inputs, outputs;
  // Runs one request's inputs (in `inputs` order). Must be thread-safe: the server calls it
  // from its worker threads concurrently. Throws doppel errors on inputs that do not fit.
  std::function<std::vector<Tensor>(const std::vector<Tensor>&)> run;
  // A decoder's greedy generation (thread-safe): each prompt's new ids, up to and including its
  // eos. Null when the model is not a decoder file (:generate answers 400).
  std::function<std::vector<std::vector<int64_t>>(const GenerateRequest&)> generate;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8501;  // 0: any free port (see Server::port())
  size_t max_body_bytes = size_t(64) << 20;
  int threads = 0;                // worker threads; 0: the hardware concurrency (at least 2)
  int max_connections = 10000;    // open connections; more are answered 503 and closed
  double idle_timeout_s = 60;     // keep-alive: the wait for the first byte of the next request
  double request_timeout_s = 60;  // from a request's first byte to its last (slow senders are cut)
  double write_timeout_s = 60;    // writing one answer
  bool log_requests = false;      // one line per request on stderr
};

class ModelVersions;  // model_versions.h
class Metrics;        // metrics.h

// One request as the routes see it.
struct HttpRequest {
  std::string_view method;
  std::string_view path;  // the target without its query
  std::string_view body;
  // KServe v2 binary extension: the length of the JSON part of the body, when the request has
  // the Inference-Header-Content-Length header.
  std::optional<size_t> inference_header_length;
};

// The HTTP status and body for one request; what the server's workers compute (public so the
// routing and error mapping can be tested without sockets).
struct Reply {
  int status = 200;
  std::string body;
  std::string allow;  // for 405: the method the path accepts
  std::string content_type = "application/json";
  std::optional<size_t> inference_header_length;  // KServe v2 binary outputs follow the JSON
  std::string_view route = "unknown";             // the metrics label of the endpoint
};
Reply handle_request(const ModelVersions& models, const Metrics& metrics, const HttpRequest& request);

class Server {
 public:
  // Serves `models` (read anew for every request: versions may change while serving) and
  // records into `metrics`.
  Server(std::shared_ptr<const ModelVersions> models, std::shared_ptr<Metrics> metrics, ServerOptions options);
  // Serves `model` as version 1 with metrics of its own.
  Server(ServedModel model, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; throws ValueError when the address cannot be bound.
  void bind();
  // The bound port (after bind()).
  int port() const { return port_; }
  // Serves on the calling thread (the I/O thread) until stop() is called from any thread.
  // Returns after the requests in flight were answered and the workers finished.
  void listen();
  void stop();

  struct Impl;  // server.cpp's state, shared with its connection sessions

 private:
  std::unique_ptr<Impl> impl_;
  int port_ = -1;
};

}  // namespace doppel::serve
