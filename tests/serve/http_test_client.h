#pragma once
// A small blocking HTTP/1.1 client for the server tests (Boost.Beast over a loopback socket):
// keep-alive on one connection, reconnecting when the server closed it.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <string>

namespace doppel::testing {

struct TestResponse {
  int status = 0;
  std::string body;
  boost::beast::http::fields headers;
  std::string get_header_value(std::string_view name) const { return std::string(headers[name]); }
};

class TestClient {
 public:
  TestClient(std::string host, int port) : host_(std::move(host)), port_(port) {}

  // The response, or nullopt when the exchange failed (connection refused or reset).
  std::optional<TestResponse> request(boost::beast::http::verb method, const std::string& target,
                                      const std::string& body = "", const std::string& content_type = "") {
    namespace http = boost::beast::http;
    for (int attempt = 0; attempt < 2; ++attempt) {
      boost::beast::error_code ec;
      const bool reused = socket_.is_open();
      if (!reused) {
        boost::asio::ip::tcp::resolver resolver(ioc_);
        boost::asio::connect(socket_, resolver.resolve(host_, std::to_string(port_), ec), ec);
        if (ec) return std::nullopt;
      }
      http::request<http::string_body> req(method, target, 11);
      req.set(http::field::host, host_);
      if (!content_type.empty()) req.set(http::field::content_type, content_type);
      if (method != http::verb::get || !body.empty()) {
        req.body() = body;
        req.prepare_payload();
      }
      http::write(socket_, req, ec);
      boost::beast::flat_buffer buffer;
      http::response_parser<http::string_body> parser;
      parser.body_limit(std::uint64_t(1) << 30);
      if (!ec) http::read(socket_, buffer, parser, ec);
      if (ec) {
        socket_.close(ec);
        if (reused) continue;  // the server had closed the kept-alive connection
        return std::nullopt;
      }
      const auto& res = parser.get();
      if (!res.keep_alive()) socket_.close(ec);
      return TestResponse{int(res.result_int()), res.body(), res.base()};
    }
    return std::nullopt;
  }

  std::optional<TestResponse> Get(const std::string& target) { return request(boost::beast::http::verb::get, target); }
  std::optional<TestResponse> Delete(const std::string& target) {
    return request(boost::beast::http::verb::delete_, target);
  }
  std::optional<TestResponse> Post(const std::string& target, const std::string& body,
                                   const std::string& content_type) {
    return request(boost::beast::http::verb::post, target, body, content_type);
  }

 private:
  std::string host_;
  int port_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_{ioc_};
};

}  // namespace doppel::testing
