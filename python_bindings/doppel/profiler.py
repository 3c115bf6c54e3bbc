"""doppel.profiler: PyTorch's torch.profiler over doppel's C++ profiler (doppel/profiler.h).

    with doppel.profiler.profile() as prof:
        with doppel.profiler.record_function("train_step"):
            loss = step(x, y)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")            # chrome://tracing, ui.perfetto.dev

Every eager op and every node a compiled graph runs is recorded (name, input shapes and dtypes,
backend and kernel implementation, start/end, thread, bytes allocated, FLOPs where known), as
are autograd's backward nodes and record_function ranges, which nest.
"""
import functools

from . import _C

_P = _C._profiler

__all__ = ["profile", "record_function", "tensorboard_trace_handler"]


class FunctionEventAvg:
    """One row of key_averages(): the events of one name (times in microseconds, as PyTorch)."""

    def __init__(self, row):
        self.key = row.name
        self.count = row.calls
        self.self_cpu_time_total = row.self_ns / 1e3
        self.cpu_time_total = row.total_ns / 1e3
        self.cpu_time = self.cpu_time_total / self.count if self.count else 0.0
        self.flops = row.flops
        self.cpu_memory_usage = row.bytes_allocated

    def __repr__(self):
        return (f"<FunctionEventAvg key={self.key} count={self.count} self_cpu_time_total={self.self_cpu_time_total:.3f}us "
                f"cpu_time_total={self.cpu_time_total:.3f}us>")


class EventList(list):
    """key_averages(): a list of FunctionEventAvg with PyTorch's table()."""

    def __init__(self, averages):
        super().__init__(FunctionEventAvg(r) for r in averages.rows())
        self._averages = averages

    def table(self, sort_by="self_cpu_time_total", row_limit=100):
        return self._averages.table(sort_by, -1 if row_limit is None else row_limit)

    @property
    def self_cpu_time_total(self):
        return self._averages.self_ns_total() / 1e3


class profile:
    """Records while active (a with-block, or start()/stop()); one profile at a time.

    on_trace_ready: called with the profile when it stops (e.g. tensorboard_trace_handler(dir)).
    """

    def __init__(self, on_trace_ready=None):
        self._on_trace_ready = on_trace_ready
        self._p = None

    def start(self):
        self._p = _P.Profile()
        return self

    def stop(self):
        if self._p is not None and self._p.recording:
            self._p.stop()
            if self._on_trace_ready is not None:
                self._on_trace_ready(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def _stopped(self):
        if self._p is None:
            raise _C.ValueError("profiler: this profile has not been started (use it as a with-block or call start())")
        return self._p

    def events(self):
        """The recorded events as dicts (name, kind, input_shapes, input_dtypes, backend, implementation,
        start_ns, end_ns, thread_id, bytes_allocated, flops, in_backward, parent)."""
        return self._stopped().events()

    def key_averages(self):
        return EventList(self._stopped().key_averages())

    def export_chrome_trace(self, path):
        self._stopped().export_chrome_trace(str(path))

    @property
    def wall_ns(self):
        return self._stopped().wall_ns


class record_function:
    """A named range in the profile: a context manager, or a decorator naming each call."""

    def __init__(self, name):
        self.name = name
        self._range = None

    def __enter__(self):
        self._range = _P.Range(self.name)
        self._range.enter()
        return self

    def __exit__(self, *exc):
        self._range.exit()
        self._range = None
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with record_function(self.name):
                return fn(*args, **kwargs)

        return wrapped


def tensorboard_trace_handler(dir_name, worker_name=None):
    """on_trace_ready handler writing <dir_name>/plugins/profile/<run>/<host>.pt.trace.json, where
    TensorBoard's profile plugin finds it; run is worker_name, or the current time."""

    def handler(prof):
        return prof._stopped().write_tensorboard_trace(str(dir_name), worker_name or "")

    return handler
