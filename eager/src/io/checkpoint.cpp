#include "doppel/io/checkpoint.h"

#include <fmt/format.h>

namespace doppel::io {

const StateDict& Checkpoint::part(std::string_view name) const {
  for (const auto& [n, sd] : parts)
    if (n == name) return sd;
  std::vector<std::string_view> names;
  for (const auto& p : parts) names.push_back(p.first);
  throw ValueError(fmt::format("checkpoint has no part \"{}\" (it has: {})", name, fmt::join(names, ", ")));
}

bool Checkpoint::has_part(std::string_view name) const {
  for (const auto& p : parts)
    if (p.first == name) return true;
  return false;
}

void save_checkpoint(const std::string& path, const CheckpointParts& parts, const Metadata& metadata) {
  DOPPEL_CHECK(!metadata.contains(std::string(kCheckpointPartsKey)), "save_checkpoint: metadata key \"{}\" is reserved",
               kCheckpointPartsKey);
  StateDict all;
  std::string names;
  for (const auto& [name, sd] : parts) {
    DOPPEL_CHECK(!name.empty() && name.find_first_of("/,") == std::string::npos,
                 "save_checkpoint: part name \"{}\" must be non-empty and contain no '/' or ','", name);
    for (const auto& [n, _] : parts)
      if (&n == &name)
        break;
      else
        DOPPEL_CHECK(n != name, "save_checkpoint: part \"{}\" appears twice", name);
    if (!names.empty()) names += ',';
    names += name;
    for (const auto& [key, t] : sd) all.emplace_back(name + "/" + key, t);
  }
  Metadata meta = metadata;
  meta.emplace(kCheckpointPartsKey, names);
  save_safetensors(path, all, meta);
}

Checkpoint load_checkpoint(const std::string& path) {
  SafetensorsFile f = load_safetensors(path);
  auto it = f.metadata.find(std::string(kCheckpointPartsKey));
  if (it == f.metadata.end())
    throw FormatError(
        fmt::format("load_checkpoint: '{}' is a safetensors file but not a doppel checkpoint (no \"{}\" "
                    "metadata); use load_safetensors for plain files",
                    path, kCheckpointPartsKey));
  Checkpoint ck;
  const std::string part_list = it->second;
  std::string_view names = part_list;
  while (!names.empty()) {
    const size_t comma = names.find(',');
    ck.parts.emplace_back(std::string(names.substr(0, comma)), StateDict{});
    names = comma == std::string_view::npos ? std::string_view{} : names.substr(comma + 1);
  }
  f.metadata.erase(it);
  for (auto& [key, t] : f.tensors) {
    const size_t slash = key.find('/');
    StateDict* target = nullptr;
    if (slash != std::string::npos)
      for (auto& [n, sd] : ck.parts)
        if (std::string_view(key).substr(0, slash) == n) target = &sd;
    if (!target)
      throw FormatError(
          fmt::format("load_checkpoint: '{}': tensor \"{}\" belongs to none of the parts listed in \"{}\" ({})", path,
                      key, kCheckpointPartsKey, part_list));
    target->emplace_back(key.substr(slash + 1), std::move(t));
  }
  ck.metadata = std::move(f.metadata);
  return ck;
}

}  // namespace doppel::io
