// The HTTP side of doppel-serve: Boost.Beast's strict HTTP/1.1 parser on an Asio event loop
// (one I/O thread), a worker pool for handle_request, per-connection deadlines. See server.h.
#include "doppel/serve/server.h"

#include <fmt/format.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "doppel/serve/metrics.h"
#include "doppel/serve/model_versions.h"
#include "doppel/serve/predict_json.h"

namespace doppel::serve {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Request line plus headers; larger is a 431.
constexpr uint32_t kHeaderLimit = 16 * 1024;
// How long a connection closed after an error answer keeps reading what the client still sends.
constexpr auto kLingerTime = std::chrono::seconds(2);

std::chrono::steady_clock::duration seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
}

// An answer to a request that could not be read: status, message, and the metrics' error kind.
struct ReadError {
  int status;
  std::string message;
  std::string_view kind;
};

// A framing defect found after the header was parsed that Beast itself accepts, or nullopt
// when the header is fine.
std::optional<ReadError> framing_error(const http::request_parser<http::string_body>& parser) {
  const auto& h = parser.get();
  // Beast accepts repeated identical Content-Length values (also as a list "5, 5"); a request
  // that repeats them is ambiguous for proxies in front of us, so it is refused.
  if (h.count(http::field::content_length) > 1 || h[http::field::content_length].find(',') != std::string_view::npos)
    return ReadError{400, "malformed HTTP request: Content-Length given more than once", "malformed_request"};
  if (const auto te = h[http::field::transfer_encoding]; !te.empty() && !parser.chunked())
    return ReadError{400,
                     fmt::format("malformed HTTP request: unsupported Transfer-Encoding '{}' (only chunked)",
                                 std::string_view(te).substr(0, 80)),
                     "malformed_request"};
  if (const auto ce = h[http::field::content_encoding]; !ce.empty() && !beast::iequals(ce, "identity"))
    return ReadError{415,
                     fmt::format("Content-Encoding '{}' is not accepted; send the body uncompressed",
                                 std::string_view(ce).substr(0, 80)),
                     "unsupported_encoding"};
  return std::nullopt;
}

// The answer to an error of Beast's parser.
ReadError parse_error_reply(const beast::error_code& ec, size_t max_body_bytes) {
  if (ec == http::error::body_limit)
    return {
        413,
        fmt::format("the request body exceeds the limit of {} bytes (doppel-serve --max-body-bytes)", max_body_bytes),
        "body_too_large"};
  if (ec == http::error::header_limit)
    return {431, fmt::format("the request line and headers exceed {} bytes", kHeaderLimit), "headers_too_large"};
  return {400, fmt::format("malformed HTTP request: {}", ec.message()), "malformed_request"};
}

// The Inference-Header-Content-Length of a KServe v2 binary request (nullopt without one);
// ValueError when it is not a whole number.
std::optional<size_t> inference_header_length(const http::request<http::string_body>& req) {
  const std::string_view v = req["Inference-Header-Content-Length"];
  if (v.empty()) return std::nullopt;
  size_t n = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size())
    throw ValueError(fmt::format("Inference-Header-Content-Length '{}' is not a byte count", v.substr(0, 40)));
  return n;
}

}  // namespace

class Session;

struct Server::Impl {
  std::shared_ptr<const ModelVersions> models;
  std::shared_ptr<Metrics> metrics;
  ServerOptions options;
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::steady_timer accept_retry{ioc};
  std::optional<asio::thread_pool> workers;
  bool stopping = false;  // I/O thread only
  // Open sessions (I/O thread only), so that stop() can close the idle ones.
  std::unordered_set<Session*> sessions;

  void accept_next();
  void refuse(tcp::socket socket);
  void begin_stop();
};

// One connection: read a request, hand it to a worker, write the answer, repeat. Every member
// runs on the I/O thread except the worker job in dispatch().
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Server::Impl& server) : srv_(server), stream_(std::move(socket)) {
    srv_.sessions.insert(this);
    srv_.metrics->connection_opened();
  }
  ~Session() {
    srv_.sessions.erase(this);
    srv_.metrics->connection_closed();
  }

  void start() { read_next(); }

  // Called by stop(): a session waiting for a request is closed; one whose request is being
  // handled closes after writing the answer.
  void close_if_idle() {
    if (!busy_) stream_.socket().close();
  }

 private:
  void read_next() {
    busy_ = false;
    if (srv_.stopping) return close();
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(srv_.options.max_body_bytes);
    if (buffer_.size() > 0) return read_header();  // a pipelined request is already here
    // Keep-alive: wait for the first byte of the next request.
    stream_.expires_after(seconds(srv_.options.idle_timeout_s));
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (ec) return self->close();
      self->buffer_.commit(n);
      self->read_header();
    });
  }

  void read_header() {
    busy_ = true;
    t0_ = std::chrono::steady_clock::now();
    // One deadline for the whole request, header and body: a client sending a byte per second
    // is cut off when it expires.
    stream_.expires_after(seconds(srv_.options.request_timeout_s));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return read_failed(ec);
    if (const auto err = framing_error(*parser_)) return write_error(*err);
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue") && !parser_->is_done()) {
      auto interim = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
      asio::async_write(stream_, asio::buffer(*interim),
                        [self = shared_from_this(), interim](beast::error_code wec, size_t) {
                          if (wec) return self->close();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->read_failed(ec);
      self->dispatch();
    });
  }

  void read_failed(beast::error_code ec) {
    // The peer went away or was too slow: nobody to answer.
    if (ec == beast::error::timeout) srv_.metrics->record_error("timeout");
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == http::error::partial_message)
      return close();
    write_error(parse_error_reply(ec, srv_.options.max_body_bytes));
  }

  void dispatch() {
    stream_.expires_never();
    auto req = std::make_shared<http::request<http::string_body>>(parser_->release());
    // The worker holds a work guard so the I/O loop stays up until the answer is posted back.
    asio::post(
        *srv_.workers, [self = shared_from_this(), req, t0 = t0_, work = asio::make_work_guard(srv_.ioc)]() mutable {
          const std::string_view target = req->target();
          Reply reply;
          try {
            reply = handle_request(
                *self->srv_.models, *self->srv_.metrics,
                {req->method_string(), target.substr(0, target.find('?')), req->body(), inference_header_length(*req)});
          } catch (const ValueError& e) {
            reply = {400, error_json(e.what())};
          }
          self->srv_.metrics->record_request(
              reply.route, reply.status, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
          // The session's last reference must drop on the I/O thread (its destructor touches the
          // session set): move ours into the posted job.
          auto& ioc = self->srv_.ioc;
          asio::post(ioc, [self = std::move(self), req = std::move(req), reply = std::move(reply)]() mutable {
            self->write_reply(*req, std::move(reply));
          });
          work.reset();
        });
  }

  void write_reply(const http::request<http::string_body>& req, Reply reply) {
    auto res =
        std::make_shared<http::response<http::string_body>>(http::int_to_status(unsigned(reply.status)), req.version());
    res->set(http::field::server, "doppel-serve");
    res->set(http::field::content_type, reply.content_type);
    if (!reply.allow.empty()) res->set(http::field::allow, reply.allow);
    if (reply.inference_header_length)
      res->set("Inference-Header-Content-Length", std::to_string(*reply.inference_header_length));
    res->keep_alive(req.keep_alive() && !srv_.stopping);
    const size_t body_size = reply.body.size();
    res->body() = req.method() == http::verb::head ? std::string() : std::move(reply.body);
    res->content_length(body_size);
    if (srv_.options.log_requests) {
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
      std::fprintf(stderr, "doppel-serve: %s %s -> %d (%zu bytes in, %.2f ms)\n",
                   std::string(req.method_string()).c_str(), std::string(req.target()).c_str(), reply.status,
                   req.body().size(), ms);
    }
    write(res);
  }

  // An answer to a request that could not be read; the connection closes after it (the rest of
  // the stream cannot be trusted to start a request).
  void write_error(const ReadError& err) {
    busy_ = true;
    srv_.metrics->record_error(err.kind);
    auto res = std::make_shared<http::response<http::string_body>>(http::int_to_status(unsigned(err.status)), 11);
    res->set(http::field::server, "doppel-serve");
    res->set(http::field::content_type, "application/json");
    res->keep_alive(false);
    res->body() = error_json(err.message);
    res->prepare_payload();
    if (srv_.options.log_requests)
      std::fprintf(stderr, "doppel-serve: bad request -> %d: %s\n", err.status, err.message.c_str());
    write(res);
  }

  void write(std::shared_ptr<http::response<http::string_body>> res) {
    stream_.expires_after(seconds(srv_.options.write_timeout_s));
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec) return self->close();
      if (!res->keep_alive()) return self->linger();
      self->read_next();
    });
  }

  // Closing right after an answer the client did not wait for (a 413 while it still sends the
  // body) would reset the connection and lose the answer: stop sending, then read and drop
  // what the client still sends until it closes, for at most kLingerTime.
  void linger() {
    busy_ = false;  // stop() may close it at once
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTime);
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->close();
      self->drain();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  Server::Impl& srv_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::chrono::steady_clock::time_point t0_;
  std::array<char, 16384> scratch_;  // linger() reads into it
  bool busy_ = false;                // reading a request's header/body, handling it or writing its answer
};

void Server::Impl::accept_next() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (stopping) return;
    if (ec) {
      // Out of file descriptors or the like: try again shortly instead of spinning.
      std::fprintf(stderr, "doppel-serve: accept failed: %s\n", ec.message().c_str());
      accept_retry.expires_after(std::chrono::milliseconds(50));
      accept_retry.async_wait([this](beast::error_code) {
        if (!stopping) accept_next();
      });
      return;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);  // no Nagle delay on small answers
    if (int(sessions.size()) >= options.max_connections) {
      refuse(std::move(socket));
    } else {
      std::make_shared<Session>(std::move(socket), *this)->start();
    }
    accept_next();
  });
}

void Server::Impl::refuse(tcp::socket socket) {
  metrics->record_error("connection_refused");
  struct Refusal {
    tcp::socket socket;
    std::string text;
  };
  const std::string body =
      error_json(fmt::format("too many connections (doppel-serve --max-connections {})", options.max_connections));
  auto r = std::make_shared<Refusal>(Refusal{
      std::move(socket),
      fmt::format("HTTP/1.1 503 Service Unavailable\r\nServer: doppel-serve\r\nContent-Type: application/json\r\n"
                  "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                  body.size(), body)});
  asio::async_write(r->socket, asio::buffer(r->text), [r](beast::error_code, size_t) {
    beast::error_code ignored;
    r->socket.shutdown(tcp::socket::shutdown_send, ignored);
    r->socket.close(ignored);
  });
}

void Server::Impl::begin_stop() {
  stopping = true;
  beast::error_code ignored;
  acceptor.close(ignored);
  accept_retry.cancel();
  for (Session* s : std::vector<Session*>(sessions.begin(), sessions.end())) s->close_if_idle();
}

namespace {

std::shared_ptr<const ModelVersions> single_version(ServedModel model) {
  DOPPEL_CHECK(bool(model.run), "doppel-serve: the served model has no run function");
  auto versions = std::make_shared<ModelVersions>(model.name);
  versions->set(1, std::make_shared<const ServedModel>(std::move(model)));
  return versions;
}

}  // namespace

Server::Server(ServedModel model, ServerOptions options)
    : Server(single_version(std::move(model)), std::make_shared<Metrics>(), std::move(options)) {}

Server::Server(std::shared_ptr<const ModelVersions> models, std::shared_ptr<Metrics> metrics, ServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  DOPPEL_CHECK(models && metrics, "doppel-serve: the server needs models and metrics");
  DOPPEL_CHECK(options.max_body_bytes > 0, "doppel-serve: --max-body-bytes must be positive");
  DOPPEL_CHECK(options.max_connections > 0, "doppel-serve: --max-connections must be positive");
  impl_->models = std::move(models);
  impl_->metrics = std::move(metrics);
  impl_->options = std::move(options);
  const int threads =
      impl_->options.threads > 0 ? impl_->options.threads : std::max(2, int(std::thread::hardware_concurrency()));
  impl_->workers.emplace(size_t(threads));
}

Server::~Server() {
  stop();
  impl_->workers->join();
}

void Server::bind() {
  const auto& o = impl_->options;
  auto& acceptor = impl_->acceptor;
  beast::error_code ec;
  tcp::resolver resolver(impl_->ioc);
  const auto endpoints = resolver.resolve(o.host, std::to_string(o.port), tcp::resolver::passive, ec);
  if (!ec && !endpoints.empty()) {
    const tcp::endpoint ep = *endpoints.begin();
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec || endpoints.empty()) {
    beast::error_code ignored;
    acceptor.close(ignored);
    throw ValueError(fmt::format("doppel-serve: cannot listen on {}:{}: {}", o.host, o.port,
                                 ec ? ec.message() : std::string("the host name has no address")));
  }
  port_ = acceptor.local_endpoint().port();
}

void Server::listen() {
  DOPPEL_CHECK(port_ >= 0, "doppel-serve: listen() before bind()");
  asio::post(impl_->ioc, [impl = impl_.get()] {
    if (!impl->stopping) impl->accept_next();
  });
  impl_->ioc.run();
  impl_->workers->join();
}

void Server::stop() {
  asio::post(impl_->ioc, [impl = impl_.get()] { impl->begin_stop(); });
}

}  // namespace doppel::serve
