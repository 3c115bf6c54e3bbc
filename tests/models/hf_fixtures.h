#pragma once
// The Hugging Face oracle's fixtures for the [models] tests: tiny random-weight checkpoints of
// each family and transformers' outputs on them, made by tests/python/hf/make_fixtures.py under
// the oracle venv (build/hf-venv, made by tools/setup.sh; $DOPPEL_HF_PYTHON names another
// interpreter with transformers 4.40.2).
#include <string>

#include "doppel/core/tensor.h"

namespace doppel::testing {

// The fixture folder, made on first use and kept under build/hf-fixtures/<hash of the script>
// (so test processes share one oracle run). Throws with what to do when the oracle is missing.
const std::string& hf_fixtures();

// <hf_fixtures()>/<model>/ref/<name>.npy
Tensor hf_ref(const std::string& model, const std::string& name);

}  // namespace doppel::testing
