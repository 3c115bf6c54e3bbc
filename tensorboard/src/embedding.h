#pragma once
// add_embedding's files for TensorBoard's projector, as PyTorch writes them.
#include <optional>
#include <string>
#include <vector>

#include "doppel/tensorboard/summary_writer.h"
#include "tensorboard/plugins/projector/projector_config.pb.h"

namespace doppel::tensorboard::detail {

// Writes <log_dir>/<step, 5 digits>/<tag, with % / \ escaped as %25 %2f %5c>/tensors.tsv (and
// metadata.tsv, sprite.png), adds the embedding to `config` and rewrites
// <log_dir>/projector_config.pbtxt with all of them. ValueError naming a file it cannot write.
void write_embedding(const std::string& log_dir, ::tensorboard::projector::ProjectorConfig& config, const Tensor& mat,
                     const std::optional<EmbeddingMetadata>& metadata, const std::optional<Tensor>& label_img,
                     int64_t step, const std::string& tag);

}  // namespace doppel::tensorboard::detail
