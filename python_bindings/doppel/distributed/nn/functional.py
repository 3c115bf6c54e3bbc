"""Differentiable collectives (torch.distributed.nn.functional): out of place, with gradients
(all_reduce -> all_reduce of the gradient, all_gather -> reduce_scatter, reduce_scatter ->
all_gather, all_to_all -> all_to_all, broadcast -> the gradients summed at src)."""
from ... import _C
from .. import ReduceOp, _gid

_D = _C._distributed


def all_reduce(tensor, op=ReduceOp.SUM, group=None):
    return _D.functional_all_reduce(tensor, op, _gid(group))


def broadcast(tensor, src, group=None):
    return _D.functional_broadcast(tensor, src, _gid(group))


def all_gather(tensor, group=None):
    """A tuple of every rank's tensor, in rank order."""
    return tuple(_D.functional_all_gather(tensor, _gid(group)))


def reduce_scatter_tensor(tensor, op=ReduceOp.SUM, group=None):
    return _D.functional_reduce_scatter_tensor(tensor, op, _gid(group))


def all_to_all_single(tensor, group=None):
    return _D.functional_all_to_all_single(tensor, _gid(group))
