"""doppel.nn wrappers of the C++ modules (doppel._C.nn). Each is a doppel.nn.Module whose
parameters and buffers are the C++ module's own tensors, so optimizers, compile() and state
dicts share their storage; forward runs in C++."""
from .. import _C
from .module import Module


class CppModule(Module):
    """Base of the wrappers: `_cpp` is the C++ class, constructed with the same arguments."""

    _cpp = None

    def __init__(self, *args, **kwargs):
        super().__init__()
        object.__setattr__(self, "_impl", self._cpp(*args, **kwargs))

    def _local_parameters(self):
        return self._impl.named_parameters()

    def _local_buffers(self):
        return [(n, b, True) for n, b in self._impl.named_buffers()]

    def _local_state(self):
        return list(self._impl.state_dict())

    def _convert_local(self, dtype):
        self._impl.to_dtype(dtype)

    def __getattr__(self, name):
        try:
            return Module.__getattr__(self, name)
        except AttributeError:
            pass
        impl = self.__dict__.get("_impl")
        if impl is not None:
            for n, t in impl.named_parameters(recurse=False) + impl.named_buffers(recurse=False):
                if n == name:
                    return t
            if hasattr(impl, name):
                return getattr(impl, name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def train(self, mode=True):
        super().train(mode)
        self._impl.train(mode)
        return self

    def forward(self, input):
        return self._impl.forward(input)

    def __repr__(self):
        return repr(self._impl)


class _Loss(CppModule):
    def forward(self, input, target):
        return self._impl.forward(input, target)


def _wrap(name, base=CppModule):
    cls = type(name, (base,), {"_cpp": getattr(_C.nn, name), "__doc__": f"doppel.nn.{name} (the C++ module)."})
    cls.__module__ = "doppel.nn"
    return cls


_LAYERS = ["Linear", "Identity", "Conv1d", "Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm",
           "GroupNorm", "Dropout", "Embedding", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Flatten", "ReLU",
           "Sigmoid", "Tanh", "SiLU", "GELU", "LeakyReLU", "ELU", "Softplus", "Softmax", "LogSoftmax",
           "Hardtanh", "ReLU6", "Hardswish", "Hardsigmoid", "Mish", "SELU", "LogSigmoid"]
_LOSSES = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "BCEWithLogitsLoss"]

globals().update({n: _wrap(n) for n in _LAYERS})
globals().update({n: _wrap(n, _Loss) for n in _LOSSES})


class MultiheadAttention(CppModule):
    _cpp = _C.nn.MultiheadAttention

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True):
        return self._impl.forward(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights)


class TransformerEncoderLayer(CppModule):
    _cpp = _C.nn.TransformerEncoderLayer

    def forward(self, src, src_mask=None, src_key_padding_mask=None):
        return self._impl.forward(src, src_mask, src_key_padding_mask)


__all__ = ["CppModule", "MultiheadAttention", "TransformerEncoderLayer"] + _LAYERS + _LOSSES
