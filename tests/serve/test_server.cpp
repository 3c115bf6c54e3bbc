// doppel-serve's HTTP server over real loopback sockets (a Beast client), serving a small
// model written as plain C++ loops (y = 2x + 1 and the row sums), so the expected values are
// independent of doppel's kernels: predictions in both formats, status and metadata, many
// concurrent clients, and every kind of bad request answered with its 4xx/5xx JSON error while
// the server keeps serving.
#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <thread>

#include "doppel/io/json.h"
#include "doppel/serve/server.h"
#include "serve/http_test_client.h"

namespace doppel::testing {
namespace {

using Catch::Matchers::ContainsSubstring;
namespace json = io::json;

serve::ServedModel affine_model() {
  serve::ServedModel m;
  m.name = "affine";
  m.inputs = {{"x", DType::Float32, {-1, 3}, {"batch", ""}}};
  m.outputs = {{"y", DType::Float32, {-1, 3}, {"batch", ""}}, {"s", DType::Float32, {-1}, {"batch"}}};
  m.run = [](const std::vector<Tensor>& in) {
    const Tensor& x = in.at(0);
    DOPPEL_CHECK_SHAPE(x.dim() == 2 && x.size(1) == 3, "input 'x': expected shape [batch, 3], got {}",
                       shape_str(x.shape()));
    const int64_t n = x.size(0);
    const float* px = x.data_ptr<float>();
    if (n > 0 && px[0] == 666.0f) throw std::runtime_error("the model failed");  // a crash inside the model
    Tensor y = make_tensor({n, 3}, DType::Float32), s = make_tensor({n}, DType::Float32);
    for (int64_t i = 0; i < n; ++i) {
      float acc = 0;
      for (int64_t j = 0; j < 3; ++j) {
        y.data_ptr<float>()[i * 3 + j] = 2 * px[i * 3 + j] + 1;
        acc += px[i * 3 + j];
      }
      s.data_ptr<float>()[i] = acc;
    }
    return std::vector<Tensor>{y, s};
  };
  return m;
}

// A server on a free loopback port, listening on a background thread for the test's lifetime.
struct RunningServer {
  serve::Server server;
  std::thread thread;
  explicit RunningServer(serve::ServerOptions o)
      : server(affine_model(), [&] {
          o.port = 0;
          return o;
        }()) {
    server.bind();
    thread = std::thread([this] { server.listen(); });
  }
  ~RunningServer() {
    server.stop();
    thread.join();
  }
  std::unique_ptr<TestClient> client() const { return std::make_unique<TestClient>("127.0.0.1", server.port()); }
};

json::Value body_json(const std::optional<TestResponse>& r) {
  REQUIRE(r);
  CHECK(r->get_header_value("Content-Type") == "application/json");
  return json::parse(r->body, "response");
}

std::string error_of(const std::optional<TestResponse>& r) {
  const auto v = body_json(r);
  const auto* e = v.find("error");
  REQUIRE(e);
  return e->text;
}

TEST_CASE("server: predictions, status and metadata over HTTP", "[serve]") {
  RunningServer s({});
  auto c = s.client();
  const auto row =
      c->Post("/v1/models/affine:predict", R"({"instances": [[1, 2, 3], [0.5, 0, -1]]})", "application/json");
  REQUIRE(row);
  CHECK(row->status == 200);
  CHECK(row->body == R"({"predictions":[{"y":[3,5,7],"s":6},{"y":[2,1,-1],"s":-0.5}]})");
  const auto col =
      c->Post("/v1/models/affine/versions/1:predict", R"({"inputs": {"x": [[1, 1, 1]]}})", "application/json");
  REQUIRE(col);
  CHECK(col->status == 200);
  CHECK(col->body == R"({"outputs":{"y":[[3,3,3]],"s":[3]}})");
  for (const char* path : {"/v1/models/affine", "/v1/models/affine/versions/1"}) {
    const auto st = c->Get(path);
    REQUIRE(st);
    CHECK(st->status == 200);
    const auto v = body_json(st);
    const auto& mvs = v.find("model_version_status")->items.at(0);
    CHECK(mvs.find("state")->text == "AVAILABLE");
    CHECK(mvs.find("version")->text == "1");
    CHECK(mvs.find("status")->find("error_code")->text == "OK");
  }
  const auto md = c->Get("/v1/models/affine/metadata");
  REQUIRE(md);
  CHECK(md->status == 200);
  const auto v = body_json(md);
  const auto* sig = v.find("metadata")->find("signature_def")->find("signature_def")->find("serving_default");
  REQUIRE(sig);
  const auto* x = sig->find("inputs")->find("x");
  CHECK(x->find("dtype")->text == "DT_FLOAT");
  const auto& dims = x->find("tensor_shape")->find("dim")->items;
  REQUIRE(dims.size() == 2);
  CHECK(dims[0].find("size")->text == "-1");
  CHECK(dims[0].find("name")->text == "batch");
  CHECK(dims[1].find("size")->text == "3");
  CHECK(sig->find("outputs")->find("s")->find("tensor_shape")->find("dim")->items.size() == 1);
}

TEST_CASE("server: concurrent clients all get their own correct answers", "[serve]") {
  // More clients than workers.
  RunningServer s({.threads = 4});
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 16; ++t)
    clients.emplace_back([&, t] {
      auto c = s.client();
      for (int i = 0; i < 10; ++i) {
        const int v = t * 100 + i;
        const auto r = c->Post("/v1/models/affine:predict", fmt::format(R"({{"instances": [[{}, 0, 0]]}})", v),
                               "application/json");
        if (r && r->status == 200 &&
            r->body == fmt::format(R"({{"predictions":[{{"y":[{},1,1],"s":{}}}]}})", 2 * v + 1, v))
          ++ok;
      }
    });
  for (auto& t : clients) t.join();
  CHECK(ok == 160);
}

// One output: s = x0 + x1 ([batch]) for :regress, or the scores [x0, -x1] ([batch, 2]) for
// :classify.
serve::ServedModel one_output_model(bool classify) {
  serve::ServedModel m;
  m.name = "one";
  m.inputs = {{"x", DType::Float32, {-1, 2}, {"batch", ""}}};
  m.outputs = {{"s", DType::Float32, classify ? std::vector<int64_t>{-1, 2} : std::vector<int64_t>{-1},
                classify ? std::vector<std::string>{"batch", ""} : std::vector<std::string>{"batch"}}};
  m.run = [classify](const std::vector<Tensor>& in) {
    const Tensor& x = in.at(0);
    const int64_t n = x.size(0);
    Tensor s = make_tensor(classify ? Shape{n, 2} : Shape{n}, DType::Float32);
    for (int64_t i = 0; i < n; ++i) {
      const float a = x.data_ptr<float>()[2 * i], b = x.data_ptr<float>()[2 * i + 1];
      if (classify) {
        s.data_ptr<float>()[2 * i] = a;
        s.data_ptr<float>()[2 * i + 1] = -b;
      } else {
        s.data_ptr<float>()[i] = a + b;
      }
    }
    return std::vector<Tensor>{s};
  };
  return m;
}

TEST_CASE("server: :regress and :classify answer TF Serving's results documents", "[serve]") {
  const std::string examples = R"({"examples": [{"x": [1, 2]}, {"x": [0.5, -4]}]})";
  {
    serve::Server server(one_output_model(false), {.port = 0, .threads = 2});
    server.bind();
    std::thread loop([&] { server.listen(); });
    TestClient c("127.0.0.1", server.port());
    const auto r = c.Post("/v1/models/one:regress", examples, "application/json");
    const auto k = c.Post("/v1/models/one:classify", examples, "application/json");
    server.stop();
    loop.join();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == R"({"results":[3,-3.5]})");
    REQUIRE(k);
    CHECK(k->status == 400);  // one value per example is not a score vector
  }
  serve::Server server(one_output_model(true), {.port = 0, .threads = 2});
  server.bind();
  std::thread loop([&] { server.listen(); });
  TestClient c("127.0.0.1", server.port());
  const auto k = c.Post("/v1/models/one:classify", examples, "application/json");
  const auto r = c.Post("/v1/models/one:regress", examples, "application/json");
  const auto rows = c.Post("/v1/models/one:classify", R"({"instances": [[1, 2]]})", "application/json");
  server.stop();
  loop.join();
  REQUIRE(k);
  CHECK(k->status == 200);
  CHECK(k->body == R"({"results":[[["0",1],["1",-2]],[["0",0.5],["1",4]]]})");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK_THAT(error_of(r), ContainsSubstring("does not fit :regress"));
  REQUIRE(rows);
  CHECK(rows->status == 400);
  CHECK_THAT(error_of(rows), ContainsSubstring("examples"));
}

TEST_CASE("server: a slow model does not hold up other connections", "[serve]") {
  serve::ServedModel m = affine_model();
  const auto affine = m.run;
  m.run = [affine](const std::vector<Tensor>& in) {
    if (in.at(0).data_ptr<float>()[0] == 777.0f) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return affine(in);
  };
  serve::Server server(m, {.port = 0, .threads = 2});
  server.bind();
  std::thread loop([&] { server.listen(); });
  std::optional<TestResponse> slow;
  std::thread slow_client([&] {
    TestClient c("127.0.0.1", server.port());
    slow = c.Post("/v1/models/affine:predict", R"({"instances": [[777, 0, 0]]})", "application/json");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  TestClient c("127.0.0.1", server.port());
  const auto t0 = std::chrono::steady_clock::now();
  const auto fast = c.Post("/v1/models/affine:predict", R"({"instances": [[1, 0, 0]]})", "application/json");
  const double fast_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  slow_client.join();
  server.stop();
  loop.join();
  REQUIRE(fast);
  CHECK(fast->status == 200);
  CHECK(fast_s < 0.5);
  REQUIRE(slow);
  CHECK(slow->body == R"({"predictions":[{"y":[1555,1,1],"s":777}]})");
}

TEST_CASE("server: bad requests get JSON errors with the right status and the server survives", "[serve]") {
  RunningServer s({.max_body_bytes = 4096, .threads = 2});
  auto c = s.client();
  auto post = [&](const std::string& path, const std::string& body) { return c->Post(path, body, "application/json"); };
  const std::string predict = "/v1/models/affine:predict";
  {
    const auto r = post(predict, R"({"instances": [[1, 2, 3],]})");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK_THAT(error_of(r), ContainsSubstring("malformed JSON"));
  }
  {
    const auto r = post(predict, R"({"instances": [[1, 2]]})");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK_THAT(error_of(r), ContainsSubstring("input 'x'") && ContainsSubstring("[1, 2]"));
  }
  {
    const auto r = post(predict, R"({"instances": [[1, 2], [3]]})");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK_THAT(error_of(r), ContainsSubstring("ragged"));
  }
  {
    const auto r = post(predict, std::string(5000, ' ') + "{}");
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK_THAT(error_of(r), ContainsSubstring("4096 bytes"));
  }
  {
    const auto r = post("/v1/models/other:predict", R"({"instances": [[1, 2, 3]]})");
    REQUIRE(r);
    CHECK(r->status == 404);
    CHECK_THAT(error_of(r), ContainsSubstring("\"other\" not found"));
  }
  {
    const auto r = c->Get("/v1/models/affine/versions/2");
    REQUIRE(r);
    CHECK(r->status == 404);
    const auto r2 = c->Get("/nothing/here");
    REQUIRE(r2);
    CHECK(r2->status == 404);
    const auto r3 = post("/v1/models/affine:explain", "{}");
    REQUIRE(r3);
    CHECK(r3->status == 404);
    // Two outputs: the signature fits neither :classify nor :regress.
    for (const char* method : {":classify", ":regress"}) {
      const auto r4 = post(std::string("/v1/models/affine") + method, R"({"examples": [{"x": [1, 2, 3]}]})");
      REQUIRE(r4);
      CHECK(r4->status == 400);
      CHECK_THAT(error_of(r4), ContainsSubstring("does not fit") && ContainsSubstring("use :predict"));
    }
  }
  {
    const auto r = c->Get(predict);
    REQUIRE(r);
    CHECK(r->status == 405);
    CHECK(r->get_header_value("Allow") == "POST");
    const auto r2 = post("/v1/models/affine/metadata", "{}");
    REQUIRE(r2);
    CHECK(r2->status == 405);
    const auto r3 = c->Delete("/v1/models/affine");
    REQUIRE(r3);
    CHECK(r3->status == 405);
  }
  {
    const auto r = post(predict, R"({"instances": [[666, 0, 0]]})");
    REQUIRE(r);
    CHECK(r->status == 500);
    CHECK_THAT(error_of(r), ContainsSubstring("the model failed"));
  }
  {
    // Deep nesting and a path far over the header limit: answered, no crash.
    const auto r = post(predict, "{\"instances\": " + std::string(2000, '[') + "}");
    REQUIRE(r);
    CHECK(r->status == 400);
    const auto r2 = c->Get("/v1/models/" + std::string(100000, 'a'));
    if (r2) CHECK(r2->status == 431);
  }
  auto c2 = s.client();  // a fresh connection: the server still answers correctly
  const auto r = c2->Post(predict, R"({"inputs": [[0, 0, 1]]})", "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == R"({"outputs":{"y":[[1,1,3]],"s":[1]}})");
}

}  // namespace
}  // namespace doppel::testing
