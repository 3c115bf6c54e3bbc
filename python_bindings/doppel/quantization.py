"""doppel.quantization: post-training int8 quantization with torch.ao.quantization's API.

    qmodel = doppel.quantization.quantize_static(model, calibration_batches, example_inputs)
    qmodel(x)                      # runs the int8 graph
    qmodel.explain()               # what became int8, what stayed float
    qmodel.export("model.dpl")     # loads in doppel.runtime.Model and doppel-run
    doppel.onnx.export(qmodel, (x,), "model.onnx")   # QDQ form

    dmodel = doppel.quantization.quantize_dynamic(model, {doppel.nn.Linear}, dtype=doppel.qint8)

Static quantization traces the model in eval mode (a dynamic batch dimension), folds batch norms
into convolutions, fuses bias/relu/residual adds, observes every activation that feeds an
int8-capable op (convolution, linear, add, cat, pooling, views), and converts: weights int8 per
output channel (symmetric), activations uint8 per tensor (affine), the int8 kernels chained
without float round trips; ops without an int8 kernel run in float between a dequantize and a
quantize (C++: quantize/prepare.h, docs/quantization.md).

Dynamic quantization replaces each matching Linear by a DynamicQuantizedLinear: int8 weights per
output channel, the input quantized to uint8 from its own range at every call (the
dynamic_quantized_linear op), float32 out, as torch.ao.nn.quantized.dynamic.Linear."""
import copy
import functools
from collections import namedtuple

from . import _C
from .graph import CompiledFunction, _dynamic, _module_of, _state_names

_q = _C.quantization

qint8 = _C.int8
quint8 = _C.uint8
# The quantization schemes (torch.per_tensor_affine, ...).
per_tensor_affine = "per_tensor_affine"
per_tensor_symmetric = "per_tensor_symmetric"
per_channel_affine = "per_channel_affine"
per_channel_symmetric = "per_channel_symmetric"
_SCHEMES = (per_tensor_affine, per_tensor_symmetric, per_channel_affine, per_channel_symmetric)


class ObserverBase:
    """An observer: call it on tensors (it returns them unchanged, as PyTorch's observers do) and
    ask calculate_qparams() for (scale, zero_point). `_kind` names the C++ observer."""

    _kind = "min_max"

    def __init__(self, dtype=quint8, qscheme=per_tensor_affine, reduce_range=False, ch_axis=-1, **kind_args):
        if qscheme not in _SCHEMES:
            raise _C.ValueError(f"{type(self).__name__}: qscheme must be one of {', '.join(_SCHEMES)}, got {qscheme!r}")
        if qscheme.startswith("per_channel") and ch_axis < 0:
            ch_axis = 0
        self.dtype, self.qscheme, self.reduce_range, self.ch_axis = dtype, qscheme, reduce_range, ch_axis
        self._spec = _q.ObserverSpec(kind=self._kind, dtype=dtype, symmetric=qscheme.endswith("symmetric"),
                                     ch_axis=ch_axis if qscheme.startswith("per_channel") else -1,
                                     reduce_range=reduce_range, **kind_args)
        self._observer = _q.Observer.make(self._spec)

    @classmethod
    def with_args(cls, **kwargs):
        """A factory of this observer with these arguments (for QConfig)."""
        return functools.partial(cls, **kwargs)

    def __call__(self, x):
        self._observer.observe(x)
        return x

    forward = __call__

    def calculate_qparams(self):
        """(scale float32, zero_point int32): 1-d per channel, 1 element per tensor."""
        import numpy as np

        scales, zero_points = self._observer.qparams()
        return _C.from_numpy(np.asarray(scales, np.float32)), _C.from_numpy(np.asarray(zero_points, np.int32))


class MinMaxObserver(ObserverBase):
    """The running min and max (torch.ao.quantization.MinMaxObserver)."""

    _kind = "min_max"


class PerChannelMinMaxObserver(ObserverBase):
    """min and max per channel along ch_axis (the weight observer; symmetric by default)."""

    _kind = "min_max"

    def __init__(self, ch_axis=0, dtype=qint8, qscheme=per_channel_symmetric, reduce_range=False):
        super().__init__(dtype=dtype, qscheme=qscheme, reduce_range=reduce_range, ch_axis=ch_axis)


class MovingAverageMinMaxObserver(ObserverBase):
    """min += averaging_constant * (batch min - min), likewise max, from the first batch's range."""

    _kind = "moving_average_min_max"

    def __init__(self, averaging_constant=0.01, dtype=quint8, qscheme=per_tensor_affine, reduce_range=False):
        super().__init__(dtype=dtype, qscheme=qscheme, reduce_range=reduce_range,
                         averaging_constant=averaging_constant)


class HistogramObserver(ObserverBase):
    """A histogram of every value seen, its range cut at the `percentile`-th and
    (100 - percentile)-th percentiles (a percentile clip, not PyTorch's L2-norm search)."""

    _kind = "histogram"

    def __init__(self, bins=2048, percentile=99.99, dtype=quint8, qscheme=per_tensor_affine, reduce_range=False):
        super().__init__(dtype=dtype, qscheme=qscheme, reduce_range=reduce_range, bins=bins, percentile=percentile)


QConfig = namedtuple("QConfig", ["activation", "weight"])
QConfig.__doc__ = """Observer factories for activations (per tensor) and weights (per output channel)."""
default_qconfig = QConfig(activation=MinMaxObserver.with_args(dtype=quint8),
                          weight=PerChannelMinMaxObserver.with_args(dtype=qint8))
histogram_qconfig = QConfig(activation=HistogramObserver.with_args(dtype=quint8),
                            weight=PerChannelMinMaxObserver.with_args(dtype=qint8))


def _as_inputs(batch):
    return list(batch) if isinstance(batch, (tuple, list)) else [batch]


class QuantizedModel:
    """What quantize_static returns: call it like the model; .export(path), .explain(), .graph."""

    def __init__(self, prepared):
        self._prepared = prepared
        self._runner = _q.GraphRunner(prepared.convert())

    def __call__(self, *inputs):
        out = self._runner.run(list(inputs))
        return out[0] if len(out) == 1 else tuple(out)

    @property
    def graph(self):
        """The int8 graph (doppel.Graph)."""
        return self._runner.graph

    def explain(self, file=None):
        """Prints what became int8 and what stayed float, node by node."""
        print(self._prepared.explain(), end="", file=file)

    def export(self, path):
        """Writes the int8 graph as one model file (doppel.runtime.load / doppel-run run it)."""
        self._runner.export(str(path))


def quantize_static(model, calibration_batches, example_inputs, qconfig=default_qconfig, dynamic=True):
    """Post-training static quantization of `model` (an nn.Module, a function of tensors or a
    doppel.compile'd function): traced on `example_inputs` (a tensor or a tuple) with dim 0 of
    every input dynamic (dynamic=False: static shapes), calibrated on `calibration_batches` (an
    iterable of tensors or tuples of them), converted to int8. Returns a QuantizedModel."""
    from .autograd import no_grad
    from .nn import Module

    fn = model._fn if isinstance(model, CompiledFunction) else model
    module = model._module if isinstance(model, CompiledFunction) else _module_of(fn, None)
    if isinstance(fn, Module):
        fn.eval()
    elif module is not None:
        module.eval()

    def forward(*xs):
        with no_grad():
            return fn(*xs)

    example = _as_inputs(example_inputs)
    prepared = _q.prepare(forward, example, _dynamic(dynamic, len(example)), _state_names(module),
                          qconfig.activation()._spec, qconfig.weight()._spec)
    n = 0
    for batch in calibration_batches:
        prepared.calibrate(_as_inputs(batch))
        n += 1
    if n == 0 and prepared.num_observers > 0:
        raise _C.ValueError("quantize_static: calibration_batches is empty; the observers need a few batches "
                            "of representative inputs")
    return QuantizedModel(prepared)


_dynamic_linear = None


def _dynamic_linear_class():
    """DynamicQuantizedLinear, defined on first use: it derives from doppel.nn.Module, and doppel.nn
    imports after this module."""
    global _dynamic_linear
    if _dynamic_linear is not None:
        return _dynamic_linear
    from .nn import Module

    class DynamicQuantizedLinear(Module):
        """torch.ao.nn.quantized.dynamic.Linear: int8 weight per output channel (buffers `weight`
        int8 [out, in], `scale` float32 [out]), the input quantized to uint8 from its own range
        at every call, float32 out (the dynamic_quantized_linear op)."""

        def __init__(self, in_features, out_features, bias=True, reduce_range=False):
            super().__init__()
            self.in_features, self.out_features, self.reduce_range = in_features, out_features, reduce_range
            self.register_buffer("weight", _C.zeros([out_features, in_features], dtype=_C.int8))
            self.register_buffer("scale", _C.ones([out_features], dtype=_C.float32))
            self.register_buffer("bias", _C.zeros([out_features], dtype=_C.float32) if bias else None)

        @classmethod
        def from_float(cls, linear, weight_observer=None, reduce_range=False):
            """The quantized counterpart of a float Linear (its weight and bias copied, quantized)."""
            observer = (weight_observer or default_qconfig.weight)()
            w = linear.weight.detach()
            out_features, in_features = w.shape
            m = cls(in_features, out_features, bias=linear.bias is not None, reduce_range=reduce_range)
            q, scale, _ = _q.quantize_weight(w, observer._spec)
            m.weight, m.scale = q, scale
            if linear.bias is not None:
                m.bias = linear.bias.detach().clone()
            return m

        def forward(self, x):
            # Inference only, as PyTorch's: no gradient flows through it (the op has none), so an
            # input that requires grad (after a float layer with parameters) is read detached.
            return _C.ops.quantized.dynamic_linear(x.detach(), self.weight, self.scale, self.bias,
                                                   reduce_range=self.reduce_range)

        def extra_repr(self):
            return (f"in_features={self.in_features}, out_features={self.out_features}, dtype=doppel.qint8, "
                    f"qscheme=per_channel_symmetric")

    DynamicQuantizedLinear.__module__ = __name__
    _dynamic_linear = DynamicQuantizedLinear
    return DynamicQuantizedLinear


def __getattr__(name):
    if name == "DynamicQuantizedLinear":
        return _dynamic_linear_class()
    raise AttributeError(f"module 'doppel.quantization' has no attribute '{name}'")


def _module_tree_copy(module):
    """A copy of the Python module tree: new module objects with their own dicts of parameters,
    buffers and children; C++ layers (which cannot be copied) and tensors are shared."""
    from .nn.modules import CppModule

    if isinstance(module, CppModule):
        return module
    new = copy.copy(module)
    for attr in ("_parameters", "_buffers"):
        object.__setattr__(new, attr, copy.copy(getattr(module, attr)))
    object.__setattr__(new, "_modules", type(module._modules)(
        (name, None if child is None else _module_tree_copy(child)) for name, child in module._modules.items()))
    return new


def quantize_dynamic(model, qconfig_spec=None, dtype=qint8, mapping=None, inplace=False):
    """torch.ao.quantization.quantize_dynamic: every submodule of `model` whose type is in
    `qconfig_spec` (a set of module classes, default {doppel.nn.Linear}; or of qualified names)
    becomes a DynamicQuantizedLinear. inplace=True replaces them in `model`; otherwise a copy of
    the module tree is returned whose unquantized layers (and their tensors) are shared with
    `model` (doppel's C++ layers cannot be deep-copied). Submodules of C++ layers
    (doppel.nn.TransformerEncoderLayer's linears) are not Python attributes: quantize such a
    model's graph with the C++ quantize::quantize_dynamic(graph) instead."""
    from . import nn

    if dtype != qint8:
        raise _C.ValueError(f"quantize_dynamic: weights are quantized to doppel.qint8, got {dtype}")
    if mapping is not None:
        raise _C.ValueError("quantize_dynamic: mapping= is not supported; doppel maps Linear to "
                            "DynamicQuantizedLinear only")
    spec = set(qconfig_spec) if qconfig_spec is not None else {nn.Linear}
    cls = _dynamic_linear_class()

    def matches(name, m):
        return type(m) in spec or name in spec

    if not inplace:
        model = _module_tree_copy(model)
    if matches("", model):
        return cls.from_float(model)
    for prefix, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            qualified = f"{prefix}.{name}" if prefix else name
            if matches(qualified, child):
                if not isinstance(child, nn.Linear):
                    raise _C.ValueError(f"quantize_dynamic: '{qualified}' is a {type(child).__name__}; only "
                                        "doppel.nn.Linear has a dynamic int8 form")
                # In its place in the dict: a Sequential runs its children in that order.
                parent._modules[name] = cls.from_float(child)
    return model
