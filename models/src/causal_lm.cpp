#include "doppel/models/causal_lm.h"

namespace doppel::models {

void CausalLM::read_special_tokens(const HfConfig& config) {
  eos_token_id = config.get_optional_int("eos_token_id");
  pad_token_id = config.get_optional_int("pad_token_id");
}

}  // namespace doppel::models
