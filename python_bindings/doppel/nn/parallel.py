"""doppel.nn.parallel: DistributedDataParallel, as torch.nn.parallel has it (CPU processes over MPI,
one GPU per process over NCCL). Launch one process per rank (``mpirun -np 2 python train.py``)::

    import doppel.distributed as dist
    from doppel.nn.parallel import DistributedDataParallel as DDP
    dist.init_process_group("mpi")
    model = DDP(Net())                  # rank 0's parameters and buffers everywhere
    loss = loss_fn(model(x_shard), y_shard)
    loss.backward()                     # .grad: the average over the ranks
    with model.no_sync():               # gradient accumulation: local only
        loss_fn(model(x2), y2).backward()

The gradients are averaged in buckets (bucket_cap_mb, the first 1 MiB, reverse registration
order) by the C++ reducer (distributed/include/doppel/distributed/reducer.h): each bucket's
all-reduce starts on the communication thread once backward has accumulated all its gradients.
"""
import contextlib

from .. import _C
from ..autograd import is_grad_enabled, no_grad
from .module import Module


def _dist():
    """doppel.distributed, imported on use: doppel.nn imports this module also in builds without
    distributed/ (no MPI), where only constructing DistributedDataParallel must fail."""
    from .. import distributed
    return distributed


def _broadcast_from_first_rank(tensors, group):
    src = (group or _dist().group.WORLD).ranks[0]
    with no_grad():
        for t in tensors:
            _dist().broadcast(t, src, group=group)


class DistributedDataParallel(Module):
    """Wraps `module`; its parameters are module's, named "module.<name>" as PyTorch's.

    Parameters that get no gradient in a backward are an error raised by the next forward (naming
    them), unless find_unused_parameters=True (then they are averaged as zeros; those no rank used
    keep their .grad)."""

    def __init__(self, module, device_ids=None, output_device=None, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=25, find_unused_parameters=False):
        super().__init__()
        if device_ids not in (None, []) and len(device_ids) != 1:
            raise ValueError("DistributedDataParallel: device_ids must hold one device (one GPU per "
                             f"process), got {device_ids}")
        del output_device  # outputs stay where the module puts them (one device per process)
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.process_group = process_group
        self.require_backward_grad_sync = True
        _broadcast_from_first_rank(list(module.parameters()), process_group)
        _broadcast_from_first_rank(list(module.buffers()), process_group)
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._reducer = _C._distributed.Reducer(
            [p for _, p in named], [n for n, _ in named], float(bucket_cap_mb),
            bool(find_unused_parameters), 0 if process_group is None else process_group._id)

    @property
    def bucket_indices(self):
        """Parameter indices (into module.parameters() that require grad) per bucket, in the
        order the buckets are all-reduced."""
        return [list(b) for b in self._reducer.buckets]

    def forward(self, *inputs, **kwargs):
        if is_grad_enabled() and self.require_backward_grad_sync:
            self._reducer.prepare_for_backward()
        if self.broadcast_buffers and _dist().get_world_size(self.process_group) > 1:
            _broadcast_from_first_rank(list(self.module.buffers()), self.process_group)
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside only accumulate gradients locally; the first one after it
        averages the accumulated gradients over the ranks."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous
