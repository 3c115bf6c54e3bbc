"""doppel.nn.utils: gradient clipping over any iterable of parameters."""
from .. import _C


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    ps = [parameters] if isinstance(parameters, _C.Tensor) else list(parameters)
    return _C.optim.clip_grad_norm_(ps, max_norm, norm_type, error_if_nonfinite)


def clip_grad_value_(parameters, clip_value):
    ps = [parameters] if isinstance(parameters, _C.Tensor) else list(parameters)
    _C.optim.clip_grad_value_(ps, clip_value)
