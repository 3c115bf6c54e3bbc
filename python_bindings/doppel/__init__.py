"""doppel: eager deep learning with autograd, captured into optimized static graphs.

The C++ core lives in doppel._C (tensors, every eager op, autograd, nn modules, optimizers,
safetensors IO, graph capture, export, the runtime); this package adds the PyTorch-style Python
layer: nn.Module subclassing, data loading, compile/trace over Python functions.
"""
import numpy as _np

from . import _C
from ._C import *  # noqa: F401,F403  (Tensor, dtypes, devices, errors, ops, factories)
from ._C import Tensor, from_numpy, from_dlpack  # noqa: F401

# The star import brought _C's submodules; the Python packages of the same names replace them.
for _name in ("nn", "optim", "autograd", "runtime", "models", "quantization"):
    globals().pop(_name, None)

from . import autograd  # noqa: E402
from .autograd import no_grad, enable_grad, set_grad_enabled, is_grad_enabled  # noqa: E402,F401
from . import nn, optim, utils, runtime, onnx  # noqa: E402,F401
from . import profiler  # noqa: E402,F401
from .serialization import save, load  # noqa: E402,F401
from .graph import compile, trace, export, CompiledFunction  # noqa: E402,F401
from . import backends, cuda, trainer  # noqa: E402,F401
from . import models  # noqa: E402,F401
from . import quantization  # noqa: E402,F401
from .quantization import qint8, quint8  # noqa: E402,F401
if hasattr(_C, "_distributed"):  # built with DOPPEL_DISTRIBUTED (MPI found)
    from . import distributed  # noqa: E402,F401
from .amp import autocast  # noqa: E402,F401
from .trainer import Trainer, seed_everything  # noqa: E402,F401

Size = tuple
__version__ = "0.1.0"


def is_tensor(obj):
    return isinstance(obj, Tensor)


def tensor(data, dtype=None, requires_grad=False):
    """A new tensor holding a copy of `data` (nested lists, numbers, numpy arrays, tensors).

    Python floats become float32 (PyTorch's default), ints int64, bools bool."""
    if isinstance(data, Tensor):
        t = data.detach().clone()
    else:
        arr = _np.asarray(data)
        if arr.dtype == object:
            raise TypeError(f"doppel.tensor: cannot convert {type(data).__name__} of mixed or non-numeric values")
        if dtype is None and arr.dtype == _np.float64 and not isinstance(data, _np.ndarray):
            arr = arr.astype(_np.float32)
        t = from_numpy(_np.require(arr, requirements="C")).clone()
    if dtype is not None and t.dtype != dtype:
        t = t.to(dtype)
    if requires_grad:
        t.requires_grad_()
    return t


def as_tensor(data, dtype=None):
    """Like tensor(), but shares memory with a numpy array or tensor when the dtype allows."""
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype == dtype else data.to(dtype)
    if isinstance(data, _np.ndarray):
        t = from_numpy(data)
        return t if dtype is None or t.dtype == dtype else t.to(dtype)
    return tensor(data, dtype=dtype)


def numel(t):
    return t.numel()
