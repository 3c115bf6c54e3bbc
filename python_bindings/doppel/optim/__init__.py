"""doppel.optim: the C++ optimizers. `params` may be any iterable of tensors (model.parameters())
or a list of parameter-group dicts; options are PyTorch's keywords."""
from .. import _C
from . import lr_scheduler  # noqa: F401

Optimizer = _C.optim.Optimizer


def _optimizer(cpp):
    class Opt(cpp):
        def __init__(self, params, **options):
            if isinstance(params, _C.Tensor):
                raise TypeError(f"{cpp.__name__}: params must be an iterable of Tensors, got a single Tensor")
            params = [dict(p) if isinstance(p, dict) else p for p in params]
            for g in params:
                if isinstance(g, dict):
                    g["params"] = list(g["params"])
            super().__init__(params, **options)

    Opt.__name__ = Opt.__qualname__ = cpp.__name__
    Opt.__module__ = "doppel.optim"
    return Opt


SGD = _optimizer(_C.optim.SGD)
Adam = _optimizer(_C.optim.Adam)
AdamW = _optimizer(_C.optim.AdamW)
RMSprop = _optimizer(_C.optim.RMSprop)
