// The KServe v2 / Open Inference Protocol REST routes (see server.h), what tritonclient's HTTP
// client calls: server and model metadata, health, readiness and infer.
#include <fmt/format.h>

#include "doppel/io/json.h"
#include "doppel/serve/kserve_json.h"
#include "routes_common.h"

namespace doppel::serve {

namespace json = io::json;

namespace {

constexpr std::string_view kModels = "/v2/models/";

void append_tensor_metadata(std::string& out, const std::vector<ServedTensor>& tensors) {
  out += '[';
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    out += fmt::format("{}{{\"name\":{},\"datatype\":\"{}\",\"shape\":[{}]}}", i ? "," : "", json::quote(t.name),
                       kserve_datatype(t.dtype), fmt::join(t.shape, ","));
  }
  out += ']';
}

std::string model_metadata(const ServedModel& model, std::string_view name, const ModelVersions::Map& loaded) {
  std::string versions;
  for (const auto& [v, m] : loaded) versions += fmt::format("{}\"{}\"", versions.empty() ? "" : ",", v);
  std::string out =
      fmt::format("{{\"name\":{},\"versions\":[{}],\"platform\":\"doppel\",\"inputs\":", json::quote(name), versions);
  append_tensor_metadata(out, model.inputs);
  out += ",\"outputs\":";
  append_tensor_metadata(out, model.outputs);
  return out + "}";
}

Reply infer(const ServedModel& model, std::string_view name, int64_t version, const HttpRequest& request) {
  std::string_view json_part = request.body, binary;
  if (request.inference_header_length) {
    if (*request.inference_header_length > request.body.size())
      throw ValueError(fmt::format("infer request: Inference-Header-Content-Length {} exceeds the body's {} bytes",
                                   *request.inference_header_length, request.body.size()));
    json_part = request.body.substr(0, *request.inference_header_length);
    binary = request.body.substr(*request.inference_header_length);
  }
  const InferRequest req = parse_infer_request(json_part, binary, input_specs(model));
  const std::vector<Tensor> outputs = run_model(model, req.inputs);
  std::vector<std::string> names;
  for (const auto& o : model.outputs) names.push_back(o.name);
  InferResponse res = format_infer_response(req, name, version, names, outputs);
  Reply r{200, std::move(res.json)};
  if (!res.binary.empty()) {
    r.inference_header_length = r.body.size();
    r.body += res.binary;
    r.content_type = "application/octet-stream";
  }
  return r;
}

}  // namespace

Reply handle_v2(const ModelVersions& models, const HttpRequest& request, Reply& routed) {
  const std::string_view path = request.path;
  const bool post = path.ends_with("/infer");
  const std::string_view want = post ? "POST" : "GET";
  if (request.method != want && !(want == "GET" && request.method == "HEAD")) {
    routed.route = post ? "v2_infer" : "v2_metadata";
    return method_not_allowed(request.method, want);
  }
  const auto loaded = models.snapshot();
  if (path == "/v2" || path == "/v2/health/live" || path == "/v2/health/ready") {
    routed.route = path == "/v2" ? "v2_server_metadata" : "v2_health";
    if (path == "/v2")
      return {200, "{\"name\":\"doppel-serve\",\"version\":\"1\",\"extensions\":[\"binary_tensor_data\"]}"};
    if (path == "/v2/health/live") return {200, "{\"live\":true}"};
    return loaded->empty() ? Reply{503, "{\"ready\":false}"} : Reply{200, "{\"ready\":true}"};
  }
  if (!path.starts_with(kModels))
    return error_reply(404,
                       fmt::format("no endpoint at {}; try /v2/models/{}/infer", json::quote(path), models.name()));
  std::string_view rest = path.substr(kModels.size());
  enum class What { Metadata, Ready, Infer } what = What::Metadata;
  routed.route = "v2_metadata";
  if (rest.ends_with("/infer")) {
    what = What::Infer;
    routed.route = "v2_infer";
    rest.remove_suffix(std::string_view("/infer").size());
  } else if (rest.ends_with("/ready")) {
    what = What::Ready;
    routed.route = "v2_health";
    rest.remove_suffix(std::string_view("/ready").size());
  }
  const std::optional<std::string_view> version = version_in_path(models, rest);
  int64_t number = 0;
  const auto model = resolve_version(models, *loaded, version, number);
  switch (what) {
    case What::Metadata:
      return {200, model_metadata(*model, models.name(), *loaded)};
    case What::Ready:
      return {200, fmt::format("{{\"name\":{},\"ready\":true}}", json::quote(models.name()))};
    case What::Infer:
      return infer(*model, models.name(), number, request);
  }
  return error_reply(500, "unreachable endpoint");
}

}  // namespace doppel::serve
