// Routing, the status/metadata documents and the mapping of errors to HTTP statuses: everything
// the server answers, independent of the HTTP library (see server.h).
#include <fmt/format.h>

#include "doppel/io/json.h"
#include "doppel/serve/predict_json.h"
#include "doppel/serve/server.h"

namespace doppel::serve {

namespace json = io::json;

namespace {

constexpr std::string_view kPrefix = "/v1/models/";
constexpr std::string_view kVersion = "1";

Reply error_reply(int status, std::string_view message) { return {status, error_json(message), ""}; }

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

std::string status_json() {
  return fmt::format(
      "{{\"model_version_status\":[{{\"version\":\"{}\",\"state\":\"AVAILABLE\","
      "\"status\":{{\"error_code\":\"OK\",\"error_message\":\"\"}}}}]}}",
      kVersion);
}

std::string metadata_json(const ServedModel& model) {
  std::string out = fmt::format(
      "{{\"model_spec\":{{\"name\":{},\"signature_name\":\"\",\"version\":\"{}\"}},"
      "\"metadata\":{{\"signature_def\":{{\"signature_def\":{{\"serving_default\":{{\"inputs\":",
      json::quote(model.name), kVersion);
  append_tensor_infos(out, model.inputs);
  out += ",\"outputs\":";
  append_tensor_infos(out, model.outputs);
  out += ",\"method_name\":\"tensorflow/serving/predict\"}}}}}";
  return out;
}

Reply predict(const ServedModel& model, const std::string& body) {
  std::vector<InputSpec> specs;
  for (const auto& in : model.inputs) specs.push_back({in.name, in.dtype});
  const PredictRequest req = parse_predict_request(body, specs);
  const std::vector<Tensor> outputs = model.run(req.inputs);
  DOPPEL_CHECK_TYPED(InternalError, outputs.size() == model.outputs.size(),
                     "predict: the model returned {} outputs but its signature has {}", outputs.size(),
                     model.outputs.size());
  std::vector<std::string> names;
  for (const auto& o : model.outputs) names.push_back(o.name);
  return {200, format_predict_response(req.format, names, outputs), ""};
}

enum class Endpoint { Status, Metadata, Predict };

}  // namespace

Reply handle_request(const ServedModel& model, const std::string& method, const std::string& path,
                     const std::string& body) {
  try {
    if (!path.starts_with(kPrefix))
      return error_reply(404,
                         fmt::format("no endpoint at {}; try /v1/models/{}:predict", json::quote(path), model.name));
    std::string_view rest = std::string_view(path).substr(kPrefix.size());
    Endpoint endpoint = Endpoint::Status;
    if (rest.ends_with(":predict")) {
      endpoint = Endpoint::Predict;
      rest.remove_suffix(std::string_view(":predict").size());
    } else if (rest.ends_with("/metadata")) {
      endpoint = Endpoint::Metadata;
      rest.remove_suffix(std::string_view("/metadata").size());
    } else if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
      return error_reply(404, fmt::format("unsupported method {} (doppel-serve implements :predict)",
                                          json::quote(rest.substr(colon))));
    }
    std::string_view name = rest;
    if (const size_t v = rest.find("/versions/"); v != std::string_view::npos) {
      name = rest.substr(0, v);
      const std::string_view version = rest.substr(v + std::string_view("/versions/").size());
      if (version != kVersion)
        return error_reply(404, fmt::format("model {} has no version {} (it serves version {})",
                                            json::quote(model.name), json::quote(version), kVersion));
    }
    if (name != model.name)
      return error_reply(
          404, fmt::format("model {} not found (this server serves {})", json::quote(name), json::quote(model.name)));
    const std::string_view want = endpoint == Endpoint::Predict ? "POST" : "GET";
    if (method != want && !(want == "GET" && method == "HEAD"))
      return {405, error_json(fmt::format("{} is not allowed here; use {}", method, want)), std::string(want)};
    switch (endpoint) {
      case Endpoint::Status:
        return {200, status_json(), ""};
      case Endpoint::Metadata:
        return {200, metadata_json(model), ""};
      case Endpoint::Predict:
        return predict(model, body);
    }
    return error_reply(500, "unreachable endpoint");
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
}

}  // namespace doppel::serve
