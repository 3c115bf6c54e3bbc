"""The model classes: doppel.nn.Module wrappers of doppel._C.models, whose parameters are the C++
model's own tensors (HF's names: "transformer.h.0.attn.c_attn.weight")."""
import json
import os

from .. import _C
from ..nn.module import Module
from ..nn.modules import CppModule


class PreTrainedModel(CppModule):
    """Base of the model classes. `config` is config.json as a dict."""

    _architecture = None  # HF's class name, also the C++ class's

    def __init__(self, impl, config):
        Module.__init__(self)
        object.__setattr__(self, "_impl", impl)
        object.__setattr__(self, "config", config)

    @classmethod
    def from_pretrained(cls, path, dtype=None):
        """The model in `path` (an HF model directory) with its weights converted to `dtype`
        (default doppel.float32), in eval mode."""
        return _load(os.fspath(path), cls._architecture, dtype)


def _load(path, architecture, dtype):
    impl = _C.models.from_pretrained(path, architecture, _C.float32 if dtype is None else dtype)
    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    return _CLASSES[architecture](impl, config).eval()


class _DecoderMixin:
    def forward(self, input_ids, attention_mask=None, position_ids=None):
        """input_ids [B, L] int64; attention_mask [B, L] (1 = real token); position_ids [B, L]
        (default 0..L-1). Causal LMs return logits [B, L, vocab], base models hidden states."""
        return self._impl.forward(input_ids, attention_mask, position_ids)


class GPT2Model(_DecoderMixin, PreTrainedModel):
    _architecture = "GPT2Model"


class LlamaModel(_DecoderMixin, PreTrainedModel):
    _architecture = "LlamaModel"


class MistralModel(_DecoderMixin, PreTrainedModel):
    _architecture = "MistralModel"


class Qwen2Model(_DecoderMixin, PreTrainedModel):
    _architecture = "Qwen2Model"


class _CausalLM(_DecoderMixin, PreTrainedModel):
    def generate(self, input_ids, attention_mask=None, max_new_tokens=20, eos_token_id=None, pad_token_id=None,
                 compile=False, do_sample=False, temperature=1.0, top_k=50, top_p=1.0):
        """Decoding with a KV cache, greedy (HF's generate(do_sample=False)) or sampled
        (do_sample=True: HF's temperature, top_k, top_p warpers, draws from doppel's default
        generator: doppel.manual_seed makes them repeatable): input_ids [B, T] int64,
        left-padded with attention_mask when rows differ. Returns [B, T + n] int64.
        eos_token_id / pad_token_id default to config.json's (pad to eos). compile=True runs the
        decode steps as one graph compiled for a symbolic cache length (kept by the model, so
        later calls at the same batch size replay it); `decode_traces` counts its traces."""
        step = None
        if compile:
            if "_decode_step" not in self.__dict__:
                object.__setattr__(self, "_decode_step", _C.models.DecodeStep(self._impl))
            step = self._decode_step
        return self._impl.generate(input_ids, attention_mask, max_new_tokens, eos_token_id, pad_token_id, step,
                                   do_sample, temperature, top_k, top_p)

    def export_decoder(self, path, metadata=()):
        """Writes the prefill and decode-step graphs (symbolic batch, prompt and cache lengths)
        over the weights to one model file: doppel.runtime.Generator, doppel-run --generate and
        doppel-serve generate from it without this model (graph/FORMAT.md, "Decoder files")."""
        self._impl.export_decoder(str(path), [(str(k), str(v)) for k, v in metadata])

    @property
    def decode_traces(self):
        """How often the compiled decode step traced (0 before generate(compile=True))."""
        step = self.__dict__.get("_decode_step")
        return 0 if step is None else step.num_traces


class GPT2LMHeadModel(_CausalLM):
    _architecture = "GPT2LMHeadModel"


class LlamaForCausalLM(_CausalLM):
    _architecture = "LlamaForCausalLM"


class MistralForCausalLM(_CausalLM):
    _architecture = "MistralForCausalLM"


class Qwen2ForCausalLM(_CausalLM):
    _architecture = "Qwen2ForCausalLM"


class BertModel(PreTrainedModel):
    _architecture = "BertModel"

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None):
        """(last_hidden_state [B, L, hidden], pooler_output [B, hidden])."""
        return self._impl.forward(input_ids, attention_mask, token_type_ids, position_ids)


class _BertHead(PreTrainedModel):
    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None):
        return self._impl.forward(input_ids, attention_mask, token_type_ids, position_ids)


class BertForMaskedLM(_BertHead):
    """forward returns logits [B, L, vocab]."""
    _architecture = "BertForMaskedLM"


class BertForSequenceClassification(_BertHead):
    """forward returns logits [B, num_labels]."""
    _architecture = "BertForSequenceClassification"


_CLASSES = {c._architecture: c for c in (GPT2Model, GPT2LMHeadModel, LlamaModel, LlamaForCausalLM, MistralModel,
                                         MistralForCausalLM, Qwen2Model, Qwen2ForCausalLM, BertModel,
                                         BertForMaskedLM, BertForSequenceClassification)}
