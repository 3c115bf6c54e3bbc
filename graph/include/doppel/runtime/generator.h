#pragma once
// doppel::runtime::Generator: greedy generation from a decoder file (models::export_decoder;
// graph/FORMAT.md, "Decoder files") by the standalone runtime alone: the prompt runs once
// through the prefill graph (the file's "inference" graph), then each new token is one run of the "decode" graph over
// the KV cache. Token for token what models::generate gives for the exported model.
//
// Part of doppel_graph_runtime: links core and kernels only.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "doppel/runtime/model.h"

namespace doppel::runtime {

struct GenerateOptions {
  int64_t max_new_tokens = 20;
  // Unset: the file's eos_token_id / pad_token_id (the exported model's config). A row that
  // emits eos is finished and gets pad from then on (pad defaults to eos); generation stops
  // when every row is finished or after max_new_tokens.
  std::optional<int64_t> eos_token_id, pad_token_id;
};

class Generator {
 public:
  // FormatError when the file is not a decoder file (no "decode" graph, no doppel.decoder metadata).
  static Generator load(const std::string& path, const LoadOptions& options = {});
  // The file's "inference" (prefill) and "decode" graphs, loaded (shared with other users, such
  // as doppel-serve's :predict).
  Generator(std::shared_ptr<const Model> prefill, std::shared_ptr<const Model> decode);

  // input_ids [B, T] int64, left-padded when rows differ, attention_mask [B, T] (1 = real
  // token; undefined = all real). Returns [B, T + n] int64: the prompt, then n <= max_new_tokens
  // generated tokens.
  Tensor generate(const Tensor& input_ids, const Tensor& attention_mask = {},
                  const GenerateOptions& options = {}) const;
  // Prompts of any lengths (each non-empty), left-padded into one batch. Returns each row's new
  // tokens: up to and including its eos, at most max_new_tokens.
  std::vector<std::vector<int64_t>> generate(const std::vector<std::vector<int64_t>>& prompts,
                                             const GenerateOptions& options = {}) const;

  std::optional<int64_t> eos_token_id() const { return eos_; }
  std::optional<int64_t> pad_token_id() const { return pad_; }
  const Model& prefill() const { return *prefill_; }
  const Model& decode() const { return *decode_; }

 private:
  std::shared_ptr<const Model> prefill_, decode_;
  size_t layers_ = 0;
  std::optional<int64_t> eos_, pad_;
};

}  // namespace doppel::runtime
