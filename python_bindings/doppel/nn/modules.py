"""doppel.nn wrappers of the C++ modules (doppel._C.nn). Each is a doppel.nn.Module whose
parameters and buffers are the C++ module's own tensors, so optimizers, compile() and state
dicts share their storage; forward runs in C++."""
import math

from .. import _C
from . import functional as F
from . import init
from .module import Module, Parameter


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

    def _convert_local(self, dtype, device):
        if dtype is not None:
            self._impl.to_dtype(dtype)
        if device is not None:
            self._impl.to_device(device)

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


def _wrap(name, base=CppModule, **attrs):
    cls = type(name, (base,), {"_cpp": getattr(_C.nn, name), "__doc__": f"doppel.nn.{name} (the C++ module).", **attrs})
    cls.__module__ = "doppel.nn"
    return cls


class _Inplace(CppModule):
    """A C++ layer with PyTorch's inplace= flag: when set, the result is written into the input."""

    _n_args = 0  # positional arguments before inplace (PyTorch's order: LeakyReLU(0.1, True))

    def __init__(self, *args, inplace=False, **kwargs):
        if len(args) > self._n_args:
            if len(args) > self._n_args + 1:
                raise TypeError(f"{type(self).__name__}() takes at most {self._n_args + 1} positional arguments")
            args, inplace = args[: self._n_args], bool(args[self._n_args])
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "inplace", inplace)

    def forward(self, input):
        return F._out_of_place(self._impl.forward, input) if self.inplace else self._impl.forward(input)


_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _conv_pads(n, kernel_size, stride, padding, dilation, op):
    """(left, right) padding per spatial dim for PyTorch's padding argument (ints or 'same'/'valid')."""
    k = F._ntuple(kernel_size, n, f"{op} kernel_size")
    d = F._ntuple(dilation, n, f"{op} dilation")
    if not isinstance(padding, str):
        return [(p, p) for p in F._ntuple(padding, n, f"{op} padding")]
    if padding == "valid":
        return [(0, 0)] * n
    if padding != "same":
        raise ValueError(f"{op}: invalid padding string '{padding}', should be one of 'valid', 'same'")
    if any(s != 1 for s in F._ntuple(stride, n, f"{op} stride")):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
    return [(di * (ki - 1) // 2, di * (ki - 1) - di * (ki - 1) // 2) for di, ki in zip(d, k)]


def _reversed_pads(pads):
    """F.pad's order: the last dim's (left, right) first."""
    return [p for lr in reversed(pads) for p in lr]


class _PaddedConv(CppModule):
    """A C++ convolution with PyTorch's padding='same'|'valid' and padding_mode: the C++ module
    holds the weights and pads symmetrically with zeros; anything else is padded here first."""

    _n = None
    _ARGS = ["in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias"]

    def __init__(self, *args, padding_mode="zeros", **kwargs):
        op = type(self).__name__
        bound = dict(zip(self._ARGS, args), **kwargs)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{op}: padding_mode must be one of {_PADDING_MODES}, got '{padding_mode}'")
        pads = _conv_pads(self._n, bound["kernel_size"], bound.get("stride", 1), bound.get("padding", 0),
                          bound.get("dilation", 1), op)
        symmetric = all(lo == hi for lo, hi in pads)
        pad_here = padding_mode != "zeros" or not symmetric
        inner = [0] * self._n if pad_here else [lo for lo, _ in pads]
        bound["padding"] = inner[0] if self._n == 1 else inner
        super().__init__(**bound)
        object.__setattr__(self, "padding_mode", padding_mode)
        object.__setattr__(self, "_pad", _reversed_pads(pads) if pad_here else None)
        object.__setattr__(self, "_pad_mode", "constant" if padding_mode == "zeros" else padding_mode)

    def forward(self, input):
        if self._pad is not None:
            input = F.pad(input, self._pad, self._pad_mode)
        return self._impl.forward(input)


class _ConvNd(Module):
    """Convolutions without a C++ module (Conv3d, ConvTranspose1d/3d): PyTorch's parameters,
    initialisation and padding options, forward through doppel.nn.functional."""

    _n = None
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", output_padding=0, dtype=_C.float32):
        super().__init__()
        n, op = self._n, type(self).__name__
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{op}: groups={groups} must be positive and divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        if padding_mode not in _PADDING_MODES or (self._transposed and padding_mode != "zeros"):
            allowed = "'zeros'" if self._transposed else f"one of {_PADDING_MODES}"
            raise ValueError(f"{op}: padding_mode must be {allowed}, got '{padding_mode}'")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = tuple(F._ntuple(kernel_size, n, f"{op} kernel_size"))
        self.stride = tuple(F._ntuple(stride, n, f"{op} stride"))
        self.dilation = tuple(F._ntuple(dilation, n, f"{op} dilation"))
        self.output_padding = tuple(F._ntuple(output_padding, n, f"{op} output_padding"))
        self.padding_mode = padding_mode
        if self._transposed:
            self.padding = tuple(F._ntuple(padding, n, f"{op} padding"))
            shape = [in_channels, out_channels // groups, *self.kernel_size]
        else:
            self.padding = padding if isinstance(padding, str) else tuple(F._ntuple(padding, n, f"{op} padding"))
            self._pads = _conv_pads(n, kernel_size, stride, padding, dilation, op)
            shape = [out_channels, in_channels // groups, *self.kernel_size]
        self.weight = Parameter(_C.empty(shape, dtype=dtype))
        self.bias = Parameter(_C.empty([out_channels], dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        n = self._n
        if self._transposed:
            return F._conv_transpose(n, type(self).__name__, input, self.weight, self.bias, self.stride,
                                     self.padding, self.output_padding, self.groups, self.dilation)
        if self.padding_mode == "zeros" and all(lo == hi for lo, hi in self._pads):
            padding = [lo for lo, _ in self._pads]
        else:
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            input, padding = F.pad(input, _reversed_pads(self._pads), mode), [0] * n
        return _C.convolution(input, self.weight, self.bias, list(self.stride), padding, list(self.dilation), False,
                              [0] * n, self.groups)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


class Conv3d(_ConvNd):
    _n = 3


class ConvTranspose1d(_ConvNd):
    _n = 1
    _transposed = True


class ConvTranspose3d(_ConvNd):
    _n = 3
    _transposed = True


class _Pad(Module):
    """The padding modules: F.pad with a fixed padding (an int pads every side) and mode."""

    _mode = "constant"
    _dims = None

    def __init__(self, padding, value=0.0):
        super().__init__()
        self.padding = tuple([padding] * (2 * self._dims) if isinstance(padding, int) else padding)
        if len(self.padding) != 2 * self._dims:
            raise ValueError(f"{type(self).__name__}: padding must be an int or {2 * self._dims} ints, "
                             f"got {padding}")
        self.value = value

    def forward(self, input):
        if self._mode == "constant":
            return F.pad(input, list(self.padding), "constant", self.value)
        return F.pad(input, list(self.padding), self._mode)

    def extra_repr(self):
        return f"{self.padding}" + (f", value={self.value}" if self._mode == "constant" else "")


def _pad_module(name, mode, dims, fixed_value=None):
    def __init__(self, padding, *value):
        _Pad.__init__(self, padding, *(value if fixed_value is None else (fixed_value,)))

    cls = type(name, (_Pad,), {"_mode": mode, "_dims": dims, "__init__": __init__,
                               "__doc__": f"doppel.nn.{name}: F.pad(mode='{mode}') of the last {dims} dim(s)."})
    cls.__module__ = "doppel.nn"
    return cls


_PADS = {"ZeroPad2d": ("constant", 2, 0.0), "ConstantPad1d": ("constant", 1, None),
         "ConstantPad2d": ("constant", 2, None), "ConstantPad3d": ("constant", 3, None),
         "ReflectionPad1d": ("reflect", 1, 0.0), "ReflectionPad2d": ("reflect", 2, 0.0),
         "ReflectionPad3d": ("reflect", 3, 0.0), "ReplicationPad1d": ("replicate", 1, 0.0),
         "ReplicationPad2d": ("replicate", 2, 0.0), "ReplicationPad3d": ("replicate", 3, 0.0),
         "CircularPad1d": ("circular", 1, 0.0), "CircularPad2d": ("circular", 2, 0.0),
         "CircularPad3d": ("circular", 3, 0.0)}
globals().update({n: _pad_module(n, *spec) for n, spec in _PADS.items()})

_LAYERS = ["Linear", "Identity", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "RMSNorm",
           "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "Embedding", "AvgPool2d", "AvgPool1d",
           "AdaptiveAvgPool2d", "Flatten",
           "Sigmoid", "Tanh", "GELU", "Softplus", "Softmax", "LogSoftmax",
           "Hardtanh", "ReLU6", "Hardswish", "Hardsigmoid", "Mish", "SELU", "LogSigmoid"]
_INPLACE = {"ReLU": 0, "SiLU": 0, "LeakyReLU": 1, "ELU": 1, "Dropout": 1}  # name: arguments before inplace
_CONVS = {"Conv1d": 1, "Conv2d": 2}
_LOSSES = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCEWithLogitsLoss",
           "BCELoss", "KLDivLoss"]

globals().update({n: _wrap(n) for n in _LAYERS})
globals().update({n: _wrap(n, _Inplace, _n_args=k) for n, k in _INPLACE.items()})
globals().update({n: _wrap(n, _PaddedConv, _n=k) for n, k in _CONVS.items()})
globals().update({n: _wrap(n, _Loss) for n in _LOSSES})


class _PoolWithIndices(CppModule):
    """A max pool whose forward returns (values, int64 indices) when built with return_indices=True
    (the C++ module's forward_with_indices), as PyTorch's."""

    def __init__(self, *args, return_indices=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.return_indices = return_indices

    def forward(self, input):
        return self._impl.forward_with_indices(input) if self.return_indices else self._impl.forward(input)


class MaxPool2d(_PoolWithIndices):
    """doppel.nn.MaxPool2d (the C++ module); PyTorch's argument order, return_indices included."""

    _cpp = _C.nn.MaxPool2d

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode, return_indices=return_indices)
        object.__setattr__(self, "_args", (kernel_size, stride, padding, dilation, ceil_mode))

    def forward(self, input):
        if self.return_indices:
            return _C.max_pool2d_with_indices(input, *self._args)
        return self._impl.forward(input)


class MaxPool1d(_PoolWithIndices):
    """doppel.nn.MaxPool1d (the C++ module); PyTorch's argument order, return_indices included."""

    _cpp = _C.nn.MaxPool1d

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode, return_indices=return_indices)


class AdaptiveMaxPool2d(_PoolWithIndices):
    """doppel.nn.AdaptiveMaxPool2d (the C++ module)."""

    _cpp = _C.nn.AdaptiveMaxPool2d

    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size, return_indices=return_indices)


class MultiheadAttention(CppModule):
    _cpp = _C.nn.MultiheadAttention

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True):
        return self._impl.forward(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights)


class TransformerEncoderLayer(CppModule):
    _cpp = _C.nn.TransformerEncoderLayer

    def forward(self, src, src_mask=None, src_key_padding_mask=None):
        return self._impl.forward(src, src_mask, src_key_padding_mask)


__all__ = (["CppModule", "MultiheadAttention", "TransformerEncoderLayer", "Conv3d", "ConvTranspose1d",
            "ConvTranspose3d", "MaxPool2d", "MaxPool1d", "AdaptiveMaxPool2d"]
           + _LAYERS + list(_INPLACE) + list(_CONVS) + list(_PADS) + _LOSSES)
