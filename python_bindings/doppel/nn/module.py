"""doppel.nn.Module and Parameter, as in PyTorch: assigning a Parameter, a Module or a
registered buffer to an attribute registers it; parameters()/state_dict()/train()/to() walk
the tree. Wrappers of the C++ modules (modules.py) report the C++ module's own tensors."""
from collections import OrderedDict

from .. import _C


class Parameter(_C.Tensor):
    """A tensor that a Module registers as a parameter (a leaf that requires grad)."""

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = _C.empty(0)
        super().__init__(data.detach())
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())

    # ---- registration
    def _check_init(self, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign '{name}' before Module.__init__() is called (call super().__init__())")

    def _forget(self, name):
        for d in (self._parameters, self._buffers, self._modules):
            d.pop(name, None)
        self._non_persistent.discard(name)
        self.__dict__.pop(name, None)

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self._check_init(name)
            self._forget(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._check_init(name)
            self._forget(name)
            self._modules[name] = value
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter '{name}' "
                                "(doppel.nn.Parameter or None expected)")
            self._parameters[name] = None
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module '{name}' "
                                "(doppel.nn.Module or None expected)")
            self._modules[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            if value is not None and not isinstance(value, _C.Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer '{name}' (Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for kind in ("_parameters", "_buffers", "_modules"):
            if kind in d and name in d[kind]:
                return d[kind][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        if name in self._parameters or name in self._buffers or name in self._modules:
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name, param):
        self._check_init(name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter('{name}'): expected a Parameter or None, got {type(param).__name__}")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        self._check_init(name)
        if tensor is not None and not isinstance(tensor, _C.Tensor):
            raise TypeError(f"register_buffer('{name}'): expected a Tensor or None, got {type(tensor).__name__}")
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module('{name}'): {type(module).__name__} is not a doppel.nn.Module")
        self._check_init(name)
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    # ---- what this module itself owns (the C++ wrappers override these)
    def _local_parameters(self):
        return [(n, p) for n, p in self._parameters.items() if p is not None]

    def _local_buffers(self):
        return [(n, b, n not in self._non_persistent) for n, b in self._buffers.items() if b is not None]

    # ---- traversal
    def named_modules(self, memo=None, prefix=""):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, prefix + ("." if prefix else "") + name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, get, prefix, recurse):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for item in get(m):
                name, t = item[0], item[1]
                if t._cdata in seen:
                    continue
                seen.add(t._cdata)
                yield (mprefix + ("." if mprefix else "") + name,) + tuple(item[1:])

    def named_parameters(self, prefix="", recurse=True):
        yield from self._named_members(lambda m: m._local_parameters(), prefix, recurse)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        for name, b, _ in self._named_members(lambda m: m._local_buffers(), prefix, recurse):
            yield name, b

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ---- modes and conversions
    def train(self, mode=True):
        object.__setattr__(self, "training", bool(mode))
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def _convert_local(self, dtype, device):
        """Replaces this module's parameters (as new leaves keeping requires_grad) and buffers
        by copies in `dtype` (floating ones only) on `device` (either may be None)."""

        def convert(t):
            if dtype is not None and t.is_floating_point():
                t = t.to(dtype)
            return t if device is None else t.to(device)

        for name, p in list(self._parameters.items()):
            if p is not None:
                self._parameters[name] = Parameter(convert(p.detach()), p.requires_grad)
        for name, b in list(self._buffers.items()):
            if b is not None:
                self._buffers[name] = convert(b)

    def to(self, *args, dtype=None, device=None):
        """As torch.nn.Module.to: to(dtype) converts floating parameters and buffers, to(device)
        (a doppel.device, "cpu", "cuda:0") moves all of them, to(tensor) takes the tensor's
        dtype and device. Optimizers must be created after the move, as in PyTorch."""
        for a in args:
            if isinstance(a, _C.dtype):
                dtype = a
            elif isinstance(a, _C.Tensor):
                dtype, device = a.dtype, a.device
            else:
                device = a
        if device is not None and not isinstance(device, _C.device):
            device = _C.device(device)
        if dtype is not None or device is not None:
            for m in self.modules():
                m._convert_local(dtype, device)
        return self

    def cpu(self):
        return self.to(_C.device("cpu"))

    def cuda(self, index=0):
        return self.to(_C.device("cuda", index))

    def float(self):
        return self.to(_C.float32)

    def double(self):
        return self.to(_C.float64)

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- state
    def _local_state(self):
        out = [(n, p) for n, p in self._local_parameters()]
        out += [(n, b) for n, b, persistent in self._local_buffers() if persistent]
        return out

    def state_dict(self, prefix=""):
        sd = OrderedDict()
        for mprefix, m in self.named_modules(prefix=prefix):
            for name, t in m._local_state():
                sd[mprefix + ("." if mprefix else "") + name] = t.detach()
        return sd

    def load_state_dict(self, state_dict, strict=True):
        """Copies values into the existing tensors (optimizers keep seeing the same storage)."""
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise _C.ValueError(f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                                f"unexpected keys {unexpected}")
        with _C_no_grad():
            for k, t in own.items():
                if k not in state_dict:
                    continue
                src = state_dict[k]
                if not isinstance(src, _C.Tensor):
                    raise TypeError(f"load_state_dict: '{k}' is a {type(src).__name__}, not a Tensor")
                if tuple(src.shape) != tuple(t.shape):
                    raise _C.ShapeError(f"load_state_dict: '{k}' has shape {list(src.shape)} in the state dict but "
                                        f"{list(t.shape)} in the module")
                t.copy_(src)
        return missing, unexpected

    # ---- calling
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        main = type(self).__name__ + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                return main + lines[0] + ")"
            main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


def _C_no_grad():
    from ..autograd import no_grad

    return no_grad()
