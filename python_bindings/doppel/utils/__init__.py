"""doppel.utils: data loading, TensorBoard logging."""
from . import data, tensorboard  # noqa: F401
