"""doppel.distributed: process groups and collectives, as torch.distributed has them.

Launch one process per rank with mpirun (``mpirun -np 2 python train.py``); the processes find
each other through MPI::

    import doppel.distributed as dist
    dist.init_process_group("mpi")          # "nccl" for CUDA tensors
    t = doppel.ones(4) * dist.get_rank()
    dist.all_reduce(t)                       # in place: the sum over the ranks
    work = dist.all_reduce(t, async_op=True) # queued; work.wait() blocks
    dist.destroy_process_group()

Each collective is an op of doppel's op table (all_reduce, broadcast, all_gather, reduce_scatter,
all_to_all), so doppel.compile records it in the graph it replays. The in-place forms here are
not differentiable (as torch.distributed's); doppel.distributed.nn.functional's are.

After init_process_group, an exception that escapes on one rank ends the whole job with a message
naming that rank (instead of leaving the others waiting), and every collective gives up after the
timeout (30 minutes, DOPPEL_DISTRIBUTED_TIMEOUT seconds, or ``timeout=``).
"""
import datetime as _datetime
import sys as _sys
import traceback as _traceback

from .. import _C

if not hasattr(_C, "_distributed"):
    raise ImportError("doppel.distributed: this doppel was built without MPI (DOPPEL_DISTRIBUTED=OFF, the pip "
                      "wheel's default); on a machine with an MPI library (Debian: libopenmpi-dev) build it with "
                      "`pip install . -Ccmake.define.DOPPEL_DISTRIBUTED=ON`")
_D = _C._distributed
Work = _D.Work


class ReduceOp:
    """How all_reduce and reduce_scatter combine the ranks' values (AVG: floating point only)."""
    SUM = 0
    AVG = 1
    MAX = 2
    MIN = 3


class ProcessGroup:
    """A group of ranks: the world (group.WORLD) or one made by new_group."""

    def __init__(self, gid):
        self._id = gid

    def rank(self):
        return _D.get_rank(self._id)

    def size(self):
        return _D.get_world_size(self._id)

    @property
    def ranks(self):
        return list(_D.group_ranks(self._id))

    def __repr__(self):
        return f"ProcessGroup(id={self._id})"


class group:  # noqa: N801  (torch.distributed.group)
    WORLD = ProcessGroup(0)


def _gid(g):
    return 0 if g is None else g._id


def _timeout_seconds(timeout):
    if timeout is None:
        return None
    if isinstance(timeout, _datetime.timedelta):
        return timeout.total_seconds()
    return float(timeout)


_previous_excepthook = None


def _abort_on_uncaught(exc_type, exc, tb):
    """An exception escaping one rank ends the job, naming the rank, so the others do not wait."""
    _traceback.print_exception(exc_type, exc, tb)
    _D.abort_job(f"uncaught {exc_type.__name__}: {exc}")


def init_process_group(backend="mpi", init_method=None, timeout=None, world_size=-1, rank=-1,
                       check_shapes=None):
    """Starts the default process group over the processes mpirun/srun launched.

    rank/world_size, when given, must agree with MPI's. ``init_method`` must be None or "env://"
    (MPI finds the peers). ``timeout``: a timedelta or seconds; ``check_shapes``: exchange each
    collective's shapes first so that ranks that disagree get an error (default on;
    DOPPEL_DISTRIBUTED_CHECK=0)."""
    global _previous_excepthook
    if init_method not in (None, "env://"):
        raise _C.ValueError(f"init_process_group: init_method {init_method!r} is not supported; the mpi "
                            "launcher (mpirun/srun) connects the processes")
    _D.init_process_group(backend, None if rank < 0 else rank, None if world_size < 0 else world_size,
                          _timeout_seconds(timeout), check_shapes)
    if _previous_excepthook is None:
        _previous_excepthook = _sys.excepthook
        _sys.excepthook = _abort_on_uncaught


def destroy_process_group(group=None):
    global _previous_excepthook
    if group is not None and _gid(group) != 0:
        raise _C.ValueError("destroy_process_group: only the default group can be destroyed")
    _D.destroy_process_group()
    if _previous_excepthook is not None:
        _sys.excepthook = _previous_excepthook
        _previous_excepthook = None


def is_initialized():
    return _D.is_initialized()


def is_available():
    return True


def is_mpi_available():
    return True


def get_backend(group=None):
    return _D.get_backend()


def get_rank(group=None):
    return _D.get_rank(_gid(group))


def get_world_size(group=None):
    return _D.get_world_size(_gid(group))


def get_local_rank():
    return _D.get_local_rank()


def new_group(ranks=None):
    """A sub-group of world ranks; every rank calls it (members or not), in the same order."""
    if ranks is None:
        ranks = range(get_world_size())
    return ProcessGroup(_D.new_group(sorted(int(r) for r in ranks)))


def barrier(group=None):
    _D.barrier(_gid(group))


def _done(work, async_op):
    return work if async_op else None


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    return _done(_D.all_reduce(tensor, op, _gid(group), async_op), async_op)


def broadcast(tensor, src, group=None, async_op=False):
    return _done(_D.broadcast(tensor, src, _gid(group), async_op), async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    return _done(_D.all_gather(list(tensor_list), tensor, _gid(group), async_op), async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    return _done(_D.all_gather_into_tensor(output_tensor, input_tensor, _gid(group), async_op), async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):  # noqa: A002
    return _done(_D.reduce_scatter_tensor(output, input, op, _gid(group), async_op), async_op)


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None,  # noqa: A002
                      async_op=False):
    if output_split_sizes is not None or input_split_sizes is not None:
        raise _C.ValueError("all_to_all_single: only equal splits are supported (leave the split sizes None)")
    return _done(_D.all_to_all_single(output, input, _gid(group), async_op), async_op)


from . import nn  # noqa: E402,F401
