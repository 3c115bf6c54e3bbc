"""doppel.runtime: load an exported model file and run it (the standalone C++ runtime: no eager
layer, no autograd). Model.run releases the GIL and may be called from several threads."""
from . import _C

Model = _C.runtime.Model
Generator = _C.runtime.Generator


def load(path, graph="inference", *, verify=True):
    """Loads and validates a model file; a malformed or corrupt file raises doppel.FormatError.

    verify=False skips the checksums of a version 2 or 3 file (graph/FORMAT.md): only for files you
    trust, since a damaged weight then loads silently."""
    return Model.load(str(path), graph, verify=verify)
