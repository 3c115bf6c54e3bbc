"""doppel.runtime: load an exported model file and run it (the standalone C++ runtime: no eager
layer, no autograd). Model.run releases the GIL and may be called from several threads."""
from . import _C

Model = _C.runtime.Model
Generator = _C.runtime.Generator


def load(path, graph="inference", *, verify=True, batch_tiling=True):
    """Loads and validates a model file; a malformed or corrupt file raises doppel.FormatError.

    verify=False skips the checksums of a version 2 or 3 file (graph/FORMAT.md): only for files you
    trust, since a damaged weight then loads silently. batch_tiling=False runs every step on the
    whole batch (by default runs of convolutions, pools and elementwise ops are called a chunk of
    the batch at a time where that keeps their intermediates in the cache)."""
    return Model.load(str(path), graph, verify=verify, batch_tiling=batch_tiling)
