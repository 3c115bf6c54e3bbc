// handle_request without sockets: version routing over a ModelVersions snapshot, the TF Serving
// and KServe v2 documents, /metrics, and the route labels the metrics use. The models are plain
// C++ functions (version v answers x + v), so every expected value is computed by hand.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "doppel/io/json.h"
#include "doppel/serve/metrics.h"
#include "doppel/serve/model_versions.h"
#include "doppel/serve/server.h"

namespace doppel::testing {
namespace {

using Catch::Matchers::ContainsSubstring;
namespace json = io::json;

std::shared_ptr<const serve::ServedModel> plus_model(float v) {
  auto m = std::make_shared<serve::ServedModel>();
  m->name = "plus";
  m->inputs = {{"x", DType::Float32, {-1}, {"batch"}}};
  m->outputs = {{"y", DType::Float32, {-1}, {"batch"}}};
  m->run = [v](const std::vector<Tensor>& in) {
    Tensor y = make_tensor(in.at(0).shape(), DType::Float32);
    for (int64_t i = 0; i < y.numel(); ++i) y.data_ptr<float>()[i] = in[0].data_ptr<float>()[i] + v;
    return std::vector<Tensor>{y};
  };
  return m;
}

serve::Reply call(const serve::ModelVersions& models, const serve::Metrics& metrics, std::string_view method,
                  std::string_view path, std::string_view body = "") {
  return serve::handle_request(models, metrics, {method, path, body, std::nullopt});
}

TEST_CASE("routes: versions are resolved per request from the current snapshot", "[serve]") {
  serve::ModelVersions models("plus");
  serve::Metrics metrics;
  const auto none = call(models, metrics, "POST", "/v1/models/plus:predict", R"({"instances": [1]})");
  CHECK(none.status == 503);
  CHECK_THAT(none.body, ContainsSubstring("no version loaded"));
  models.set(1, plus_model(1));
  models.set(3, plus_model(3));
  const std::string body = R"({"instances": [1, 2]})";
  CHECK(call(models, metrics, "POST", "/v1/models/plus:predict", body).body == R"({"predictions":[4,5]})");
  CHECK(call(models, metrics, "POST", "/v1/models/plus/versions/1:predict", body).body == R"({"predictions":[2,3]})");
  const auto missing = call(models, metrics, "POST", "/v1/models/plus/versions/2:predict", body);
  CHECK(missing.status == 404);
  CHECK_THAT(missing.body, ContainsSubstring("no version \\\"2\\\" loaded (loaded: 1, 3)"));
  CHECK(call(models, metrics, "GET", "/v1/models/plus/versions/x").status == 404);
  const auto status = json::parse(call(models, metrics, "GET", "/v1/models/plus").body, "status");
  const auto& mvs = status.find("model_version_status")->items;
  REQUIRE(mvs.size() == 2);
  CHECK(mvs[0].find("version")->text == "3");  // newest first
  CHECK(mvs[1].find("version")->text == "1");
  const auto md = json::parse(call(models, metrics, "GET", "/v1/models/plus/versions/1/metadata").body, "md");
  CHECK(md.find("model_spec")->find("version")->text == "1");
  // A version switched out answers no more; the snapshot a request took is unaffected by later
  // changes (ModelVersions copies on write).
  const auto before = models.snapshot();
  models.remove(3);
  CHECK(before->size() == 2);
  CHECK(call(models, metrics, "POST", "/v1/models/plus:predict", body).body == R"({"predictions":[2,3]})");
}

TEST_CASE("routes: KServe v2 documents and /metrics", "[serve]") {
  serve::ModelVersions models("plus");
  serve::Metrics metrics;
  models.set(2, plus_model(2));
  const auto md = call(models, metrics, "GET", "/v2/models/plus");
  CHECK(md.status == 200);
  CHECK(md.body ==
        R"({"name":"plus","versions":["2"],"platform":"doppel","inputs":[{"name":"x","datatype":"FP32","shape":[-1]}],)"
        R"("outputs":[{"name":"y","datatype":"FP32","shape":[-1]}]})");
  CHECK(md.route == "v2_metadata");
  const auto infer = call(models, metrics, "POST", "/v2/models/plus/versions/2/infer",
                          R"({"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [0, 0.5, -2]}]})");
  CHECK(infer.status == 200);
  CHECK(
      infer.body ==
      R"({"model_name":"plus","model_version":"2","outputs":[{"name":"y","datatype":"FP32","shape":[3],"data":[2,2.5,0]}]})");
  CHECK(infer.route == "v2_infer");
  CHECK(call(models, metrics, "GET", "/v2/models/plus/ready").body == R"({"name":"plus","ready":true})");
  CHECK(call(models, metrics, "GET", "/v2/models/plus/versions/1/ready").status == 404);
  CHECK(call(models, metrics, "GET", "/v2/health/ready").status == 200);
  CHECK(call(models, metrics, "POST", "/v2/health/live").status == 405);
  CHECK(call(models, metrics, "GET", "/v2/models/other").status == 404);
  metrics.record_request("v1_predict", 200, 0.003);
  metrics.record_batch(3);
  const auto m = call(models, metrics, "GET", "/metrics");
  CHECK(m.status == 200);
  CHECK(m.content_type == "text/plain; version=0.0.4");
  CHECK_THAT(m.body, ContainsSubstring("doppel_serve_requests_total{route=\"v1_predict\",code=\"200\"} 1\n"));
  CHECK_THAT(m.body,
             ContainsSubstring("doppel_serve_request_duration_seconds_bucket{route=\"v1_predict\",le=\"0.0025\"} 0\n"));
  CHECK_THAT(m.body,
             ContainsSubstring("doppel_serve_request_duration_seconds_bucket{route=\"v1_predict\",le=\"0.005\"} 1\n"));
  CHECK_THAT(m.body, ContainsSubstring("doppel_serve_batch_size_bucket{le=\"2\"} 0\n"));
  CHECK_THAT(m.body, ContainsSubstring("doppel_serve_batch_size_bucket{le=\"4\"} 1\n"));
  CHECK_THAT(m.body, ContainsSubstring("doppel_serve_batch_size_sum 3\n"));
  CHECK(call(models, metrics, "POST", "/metrics").status == 405);
  CHECK(call(models, metrics, "GET", "/nothing").route == "unknown");
}

}  // namespace
}  // namespace doppel::testing
