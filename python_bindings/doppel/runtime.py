"""doppel.runtime: load an exported model file and run it (the standalone C++ runtime: no eager
layer, no autograd). Model.run releases the GIL and may be called from several threads."""
from . import _C

Model = _C.runtime.Model


def load(path, graph="inference"):
    """Loads and validates a model file; a malformed file raises doppel.FormatError."""
    return Model.load(str(path), graph)
