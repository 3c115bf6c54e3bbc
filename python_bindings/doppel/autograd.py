"""Autograd from Python: grad, backward, grad-mode context managers and anomaly mode."""
import functools

from . import _C

grad = _C.autograd.grad
backward = _C.autograd.backward
is_grad_enabled = _C.autograd.is_grad_enabled


class _GradMode:
    """The decorator of no_grad / enable_grad; the with-block (thread-local grad mode set on
    __enter__, restored on __exit__) is the C++ base class's."""

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode, _C.autograd._NoGradBlock):
    """Disables gradient recording: `with doppel.no_grad():` or `@doppel.no_grad()`."""


class enable_grad(_GradMode, _C.autograd._EnableGradBlock):
    """Re-enables gradient recording inside a no_grad block."""


# set_grad_enabled(False) takes effect at once (as in PyTorch); the scopes it enters stay
# alive here, because leaving one restores the mode it found.
_persistent_scopes = []


def _set_mode(mode):
    scope = _C.autograd._GradModeScope(bool(mode))
    scope.__enter__()
    _persistent_scopes.append(scope)


class set_grad_enabled:
    """Sets grad mode now; as a context manager, restores the previous mode on exit."""

    def __init__(self, mode):
        self._prev = is_grad_enabled()
        _set_mode(mode)

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        _set_mode(self._prev)
        return False


class detect_anomaly:
    """Anomaly mode for a block: a NaN/Inf produced in backward names the forward op and line."""

    def __init__(self, check_nan=True):
        self._mode = bool(check_nan)

    def __enter__(self):
        self._prev = _C.autograd.is_anomaly_enabled()
        _C.autograd.set_anomaly_mode(self._mode)

    def __exit__(self, *exc):
        _C.autograd.set_anomaly_mode(self._prev)
        return False


def set_detect_anomaly(mode):
    _C.autograd.set_anomaly_mode(bool(mode))


is_anomaly_enabled = _C.autograd.is_anomaly_enabled
