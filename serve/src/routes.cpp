// Routing, TF Serving's REST API (status, metadata, :predict, :classify, :regress) and the
// mapping of errors to HTTP statuses: everything the server answers, independent of the HTTP
// library (see server.h). The KServe v2 routes are in kserve_routes.cpp.
#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "doppel/io/json.h"
#include "doppel/serve/metrics.h"
#include "doppel/serve/model_versions.h"
#include "doppel/serve/predict_json.h"
#include "doppel/serve/server.h"
#include "routes_common.h"

namespace doppel::serve {

namespace json = io::json;

Reply error_reply(int status, std::string_view message) { return {status, error_json(message)}; }

std::shared_ptr<const ServedModel> resolve_version(const ModelVersions& models, const ModelVersions::Map& loaded,
                                                   std::optional<std::string_view> version, int64_t& number) {
  if (loaded.empty())
    throw RouteError(503, fmt::format("model {} has no version loaded yet", json::quote(models.name())));
  if (!version) {
    number = loaded.rbegin()->first;
    return loaded.rbegin()->second;
  }
  int64_t v = -1;
  const auto [p, ec] = std::from_chars(version->data(), version->data() + version->size(), v);
  const auto it = ec == std::errc() && p == version->data() + version->size() ? loaded.find(v) : loaded.end();
  if (it == loaded.end()) {
    std::string have;
    for (const auto& [n, m] : loaded) have += (have.empty() ? "" : ", ") + std::to_string(n);
    throw RouteError(404, fmt::format("model {} has no version {} loaded (loaded: {})", json::quote(models.name()),
                                      json::quote(version->substr(0, 40)), have));
  }
  number = v;
  return it->second;
}

std::optional<std::string_view> version_in_path(const ModelVersions& models, std::string_view rest) {
  std::string_view name = rest;
  std::optional<std::string_view> version;
  if (const size_t v = rest.find("/versions/"); v != std::string_view::npos) {
    name = rest.substr(0, v);
    version = rest.substr(v + std::string_view("/versions/").size());
  }
  if (name != models.name())
    throw RouteError(
        404, fmt::format("model {} not found (this server serves {})", json::quote(name), json::quote(models.name())));
  return version;
}

Reply method_not_allowed(std::string_view method, std::string_view want) {
  return {405, error_json(fmt::format("{} is not allowed here; use {}", method, want)), std::string(want)};
}

std::vector<InputSpec> input_specs(const ServedModel& model) {
  std::vector<InputSpec> specs;
  for (const auto& in : model.inputs) specs.push_back({in.name, in.dtype});
  return specs;
}

std::vector<Tensor> run_model(const ServedModel& model, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> outputs = model.run(inputs);
  DOPPEL_CHECK_TYPED(InternalError, outputs.size() == model.outputs.size(),
                     "the model returned {} outputs but its signature has {}", outputs.size(), model.outputs.size());
  return outputs;
}

namespace {

constexpr std::string_view kV1 = "/v1/models/";

// TF Serving's DataType enum names.
std::string_view tf_dtype(DType d) {
  switch (d) {
    case DType::Float32:
      return "DT_FLOAT";
    case DType::Float64:
      return "DT_DOUBLE";
    case DType::Float16:
      return "DT_HALF";
    case DType::BFloat16:
      return "DT_BFLOAT16";
    case DType::Int8:
      return "DT_INT8";
    case DType::UInt8:
      return "DT_UINT8";
    case DType::Int32:
      return "DT_INT32";
    case DType::Int64:
      return "DT_INT64";
    case DType::Bool:
      return "DT_BOOL";
  }
  return "DT_INVALID";
}

void append_tensor_infos(std::string& out, const std::vector<ServedTensor>& tensors) {
  out += '{';
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (i) out += ',';
    out += fmt::format("{}:{{\"dtype\":\"{}\",\"tensor_shape\":{{\"dim\":[", json::quote(t.name), tf_dtype(t.dtype));
    for (size_t d = 0; d < t.shape.size(); ++d) {
      if (d) out += ',';
      // protobuf's JSON mapping writes int64 as a string; TF Serving names dims by their symbol.
      out += fmt::format("{{\"size\":\"{}\",\"name\":{}}}", t.shape[d],
                         json::quote(d < t.symbols.size() ? t.symbols[d] : ""));
    }
    out += fmt::format("],\"unknown_rank\":false}},\"name\":{}}}", json::quote(t.name));
  }
  out += '}';
}

std::string status_json(const ModelVersions::Map& loaded, std::optional<int64_t> only) {
  std::string out = "{\"model_version_status\":[";
  bool first = true;
  // Newest first, like TF Serving.
  for (auto it = loaded.rbegin(); it != loaded.rend(); ++it) {
    if (only && it->first != *only) continue;
    if (!first) out += ',';
    first = false;
    out += fmt::format(
        "{{\"version\":\"{}\",\"state\":\"AVAILABLE\",\"status\":{{\"error_code\":\"OK\",\"error_message\":\"\"}}}}",
        it->first);
  }
  return out + "]}";
}

std::string metadata_json(const ServedModel& model, std::string_view name, int64_t version) {
  std::string out = fmt::format(
      "{{\"model_spec\":{{\"name\":{},\"signature_name\":\"\",\"version\":\"{}\"}},"
      "\"metadata\":{{\"signature_def\":{{\"signature_def\":{{\"serving_default\":{{\"inputs\":",
      json::quote(name), version);
  append_tensor_infos(out, model.inputs);
  out += ",\"outputs\":";
  append_tensor_infos(out, model.outputs);
  out += ",\"method_name\":\"tensorflow/serving/predict\"}}}}}";
  return out;
}

std::vector<std::string> output_names(const ServedModel& model) {
  std::vector<std::string> names;
  for (const auto& o : model.outputs) names.push_back(o.name);
  return names;
}

Reply predict(const ServedModel& model, std::string_view body) {
  const PredictRequest req = parse_predict_request(body, input_specs(model));
  if (req.format == RequestFormat::Examples)
    throw ValueError("predict request: \"examples\" is for :classify and :regress; :predict takes \"instances\"");
  const std::vector<Tensor> outputs = run_model(model, req.inputs);
  return {200, format_predict_response(req.format, output_names(model), outputs)};
}

enum class Endpoint { Status, Metadata, Predict, Classify, Regress, Generate };

// :classify needs one floating output of class scores [batch, classes]; :regress one floating
// output of one value per example ([batch] or [batch, 1]). Throws RouteError(400) otherwise.
void check_fits(const ServedModel& model, Endpoint e) {
  const bool classify = e == Endpoint::Classify;
  const auto& outs = model.outputs;
  const bool fits = outs.size() == 1 && is_floating(outs[0].dtype) &&
                    (classify ? outs[0].shape.size() == 2 && outs[0].shape[1] >= 1
                              : outs[0].shape.size() == 1 || (outs[0].shape.size() == 2 && outs[0].shape[1] == 1));
  if (!fits)
    throw RouteError(
        400, fmt::format("the model's signature does not fit :{}: it needs one floating output of {} "
                         "(this model has {} output(s)); use :predict",
                         classify ? "classify" : "regress",
                         classify ? "class scores [batch, classes]" : "one value per example [batch]", outs.size()));
}

// {"results": [[["0", s0], ["1", s1], ...], ...]} or {"results": [v0, v1, ...]}.
Reply classify_or_regress(const ServedModel& model, std::string_view body, Endpoint e) {
  check_fits(model, e);
  const PredictRequest req = parse_predict_request(body, input_specs(model));
  if (req.format != RequestFormat::Examples)
    throw ValueError(fmt::format(":{} takes {{\"examples\": [{{\"input name\": value, ...}}, ...]}}",
                                 e == Endpoint::Classify ? "classify" : "regress"));
  const Tensor out = contiguous_of(run_model(model, req.inputs)[0]);
  const Tensor values = make_tensor({out.numel()}, DType::Float64);
  DOPPEL_DISPATCH_ALL(out.dtype(), "classify", [&]<typename scalar_t>() {
    const auto* p = static_cast<const scalar_t*>(out.raw_data());
    auto* q = static_cast<double*>(values.raw_data());
    for (int64_t i = 0; i < out.numel(); ++i) q[i] = double(p[i]);
  });
  const auto* v = static_cast<const double*>(values.raw_data());
  std::string text = "{\"results\":[";
  const int64_t rows = out.dim() ? out.size(0) : 0, cols = out.dim() == 2 ? out.size(1) : 1;
  // Shortest round-trip text in the output's own precision (a float score is not widened).
  const bool narrow = out.dtype() != DType::Float64;
  auto number = [narrow](double x) {
    if (std::isnan(x)) return std::string("NaN");
    if (std::isinf(x)) return std::string(x > 0 ? "Infinity" : "-Infinity");
    return narrow ? fmt::format("{}", float(x)) : fmt::format("{}", x);
  };
  for (int64_t r = 0; r < rows; ++r) {
    if (r) text += ',';
    if (e == Endpoint::Regress) {
      text += number(v[r * cols]);
      continue;
    }
    text += '[';
    for (int64_t c = 0; c < cols; ++c) text += fmt::format("{}[\"{}\",{}]", c ? "," : "", c, number(v[r * cols + c]));
    text += ']';
  }
  return {200, text + "]}"};
}

Reply handle_v1(const ModelVersions& models, const HttpRequest& request, Reply& routed) {
  std::string_view rest = request.path.substr(kV1.size());
  Endpoint endpoint = Endpoint::Status;
  routed.route = "v1_status";
  for (const auto& [suffix, e, route] : {std::tuple{std::string_view(":predict"), Endpoint::Predict, "v1_predict"},
                                         std::tuple{std::string_view(":classify"), Endpoint::Classify, "v1_classify"},
                                         std::tuple{std::string_view(":regress"), Endpoint::Regress, "v1_regress"},
                                         std::tuple{std::string_view(":generate"), Endpoint::Generate, "v1_generate"},
                                         std::tuple{std::string_view("/metadata"), Endpoint::Metadata, "v1_metadata"}})
    if (rest.ends_with(suffix)) {
      endpoint = e;
      routed.route = route;
      rest.remove_suffix(suffix.size());
      break;
    }
  if (endpoint == Endpoint::Status)
    if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos)
      return error_reply(404, fmt::format("unsupported method {} (doppel-serve implements :predict, :classify, "
                                          ":regress and :generate)",
                                          json::quote(rest.substr(colon))));
  const std::optional<std::string_view> version = version_in_path(models, rest);
  const std::string_view want = endpoint == Endpoint::Status || endpoint == Endpoint::Metadata ? "GET" : "POST";
  if (request.method != want && !(want == "GET" && request.method == "HEAD"))
    return method_not_allowed(request.method, want);
  const auto loaded = models.snapshot();
  int64_t number = 0;
  const auto model = resolve_version(models, *loaded, version, number);
  switch (endpoint) {
    case Endpoint::Status:
      return {200, status_json(*loaded, version ? std::optional(number) : std::nullopt)};
    case Endpoint::Metadata:
      return {200, metadata_json(*model, models.name(), number)};
    case Endpoint::Predict:
      return predict(*model, request.body);
    case Endpoint::Classify:
    case Endpoint::Regress:
      return classify_or_regress(*model, request.body, endpoint);
    case Endpoint::Generate:
      return generate_reply(*model, models.name(), request.body);
  }
  return error_reply(500, "unreachable endpoint");
}

Reply route(const ModelVersions& models, const Metrics& metrics, const HttpRequest& request, Reply& routed) {
  if (request.path.starts_with(kV1)) return handle_v1(models, request, routed);
  if (request.path == "/v2" || request.path.starts_with("/v2/")) return handle_v2(models, request, routed);
  if (request.path == "/metrics") {
    routed.route = "metrics";
    if (request.method != "GET" && request.method != "HEAD") return method_not_allowed(request.method, "GET");
    Reply r{200, metrics.prometheus_text()};
    r.content_type = "text/plain; version=0.0.4";
    return r;
  }
  return error_reply(404, fmt::format("no endpoint at {}; try /v1/models/{}:predict or /v2/models/{}/infer",
                                      json::quote(request.path), models.name(), models.name()));
}

}  // namespace

Reply handle_request(const ModelVersions& models, const Metrics& metrics, const HttpRequest& request) {
  Reply routed;  // carries the route label out of the try block
  Reply r = [&]() -> Reply {
    try {
      return route(models, metrics, request, routed);
    } catch (const RouteError& e) {
      return error_reply(e.status, e.what());
    } catch (const InternalError& e) {
      return error_reply(500, e.what());
    } catch (const OutOfMemoryError& e) {
      return error_reply(500, e.what());
    } catch (const Error& e) {
      // FormatError (malformed JSON), ValueError/ShapeError/DTypeError/IndexError: the request
      // does not fit the model.
      return error_reply(400, e.what());
    } catch (const std::bad_alloc&) {
      return error_reply(500, "out of memory while serving the request");
    } catch (const std::exception& e) {
      return error_reply(500, e.what());
    } catch (...) {
      return error_reply(500, "unknown internal error");
    }
  }();
  r.route = routed.route;
  return r;
}

}  // namespace doppel::serve
