"""HF's Auto classes: AutoModel gives the family's base model (GPT2Model, BertModel, LlamaModel by
config.json's model_type), the others the family's head model; an unsupported model_type or a
family without that head is a doppel.ValueError naming it."""
import os

from .. import _C
from .modeling import _load


class _Auto:
    _name = None

    def __init__(self):
        raise TypeError(f"{self._name} is not instantiated: use {self._name}.from_pretrained(path)")

    @classmethod
    def from_pretrained(cls, path, dtype=None):
        path = os.fspath(path)
        return _load(path, _C.models.resolve_architecture(path, cls._name), dtype)


def _auto(name, doc):
    cls = type(name, (_Auto,), {"_name": name, "__doc__": doc})
    cls.__module__ = "doppel.models"
    return cls


AutoModel = _auto("AutoModel", "The family's base model: GPT2Model, BertModel or LlamaModel.")
AutoModelForCausalLM = _auto("AutoModelForCausalLM", "GPT2LMHeadModel or LlamaForCausalLM.")
AutoModelForMaskedLM = _auto("AutoModelForMaskedLM", "BertForMaskedLM.")
AutoModelForSequenceClassification = _auto("AutoModelForSequenceClassification", "BertForSequenceClassification.")
