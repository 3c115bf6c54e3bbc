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


class DataLoader:
    """Batches of a map-style dataset. shuffle draws a new permutation every epoch from `seed`."""

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None, seed=0):
        if batch_size < 1:
            raise _C.ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn or default_collate
        self.seed = seed
        self.epoch = 0

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self):
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
