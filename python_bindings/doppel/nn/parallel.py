"""doppel.nn.parallel: DistributedDataParallel (torch.nn.parallel's), over doppel.distributed."""
import contextlib

from .. import _C
from .module import Module


class DistributedDataParallel(Module):
    """Trains one model over the ranks of a process group: parameters and buffers are broadcast
    from the group's first rank at construction; during backward the gradients are averaged over
    the ranks in buckets (reverse registration order, bucket_cap_mb each), each all-reduced
    asynchronously as soon as it is complete, so communication overlaps the rest of backward.
    no_sync() accumulates gradients locally; the next synced backward averages the sum. A
    parameter that received no gradient is an error at the next forward (find_unused_parameters is
    not supported)."""

    def __init__(self, module, device_ids=None, output_device=None, broadcast_buffers=True, process_group=None,
                 bucket_cap_mb=25, find_unused_parameters=False):
        super().__init__()
        from .. import distributed as dist
        if find_unused_parameters:
            raise _C.ValueError("DistributedDataParallel: find_unused_parameters is not supported; every parameter "
                                "must take part in the loss")
        self.module = module
        self._group = process_group or dist.group.WORLD
        self._src = self._group.ranks[0]
        self.broadcast_buffers = broadcast_buffers
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t, self._src, group=self._group)
        named = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
        self._reducer = _C._distributed.Reducer(named, int(bucket_cap_mb * (1 << 20)), self._group._id)

    def forward(self, *args, **kwargs):
        from .. import distributed as dist
        self._reducer.prepare_for_forward()
        if self.broadcast_buffers:
            for b in self.module.buffers():
                dist.broadcast(b, self._src, group=self._group)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        previous = self._reducer.sync
        self._reducer.sync = False
        try:
            yield
        finally:
            self._reducer.sync = previous
