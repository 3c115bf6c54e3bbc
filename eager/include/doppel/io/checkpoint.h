#pragma once
// Checkpoints: several state dicts (model, optimizer, scheduler, ...) in one safetensors file.
// Each tensor is stored as "<part>/<key>", and the ordered list of parts is kept in the
// metadata under "doppel.checkpoint.parts" so that empty parts (an optimizer before its first
// step) survive the round trip. The file is written atomically (see save_safetensors).
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "doppel/io/safetensors.h"

namespace doppel::io {

using CheckpointParts = std::vector<std::pair<std::string, StateDict>>;

struct Checkpoint {
  CheckpointParts parts;  // in the order they were saved
  Metadata metadata;      // the user's metadata (the parts list is removed)

  // The state dict saved as `name`; ValueError naming the available parts if there is none.
  const StateDict& part(std::string_view name) const;
  bool has_part(std::string_view name) const;
};

inline constexpr std::string_view kCheckpointPartsKey = "doppel.checkpoint.parts";

// Part names must be non-empty and free of '/' and ','; keys within a part must be unique.
void save_checkpoint(const std::string& path, const CheckpointParts& parts, const Metadata& metadata = {});
// FormatError if the file is not a valid safetensors file or not a doppel checkpoint.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace doppel::io
