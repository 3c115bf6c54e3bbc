"""doppel.cuda: torch.cuda's availability queries (tensors move with .to("cuda"))."""
from . import _C


def is_available():
    """Whether this build has the CUDA backend and sees a device."""
    return _C.cuda_is_available()
