// The HTTP side of doppel-serve: cpp-httplib's server and thread pool around handle_request.
#include "doppel/serve/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "doppel/serve/predict_json.h"

namespace doppel::serve {

struct Server::Impl {
  ServedModel model;
  ServerOptions options;
  httplib::Server http;
  int listen_fd = -1;  // the listening socket, seen through set_socket_options
};

namespace {

// Bodies for the errors httplib answers itself, before a handler runs.
std::string library_error_message(int status, size_t max_body_bytes) {
  switch (status) {
    case 413:
      return fmt::format("the request body exceeds the limit of {} bytes (doppel-serve --max-body-bytes)",
                         max_body_bytes);
    case 414:
      return "the request URI is too long";
    case 400:
      return "malformed HTTP request";
    default:
      return fmt::format("HTTP error {}", status);
  }
}

}  // namespace

Server::Server(ServedModel model, ServerOptions options) : impl_(std::make_unique<Impl>()) {
  DOPPEL_CHECK(bool(model.run), "doppel-serve: the served model has no run function");
  DOPPEL_CHECK(options.max_body_bytes > 0, "doppel-serve: --max-body-bytes must be positive");
  impl_->model = std::move(model);
  impl_->options = std::move(options);
  auto& http = impl_->http;
  const int threads =
      impl_->options.threads > 0 ? impl_->options.threads : std::max(2, int(std::thread::hardware_concurrency()));
  http.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  http.set_payload_max_length(impl_->options.max_body_bytes);
  http.set_keep_alive_max_count(100);
  http.set_read_timeout(std::chrono::seconds(30));
  // Debian's httplib 0.11 is compiled with a listen backlog of 5: a burst of more concurrent
  // connects overflows the accept queue and clients see resets. We keep httplib's socket set-up
  // (SO_REUSEADDR) and remember the socket, and bind() re-listens with a full-size backlog.
  http.set_socket_options([impl = impl_.get()](int fd) {
    const int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    impl->listen_fd = fd;
  });
  http.set_write_timeout(std::chrono::seconds(30));

  // One handler for every method and path: handle_request does the routing (so wrong methods
  // get 405 and unknown paths a JSON 404 instead of httplib's empty ones).
  const httplib::Server::Handler handler = [this](const httplib::Request& req, httplib::Response& res) {
    const auto t0 = std::chrono::steady_clock::now();
    Reply reply = handle_request(impl_->model, req.method, req.path, req.body);
    res.status = reply.status;
    if (!reply.allow.empty()) res.set_header("Allow", reply.allow);
    res.set_content(std::move(reply.body), "application/json");
    if (impl_->options.log_requests) {
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "doppel-serve: %s %s -> %d (%zu bytes in, %.2f ms)\n", req.method.c_str(), req.path.c_str(),
                   res.status, req.body.size(), ms);
    }
  };
  // Paths are at most CPPHTTPLIB_REQUEST_URI_MAX_LENGTH (8 KiB) long, well within what
  // std::regex's recursive matcher handles on a worker's stack (tested with longer URIs).
  http.Get(".*", handler);
  http.Post(".*", handler);
  http.Put(".*", handler);
  http.Delete(".*", handler);
  http.Patch(".*", handler);
  http.Options(".*", handler);
  const size_t limit = impl_->options.max_body_bytes;
  http.set_error_handler([limit](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) res.set_content(error_json(library_error_message(res.status, limit)), "application/json");
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    // handle_request catches everything; this covers failures inside httplib's own callbacks.
    res.status = 500;
    res.set_content(error_json("internal error while handling the request"), "application/json");
  });
}

Server::~Server() { stop(); }

void Server::bind() {
  auto& http = impl_->http;
  const auto& o = impl_->options;
  if (o.port == 0) {
    port_ = http.bind_to_any_port(o.host);
  } else {
    port_ = http.bind_to_port(o.host, o.port) ? o.port : -1;
  }
  if (port_ < 0)
    throw ValueError(
        fmt::format("doppel-serve: cannot listen on {}:{} (address in use, or not a local address?)", o.host, o.port));
  // Calling listen() again on a listening socket only changes its backlog (Linux, BSD).
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, SOMAXCONN);
}

void Server::listen() {
  DOPPEL_CHECK(port_ >= 0, "doppel-serve: listen() before bind()");
  impl_->http.listen_after_bind();
}

void Server::stop() {
  if (impl_) impl_->http.stop();
}

}  // namespace doppel::serve
