#pragma once
// What the TF Serving routes (routes.cpp) and the KServe v2 routes (kserve_routes.cpp) share.
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/serve/model_versions.h"
#include "doppel/serve/predict_json.h"
#include "doppel/serve/server.h"

namespace doppel::serve {

// An answer other than 400/500 decided while routing (404 unknown version, 503 nothing loaded),
// thrown so that helpers can stop the request; handle_request turns it into the reply.
struct RouteError : std::runtime_error {
  RouteError(int status_, const std::string& message) : std::runtime_error(message), status(status_) {}
  int status;
};

Reply error_reply(int status, std::string_view message);

// The loaded version `version` (a decimal number) or, without one, the newest; its number in
// `number`. RouteError 404 when it is not loaded, 503 when nothing is.
std::shared_ptr<const ServedModel> resolve_version(const ModelVersions& models, const ModelVersions::Map& loaded,
                                                   std::optional<std::string_view> version, int64_t& number);

// "<name>[/versions/<N>]" after the protocol's prefix: the version part (nullopt without one).
// RouteError 404 when <name> is not the served model.
std::optional<std::string_view> version_in_path(const ModelVersions& models, std::string_view rest);

// 405 naming the method to use (also in the Allow header).
Reply method_not_allowed(std::string_view method, std::string_view want);

std::vector<InputSpec> input_specs(const ServedModel& model);

// model.run, checking that it returned one tensor per signature output.
std::vector<Tensor> run_model(const ServedModel& model, const std::vector<Tensor>& inputs);

// :generate (generate_route.cpp): the request's prompts through model.generate.
Reply generate_reply(const ServedModel& model, std::string_view model_name, std::string_view body);

// The /v2 routes; sets routed.route.
Reply handle_v2(const ModelVersions& models, const HttpRequest& request, Reply& routed);

}  // namespace doppel::serve
