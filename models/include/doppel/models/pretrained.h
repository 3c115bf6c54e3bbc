#pragma once
// The from_pretrained of every model class: config.json -> the family's config -> the model in
// `dtype` -> the checkpoint's weights (load_pretrained_weights) -> eval mode.
#include <memory>
#include <string>
#include <string_view>

#include "doppel/core/error.h"
#include "doppel/models/checkpoint.h"
#include "doppel/models/config.h"

namespace doppel::models {

// A config whose model_type is not `model_type` is a ValueError naming both.
void check_model_type(const HfConfig& config, std::string_view model_type, std::string_view cls);

template <class Model, class FamilyConfig>
std::shared_ptr<Model> load_pretrained(const std::string& dir, DType dtype, std::string_view model_type,
                                       std::string_view base_prefix) {
  const HfConfig config = HfConfig::load(dir);
  check_model_type(config, model_type, Model::kName);
  auto model = std::make_shared<Model>(FamilyConfig::from(config), dtype);
  load_pretrained_weights(*model, load_checkpoint(dir), base_prefix, dir);
  model->eval();
  return model;
}

}  // namespace doppel::models
