#include "doppel/models/pretrained.h"

namespace doppel::models {

void check_model_type(const HfConfig& config, std::string_view model_type, std::string_view cls) {
  DOPPEL_CHECK(config.model_type() == model_type, "{}.from_pretrained: {} has model_type '{}', not '{}'", cls,
               config.source(), config.model_type(), model_type);
}

}  // namespace doppel::models
