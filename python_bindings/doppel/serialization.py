"""doppel.save / doppel.load: safetensors files (readable by the PyPI safetensors package)."""
from . import _C


def save(obj, path, metadata=None):
    """Saves a state dict (str -> Tensor mapping) or a Module's state_dict() to `path`."""
    from .nn import Module

    if isinstance(obj, Module):
        obj = obj.state_dict()
    if not hasattr(obj, "items"):
        raise TypeError(f"doppel.save: expected a dict of tensors or a Module, got {type(obj).__name__}")
    items = []
    for k, v in obj.items():
        if not isinstance(k, str) or not isinstance(v, _C.Tensor):
            raise TypeError(f"doppel.save: entries must be str -> Tensor, got {type(k).__name__} -> "
                            f"{type(v).__name__}")
        items.append((k, v.detach()))
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    _C._save_safetensors(items, str(path), meta)


def load(path, with_metadata=False):
    """The tensors of a safetensors file, in file order; with_metadata=True adds its metadata."""
    tensors, metadata = _C._load_safetensors(str(path))
    d = dict(tensors)
    return (d, metadata) if with_metadata else d
