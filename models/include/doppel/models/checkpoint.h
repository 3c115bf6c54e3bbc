#pragma once
// HF checkpoints: the tensors of model.safetensors or of a sharded checkpoint
// (model.safetensors.index.json + its shards), and their loading into a model with HF's rules.
#include <string>
#include <string_view>
#include <vector>

#include "doppel/nn/module.h"
#include "doppel/state_dict.h"

namespace doppel::models {

// Every tensor of the checkpoint in `dir`: model.safetensors, else the shards listed by
// model.safetensors.index.json's "weight_map" (each key must be in the shard it names). A
// directory with neither is a ValueError naming both files; malformed files are FormatErrors.
StateDict load_checkpoint(const std::string& dir);

struct LoadReport {
  std::vector<std::string> unexpected;  // checkpoint keys the model has no use for (HF ignores them)
};

// Copies `checkpoint` into `model`'s parameters and buffers, converting each tensor to the
// dtype of the model's tensor (f32/bf16/f16 checkpoints load into any floating model). As HF:
//  - `base_prefix` ("transformer", "bert", "model") is added to or stripped from the checkpoint's
//    keys when the checkpoint holds the base model and the model has a head, or the other way
//    round;
//  - tied weights are one tensor, which the model's state dict lists once (under its first name,
//    the embedding's), so HF checkpoints, which store them once, load as they are;
//  - keys the model lacks are reported, not loaded.
// A missing key is a ValueError, a shape mismatch a ShapeError; both name every such key (with
// the checkpoint's and the model's shapes) and `what` (the checkpoint's directory).
LoadReport load_pretrained_weights(nn::Module& model, const StateDict& checkpoint, std::string_view base_prefix,
                                   std::string_view what);

}  // namespace doppel::models
