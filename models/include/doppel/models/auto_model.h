#pragma once
// HF's Auto classes: the model class for a checkpoint directory, from its config.json.
#include <memory>
#include <string>

#include "doppel/nn/module.h"

namespace doppel::models {

// Which class the Auto class picks: AutoModel the family's base model (GPT2Model, BertModel,
// LlamaModel, MistralModel, Qwen2Model by model_type), the others the family's head model, and FromConfig the first of
// config.json's "architectures".
enum class AutoClass { Model, ForCausalLM, ForMaskedLM, ForSequenceClassification, FromConfig };

// The class name (HF's: "GPT2LMHeadModel") that `auto_class` gives for the config in `dir`. An
// unsupported model_type or architecture, or a family without that head, is a ValueError naming
// the config key, its value and the supported ones.
std::string resolve_architecture(const std::string& dir, AutoClass auto_class);

// The model `architecture` ("GPT2Model", "GPT2LMHeadModel", "BertModel", "BertForMaskedLM",
// "BertForSequenceClassification", "LlamaModel", "LlamaForCausalLM", "MistralModel",
// "MistralForCausalLM", "Qwen2Model", "Qwen2ForCausalLM") loaded from `dir` in `dtype`, in eval
// mode.
std::shared_ptr<nn::Module> from_pretrained(const std::string& dir, const std::string& architecture,
                                            DType dtype = DType::Float32);

}  // namespace doppel::models
