#include "doppel/models/checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "doppel/autograd.h"
#include "doppel/core/error.h"
#include "doppel/core/shape.h"
#include "doppel/io/json.h"
#include "doppel/io/safetensors.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::models {

namespace fs = std::filesystem;

namespace {

StateDict load_sharded(const fs::path& index_path) {
  std::ifstream in(index_path, std::ios::binary);
  DOPPEL_CHECK(in.good(), "from_pretrained: cannot read {}", index_path.string());
  std::ostringstream text;
  text << in.rdbuf();
  const io::json::Value index = io::json::parse(text.str(), index_path.string());
  const io::json::Value* map = index.is_object() ? index.find("weight_map") : nullptr;
  DOPPEL_CHECK_TYPED(FormatError, map != nullptr && map->is_object(), "{}: no \"weight_map\" object",
                     index_path.string());
  std::map<std::string, std::vector<std::string>> keys_of_shard;  // shard file -> keys it must hold
  for (size_t i = 0; i < map->keys.size(); ++i) {
    const io::json::Value& file = map->items[i];
    DOPPEL_CHECK_TYPED(FormatError, file.is_string() && fs::path(file.text).filename() == file.text,
                       "{}: weight_map['{}'] must be a file name in the same directory", index_path.string(),
                       map->keys[i]);
    keys_of_shard[file.text].push_back(map->keys[i]);
  }
  StateDict out;
  for (const auto& [shard, keys] : keys_of_shard) {
    const std::string path = (index_path.parent_path() / shard).string();
    io::SafetensorsFile f = io::load_safetensors(path);
    for (const std::string& key : keys) {
      Tensor t = state_find(f.tensors, key);
      DOPPEL_CHECK_TYPED(FormatError, t.defined(), "{}: weight_map puts '{}' in {}, which does not hold it",
                         index_path.string(), key, path);
      out.emplace_back(key, t);
    }
  }
  return out;
}

bool starts_with_prefix(const std::string& key, std::string_view prefix) {
  return key.size() > prefix.size() && key.compare(0, prefix.size(), prefix) == 0 && key[prefix.size()] == '.';
}

}  // namespace

StateDict load_checkpoint(const std::string& dir) {
  const fs::path single = fs::path(dir) / "model.safetensors";
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  if (fs::exists(single)) return io::load_safetensors(single.string()).tensors;
  DOPPEL_CHECK(
      fs::exists(index),
      "from_pretrained: {} holds neither model.safetensors nor model.safetensors.index.json (doppel reads "
      "safetensors checkpoints only; convert a pytorch_model.bin with save_pretrained(safe_serialization=True))",
      dir);
  return load_sharded(index);
}

LoadReport load_pretrained_weights(nn::Module& model, const StateDict& checkpoint, std::string_view base_prefix,
                                   std::string_view what) {
  const StateDict expected = model.state_dict();
  auto model_has_prefix = std::any_of(expected.begin(), expected.end(),
                                      [&](const auto& e) { return starts_with_prefix(e.first, base_prefix); });
  auto ckpt_has_prefix = std::any_of(checkpoint.begin(), checkpoint.end(),
                                     [&](const auto& e) { return starts_with_prefix(e.first, base_prefix); });
  // Checkpoint keys renamed to the model's naming (HF's base_model_prefix handling).
  std::map<std::string, Tensor> by_key;
  LoadReport report;
  for (const auto& [key, t] : checkpoint) {
    std::string k = key;
    if (model_has_prefix && !ckpt_has_prefix) {
      k = fmt::format("{}.{}", base_prefix, key);
    } else if (!model_has_prefix && ckpt_has_prefix) {
      if (!starts_with_prefix(key, base_prefix)) {
        report.unexpected.push_back(key);  // the head of a checkpoint loaded into its base model
        continue;
      }
      k = key.substr(base_prefix.size() + 1);
    }
    by_key.emplace(std::move(k), t);
  }
  StateDict to_load;
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  for (const auto& [key, target] : expected) {
    auto it = by_key.find(key);
    if (it == by_key.end()) {
      missing.push_back(fmt::format("'{}' {}", key, shape_str(target.shape())));
      continue;
    }
    used.insert(key);
    if (it->second.shape() != target.shape()) {
      mismatched.push_back(fmt::format("'{}': checkpoint {} vs model {}", key, shape_str(it->second.shape()),
                                       shape_str(target.shape())));
      continue;
    }
    to_load.emplace_back(key, to_dtype(it->second, target.dtype()));
  }
  DOPPEL_CHECK(missing.empty(), "from_pretrained({}): {} {} missing from the checkpoint: {}", what, model.type_name(),
               missing.size() == 1 ? "tensor is" : "tensors are", fmt::join(missing, ", "));
  DOPPEL_CHECK_SHAPE(mismatched.empty(),
                     "from_pretrained({}): {}: shape mismatch for {} (the config does not match "
                     "the checkpoint)",
                     what, model.type_name(), fmt::join(mismatched, "; "));
  for (const auto& [key, t] : by_key)
    if (!used.contains(key)) report.unexpected.push_back(key);
  NoGradGuard no_grad;
  model.load_state_dict(to_load, /*strict=*/false);
  return report;
}

}  // namespace doppel::models
