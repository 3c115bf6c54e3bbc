#include "doppel/runtime/generator.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "doppel/core/error.h"
#include "doppel/core/shape.h"

namespace doppel::runtime {

namespace {

std::optional<std::string> metadata_value(const Model& m, const std::string& key) {
  for (const auto& [k, v] : m.metadata().user)
    if (k == key) return v;
  return std::nullopt;
}

std::optional<int64_t> metadata_int(const Model& m, const std::string& key) {
  const auto text = metadata_value(m, key);
  if (!text) return std::nullopt;
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size())
    throw FormatError(fmt::format("decoder file: metadata '{}' is '{}', not an integer", key, *text));
  return v;
}

Tensor int64_tensor(IntList shape, const std::vector<int64_t>& values) {
  Tensor t = make_tensor(shape, DType::Int64);
  std::copy(values.begin(), values.end(), t.data_ptr<int64_t>());
  return t;
}

std::vector<int64_t> int64_values(const Tensor& t) {
  const Tensor c = contiguous_of(t);
  const int64_t* p = c.data_ptr<int64_t>();
  return {p, p + c.numel()};
}

// The index of each row's largest logit at the last position of logits [B, L, V] (the first
// one on ties, NaN counting as largest: torch.argmax).
std::vector<int64_t> argmax_last(const Tensor& logits) {
  const int64_t B = logits.size(0), L = logits.size(1), V = logits.size(2);
  const Tensor last = make_view(logits, {B, V}, {logits.strides()[0], logits.strides()[2]},
                                logits.storage_offset() + (L - 1) * logits.strides()[1]);
  Tensor values = make_tensor({B, V}, DType::Float64);
  copy_strided(values, last);
  const double* p = values.data_ptr<double>();
  std::vector<int64_t> out(size_t(B), 0);
  for (int64_t b = 0; b < B; ++b) {
    const double* row = p + b * V;
    for (int64_t v = 1; v < V && !std::isnan(row[out[size_t(b)]]); ++v)
      if (std::isnan(row[v]) || row[v] > row[out[size_t(b)]]) out[size_t(b)] = v;
  }
  return out;
}

}  // namespace

Generator Generator::load(const std::string& path, const LoadOptions& options) {
  auto prefill = std::make_shared<const Model>(Model::load(path, "inference", options));
  return Generator(std::move(prefill), std::make_shared<const Model>(Model::load(path, "decode", options)));
}

Generator::Generator(std::shared_ptr<const Model> prefill, std::shared_ptr<const Model> decode)
    : prefill_(std::move(prefill)), decode_(std::move(decode)) {
  const auto layers = metadata_int(*prefill_, "doppel.decoder");
  if (!layers || *layers <= 0)
    throw FormatError("decoder file: no 'doppel.decoder' metadata (write decoder files with models::export_decoder)");
  layers_ = size_t(*layers);
  const size_t outputs = 1 + 2 * layers_;
  if (prefill_->signature().inputs.size() != 3 || prefill_->signature().outputs.size() != outputs ||
      decode_->signature().inputs.size() != 3 + 2 * layers_ || decode_->signature().outputs.size() != outputs)
    throw FormatError(fmt::format(
        "decoder file: the prefill and decode graphs do not have the signatures of a {}-layer decoder (prefill: 3 "
        "inputs, {} outputs; decode: {} inputs, {} outputs)",
        layers_, outputs, 3 + 2 * layers_, outputs));
  eos_ = metadata_int(*prefill_, "eos_token_id");
  pad_ = metadata_int(*prefill_, "pad_token_id");
}

Tensor Generator::generate(const Tensor& input_ids, const Tensor& attention_mask,
                           const GenerateOptions& options) const {
  DOPPEL_CHECK_SHAPE(input_ids.dim() == 2 && input_ids.size(1) > 0,
                     "Generator::generate: input_ids {} must be [batch, tokens] with at least one token",
                     shape_str(input_ids.shape()));
  DOPPEL_CHECK_DTYPE(input_ids.dtype() == DType::Int64, "Generator::generate: input_ids must be int64, got {}",
                     dtype_name(input_ids.dtype()));
  DOPPEL_CHECK(options.max_new_tokens >= 0, "Generator::generate: max_new_tokens must be >= 0, got {}",
               options.max_new_tokens);
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  std::vector<int64_t> mask(size_t(B * T), 1);
  if (attention_mask.defined()) {
    DOPPEL_CHECK_SHAPE(attention_mask.shape() == input_ids.shape(),
                       "Generator::generate: attention_mask {} must have input_ids' shape {}",
                       shape_str(attention_mask.shape()), shape_str(input_ids.shape()));
    Tensor m = make_tensor({B, T}, DType::Int64);
    copy_strided(m, attention_mask);
    mask = int64_values(m);
  }
  const std::optional<int64_t> eos = options.eos_token_id ? options.eos_token_id : eos_;
  const std::optional<int64_t> pad = options.pad_token_id ? options.pad_token_id : pad_ ? pad_ : eos;
  // HF's position ids: the count of real tokens before each one; 1 at padding (never attended).
  std::vector<int64_t> pos(size_t(B * T)), last_pos(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    int64_t real = 0;
    for (int64_t t = 0; t < T; ++t) {
      const size_t i = size_t(b * T + t);
      real += mask[i] != 0;
      pos[i] = mask[i] != 0 ? real - 1 : 1;
    }
    last_pos[size_t(b)] = pos[size_t(b * T + T - 1)];
  }
  std::vector<std::vector<int64_t>> rows(static_cast<size_t>(B));
  const std::vector<int64_t> prompt = int64_values(input_ids);
  for (int64_t b = 0; b < B; ++b) rows[size_t(b)].assign(prompt.begin() + b * T, prompt.begin() + (b + 1) * T);

  std::vector<Tensor> cache;
  std::vector<bool> finished(static_cast<size_t>(B), false);
  int64_t past = T;
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    std::vector<Tensor> out;
    if (step == 0) {
      out = prefill_->run({contiguous_of(input_ids), int64_tensor({B, T}, mask), int64_tensor({B, T}, pos)});
    } else {
      std::vector<int64_t> ids(static_cast<size_t>(B));
      for (int64_t b = 0; b < B; ++b) ids[size_t(b)] = rows[size_t(b)].back(), ++last_pos[size_t(b)];
      std::vector<Tensor> in = {int64_tensor({B, 1}, ids), int64_tensor({B, 1}, last_pos),
                                int64_tensor({B, past}, mask)};
      in.insert(in.end(), cache.begin(), cache.end());
      out = decode_->run(in);
      for (int64_t b = B - 1; b >= 0; --b) mask.insert(mask.begin() + (b + 1) * past, 1);
      ++past;
    }
    cache.assign(out.begin() + 1, out.end());
    std::vector<int64_t> next = argmax_last(out[0]);
    bool all_finished = bool(eos);
    for (int64_t b = 0; b < B; ++b) {
      if (eos) {
        if (finished[size_t(b)]) next[size_t(b)] = *pad;
        finished[size_t(b)] = finished[size_t(b)] || next[size_t(b)] == *eos;
        all_finished = all_finished && finished[size_t(b)];
      }
      rows[size_t(b)].push_back(next[size_t(b)]);
    }
    if (all_finished) break;
  }
  const int64_t total = int64_t(rows[0].size());
  std::vector<int64_t> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return int64_tensor({B, total}, flat);
}

std::vector<std::vector<int64_t>> Generator::generate(const std::vector<std::vector<int64_t>>& prompts,
                                                      const GenerateOptions& options) const {
  DOPPEL_CHECK(!prompts.empty(), "Generator::generate: no prompts");
  size_t T = 0;
  for (size_t b = 0; b < prompts.size(); ++b) {
    DOPPEL_CHECK(!prompts[b].empty(), "Generator::generate: prompt {} is empty (each prompt needs a token)", b);
    T = std::max(T, prompts[b].size());
  }
  const int64_t B = int64_t(prompts.size());
  std::vector<int64_t> ids(size_t(B) * T, pad_.value_or(eos_.value_or(0))), mask(size_t(B) * T, 0);
  for (size_t b = 0; b < prompts.size(); ++b) {
    const size_t start = b * T + T - prompts[b].size();
    std::copy(prompts[b].begin(), prompts[b].end(), ids.begin() + int64_t(start));
    std::fill(mask.begin() + int64_t(start), mask.begin() + int64_t(b * T + T), 1);
  }
  const Tensor out = generate(int64_tensor({B, int64_t(T)}, ids), int64_tensor({B, int64_t(T)}, mask), options);
  const std::optional<int64_t> eos = options.eos_token_id ? options.eos_token_id : eos_;
  const std::vector<int64_t> all = int64_values(out);
  const size_t total = size_t(out.size(1));
  std::vector<std::vector<int64_t>> generated(prompts.size());
  for (size_t b = 0; b < prompts.size(); ++b)
    for (size_t t = T; t < total; ++t) {
      generated[b].push_back(all[b * total + t]);
      if (eos && all[b * total + t] == *eos) break;
    }
  return generated;
}

}  // namespace doppel::runtime
