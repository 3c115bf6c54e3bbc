// :generate — greedy generation by a decoder file (models::export_decoder): prompt ids in,
// generated ids out; tokenization stays with the client.
//
//   POST /v1/models/<name>:generate
//   {"input_ids": [[15496, 995], [40, 1101, 257]], "max_new_tokens": 32, "eos_token_id": 50256}
//   → {"output_ids": [[11, 314, ...], [...]]}
//
// Rows may differ in length (the runtime left-pads them into one batch). Each answer row holds
// the new ids only, up to and including its eos. "max_new_tokens" defaults to 20 and
// "eos_token_id" (null or absent) to the model's own.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "doppel/io/json.h"
#include "routes_common.h"

namespace doppel::serve {

namespace json = io::json;

namespace {

constexpr int64_t kMaxNewTokens = 1 << 16;
constexpr int64_t kMaxTokenId = int64_t(1) << 62;

// A whole number in [0, max] (`what` names it in the error).
int64_t whole_number(const json::Value& v, std::string_view what, int64_t max) {
  const std::optional<int64_t> n = v.is_number() ? v.as_int64() : std::nullopt;
  if (!n || *n < 0 || *n > max)
    throw ValueError(fmt::format("generate request: {} must be a whole number in [0, {}], got {}", what, max,
                                 v.is_number() ? v.text : std::string(v.is_string() ? "a string" : "a non-number")));
  return *n;
}

GenerateRequest parse_generate_request(std::string_view body) {
  const json::Value root = json::parse(body, "generate request");
  if (!root.is_object())
    throw ValueError(
        "generate request: the body must be a JSON object {\"input_ids\": [[ids], ...], \"max_new_tokens\": n}");
  for (const std::string& key : root.keys)
    if (key != "input_ids" && key != "max_new_tokens" && key != "eos_token_id")
      throw ValueError(
          fmt::format("generate request: unknown key {} (it takes \"input_ids\", \"max_new_tokens\", \"eos_token_id\")",
                      json::quote(key)));
  GenerateRequest req;
  const json::Value* ids = root.find("input_ids");
  if (ids == nullptr || !ids->is_array() || ids->items.empty())
    throw ValueError(
        "generate request: \"input_ids\" must be a non-empty list of prompts, each a list of token ids: "
        "[[15496, 995], [40, 1101]]");
  for (size_t r = 0; r < ids->items.size(); ++r) {
    const json::Value& row = ids->items[r];
    if (!row.is_array() || row.items.empty())
      throw ValueError(fmt::format(
          "generate request: input_ids[{}] must be a non-empty list of token ids (a batch is a list of lists)", r));
    std::vector<int64_t>& prompt = req.prompts.emplace_back();
    for (size_t t = 0; t < row.items.size(); ++t)
      prompt.push_back(whole_number(row.items[t], fmt::format("input_ids[{}][{}]", r, t), kMaxTokenId));
  }
  if (const json::Value* n = root.find("max_new_tokens"))
    req.max_new_tokens = whole_number(*n, "max_new_tokens", kMaxNewTokens);
  if (const json::Value* e = root.find("eos_token_id"); e != nullptr && e->kind != json::Value::Kind::Null)
    req.eos_token_id = whole_number(*e, "eos_token_id", kMaxTokenId);
  return req;
}

}  // namespace

Reply generate_reply(const ServedModel& model, std::string_view model_name, std::string_view body) {
  if (!model.generate)
    throw RouteError(400, fmt::format("model {} is not a decoder file: :generate needs a file written by "
                                      "export_decoder (its prefill and decode graphs); use :predict",
                                      json::quote(model_name)));
  const std::vector<std::vector<int64_t>> out = model.generate(parse_generate_request(body));
  std::string text = "{\"output_ids\":[";
  for (size_t r = 0; r < out.size(); ++r) text += fmt::format("{}[{}]", r ? "," : "", fmt::join(out[r], ","));
  return {200, text + "]}"};
}

}  // namespace doppel::serve
