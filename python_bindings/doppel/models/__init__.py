"""doppel.models: Hugging Face model families (GPT-2, BERT, Llama-architecture: Llama, Mistral, Qwen2) loaded from HF model
directories (config.json + model.safetensors or a sharded model.safetensors.index.json).

    model = doppel.models.AutoModelForCausalLM.from_pretrained("path/to/gpt2")
    out = model.generate(input_ids, attention_mask=mask, max_new_tokens=32)

The models run in C++ (models/ in the repository, doppel_models); tokenization stays with the
`tokenizers`/`transformers` packages. See models/README.md."""
from .auto import (AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM,  # noqa: F401
                   AutoModelForSequenceClassification)
from .modeling import (BertForMaskedLM, BertForSequenceClassification, BertModel, GPT2LMHeadModel,  # noqa: F401
                       GPT2Model, LlamaForCausalLM, LlamaModel, MistralForCausalLM, MistralModel, PreTrainedModel,
                       Qwen2ForCausalLM, Qwen2Model)
from .._C.models import warp_logits  # noqa: F401

__all__ = ["AutoModel", "AutoModelForCausalLM", "AutoModelForMaskedLM", "AutoModelForSequenceClassification",
           "PreTrainedModel", "GPT2Model", "GPT2LMHeadModel", "BertModel", "BertForMaskedLM",
           "BertForSequenceClassification", "LlamaModel", "LlamaForCausalLM", "MistralModel", "MistralForCausalLM",
           "Qwen2Model", "Qwen2ForCausalLM", "warp_logits"]
