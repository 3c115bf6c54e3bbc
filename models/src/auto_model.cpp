#include "doppel/models/auto_model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <functional>

#include "doppel/core/error.h"
#include "doppel/models/bert.h"
#include "doppel/models/config.h"
#include "doppel/models/gpt2.h"
#include "doppel/models/llama.h"

namespace doppel::models {

namespace {

using Loader = std::function<std::shared_ptr<nn::Module>(const std::string&, DType)>;

struct Architecture {
  const char* name;
  const char* model_type;
  AutoClass auto_class;
  Loader load;
};

template <class M>
Loader loader() {
  return
      [](const std::string& dir, DType dtype) -> std::shared_ptr<nn::Module> { return M::from_pretrained(dir, dtype); };
}

const std::vector<Architecture>& architectures() {
  static const std::vector<Architecture> table = {
      {"GPT2Model", "gpt2", AutoClass::Model, loader<GPT2Model>()},
      {"GPT2LMHeadModel", "gpt2", AutoClass::ForCausalLM, loader<GPT2LMHeadModel>()},
      {"BertModel", "bert", AutoClass::Model, loader<BertModel>()},
      {"BertForMaskedLM", "bert", AutoClass::ForMaskedLM, loader<BertForMaskedLM>()},
      {"BertForSequenceClassification", "bert", AutoClass::ForSequenceClassification,
       loader<BertForSequenceClassification>()},
      {"LlamaModel", "llama", AutoClass::Model, loader<LlamaModel>()},
      {"LlamaForCausalLM", "llama", AutoClass::ForCausalLM, loader<LlamaForCausalLM>()},
      {"MistralModel", "mistral", AutoClass::Model, loader<MistralModel>()},
      {"MistralForCausalLM", "mistral", AutoClass::ForCausalLM, loader<MistralForCausalLM>()},
      {"Qwen2Model", "qwen2", AutoClass::Model, loader<Qwen2Model>()},
      {"Qwen2ForCausalLM", "qwen2", AutoClass::ForCausalLM, loader<Qwen2ForCausalLM>()},
  };
  return table;
}

std::vector<std::string> names_where(const std::function<bool(const Architecture&)>& keep, bool model_types) {
  std::vector<std::string> out;
  for (const Architecture& a : architectures()) {
    std::string n = model_types ? a.model_type : a.name;
    if (keep(a) && std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

}  // namespace

std::string resolve_architecture(const std::string& dir, AutoClass auto_class) {
  const HfConfig config = HfConfig::load(dir);
  if (auto_class == AutoClass::FromConfig) {
    DOPPEL_CHECK(!config.architectures().empty(), "{}: no 'architectures' to pick the model class from",
                 config.source());
    const std::string& name = config.architectures().front();
    DOPPEL_CHECK(!names_where([&](const Architecture& a) { return a.name == name; }, false).empty(),
                 "{}: 'architectures' = '{}' is not supported (supported: {})", config.source(), name,
                 fmt::join(names_where([](const Architecture&) { return true; }, false), ", "));
    return name;
  }
  const std::string& type = config.model_type();
  DOPPEL_CHECK(!names_where([&](const Architecture& a) { return a.model_type == type; }, true).empty(),
               "{}: 'model_type' = '{}' is not supported (supported: {})", config.source(), type,
               fmt::join(names_where([](const Architecture&) { return true; }, true), ", "));
  const auto found =
      names_where([&](const Architecture& a) { return a.model_type == type && a.auto_class == auto_class; }, false);
  DOPPEL_CHECK(!found.empty(), "{}: model_type '{}' has no model for this Auto class (it has: {})", config.source(),
               type, fmt::join(names_where([&](const Architecture& a) { return a.model_type == type; }, false), ", "));
  return found.front();
}

std::shared_ptr<nn::Module> from_pretrained(const std::string& dir, const std::string& architecture, DType dtype) {
  for (const Architecture& a : architectures())
    if (a.name == architecture) return a.load(dir, dtype);
  DOPPEL_CHECK(false, "from_pretrained: architecture '{}' is not supported (supported: {})", architecture,
               fmt::join(names_where([](const Architecture&) { return true; }, false), ", "));
  return nullptr;
}

}  // namespace doppel::models
