"""doppel.utils.data: Dataset, TensorDataset, DataLoader over any Python dataset (map-style:
__len__ and __getitem__), with PyTorch's default collation (stack tensors, numbers become a
tensor, tuples/dicts collate field by field) and seeded shuffling."""
import numpy as _np

from .. import _C


class Dataset:
    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


class TensorDataset(Dataset):
    """Rows of tensors that share their first dimension."""

    def __init__(self, *tensors):
        if not tensors:
            raise _C.ValueError("TensorDataset: give at least one tensor")
        n = tensors[0].shape[0]
        for i, t in enumerate(tensors):
            if t.shape[0] != n:
                raise _C.ShapeError(f"TensorDataset: tensor {i} has {t.shape[0]} rows, tensor 0 has {n}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


def default_collate(batch):
    first = batch[0]
    if isinstance(first, _C.Tensor):
        return _C.stack(list(batch))
    if isinstance(first, bool):
        return _C.from_numpy(_np.array(batch, dtype=_np.bool_))
    if isinstance(first, int):
        return _C.from_numpy(_np.array(batch, dtype=_np.int64))
    if isinstance(first, float):
        return _C.from_numpy(_np.array(batch, dtype=_np.float32))
    if isinstance(first, _np.ndarray):
        return _C.from_numpy(_np.require(_np.stack(batch), requirements="C"))
    if isinstance(first, dict):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(default_collate(list(field)) for field in zip(*batch))
    raise TypeError(f"default_collate: cannot batch elements of type {type(first).__name__}; pass collate_fn")


class DistributedSampler:
    """Each rank's shard of a dataset (torch.utils.data.DistributedSampler): shuffled per epoch
    from `seed` (call set_epoch) exactly as PyTorch shuffles, padded by repeating indices so that
    every rank gets as many, or cut with drop_last. num_replicas and rank default to the process
    group's (doppel.distributed)."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            from .. import distributed
            if not distributed.is_initialized():
                raise _C.ValueError("DistributedSampler: no process group; call doppel.distributed."
                                    "init_process_group or pass num_replicas and rank")
            num_replicas = distributed.get_world_size() if num_replicas is None else num_replicas
            rank = distributed.get_rank() if rank is None else rank
        if num_replicas < 1 or rank < 0 or rank >= num_replicas:
            raise _C.ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = -(-max(n - num_replicas, 0) // num_replicas)  # ceil((n - k) / k), >= 0
        else:
            self.num_samples = -(-n // num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self):
        return iter(_C.distributed_sampler_indices(len(self.dataset), self.num_replicas, self.rank, self.shuffle,
                                                   self.seed, self.epoch, self.drop_last))

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        self.epoch = epoch


class DataLoader:
    """Batches of a map-style dataset. shuffle draws a new permutation every epoch from `seed`;
    a `sampler` (a DistributedSampler) gives the order instead."""

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None, seed=0, sampler=None):
        if batch_size < 1:
            raise _C.ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        if sampler is not None and shuffle:
            raise _C.ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        self.sampler = sampler
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn or default_collate
        self.seed = seed
        self.epoch = 0

    def __len__(self):
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self):
        if self.sampler is not None:
            return list(self.sampler)
        n = len(self.dataset)
        if not self.shuffle:
            return _np.arange(n)
        return _np.random.default_rng((self.seed, self.epoch)).permutation(n)

    def __iter__(self):
        order = self._order()
        self.epoch += 1
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield self.collate_fn([self.dataset[int(i)] for i in idx])
