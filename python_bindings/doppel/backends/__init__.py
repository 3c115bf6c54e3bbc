"""doppel.backends: torch.backends' availability queries."""
from . import mps  # noqa: F401
