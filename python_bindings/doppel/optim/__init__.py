"""doppel.optim: the C++ optimizers. `params` may be any iterable of tensors (model.parameters())
or a list of parameter-group dicts; options are PyTorch's keywords."""
from .. import _C
from . import lr_scheduler  # noqa: F401

Optimizer = _C.optim.Optimizer


class _ParamGroup(dict):
    """One entry of `optimizer.param_groups`: a dict whose writes go to the optimizer, so
    `group['lr'] = 0.1` takes effect on the next step(), as in PyTorch."""

    def __init__(self, optimizer, index):
        super().__init__(optimizer._group(index))
        self._optimizer = optimizer
        self._index = index

    def __setitem__(self, key, value):
        if key == "params":
            raise ValueError("param_groups: 'params' cannot be replaced; use add_param_group for new parameters")
        self._optimizer._set_group_option(self._index, key, value)
        super().__setitem__(key, value)


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
            self._options = dict(options)

        @property
        def param_groups(self):
            """PyTorch's list of parameter groups: 'params' and the group's hyperparameters."""
            return [_ParamGroup(self, g) for g in range(self.num_param_groups)]

        def add_param_group(self, param_group):
            """Adds a group; options it does not give are the ones this optimizer was built with."""
            group = dict(param_group)
            params = group.pop("params")
            params = [params] if isinstance(params, _C.Tensor) else list(params)
            self._add_param_group(params, **{**self._options, **group})

    Opt.__name__ = Opt.__qualname__ = cpp.__name__
    Opt.__module__ = "doppel.optim"
    return Opt


SGD = _optimizer(_C.optim.SGD)
Adam = _optimizer(_C.optim.Adam)
AdamW = _optimizer(_C.optim.AdamW)
RMSprop = _optimizer(_C.optim.RMSprop)
Adagrad = _optimizer(_C.optim.Adagrad)
Adadelta = _optimizer(_C.optim.Adadelta)
