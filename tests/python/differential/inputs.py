"""Seeded input arrays for the differential cases: random values with the IEEE specials planted
at fixed positions, and the shapes on both sides of doppel's backend thresholds."""
import numpy as np

# oneDNN serves contiguous float32 elementwise ops and copies from 4096 elements on
# (kernels/cpu/onednn/elementwise.cpp and copy.cpp kMinNumel); matmuls: test_nn_ops.py.
SHAPES = {
    "small": (3, 5),
    "below": (63, 65),  # 4095 elements: the reference kernel
    "at": (64, 64),  # 4096: oneDNN for contiguous float32
}

TINY = {"float32": 1e-40, "float64": 1e-310, "float16": 1e-7, "bfloat16": 1e-40}  # denormals


def rng(seed):
    return np.random.RandomState(seed)


def floats(shape, seed=0, dtype="float32", specials=True, low=-3.0, high=3.0):
    """Uniform values with, when `specials`, NaN, +-inf, a denormal, +-0 and numbers near 1 spread
    over the array (as many as fit)."""
    a = rng(seed).uniform(low, high, size=shape)
    if specials:
        flat = a.reshape(-1)
        vals = [np.nan, np.inf, -np.inf, TINY[dtype], -TINY[dtype], 0.0, -0.0, 1.0, 1.0 + 2e-3, 1.0 - 1e-3, -1.0]
        # spread them: positions 0, 5, 10, ... so several rows and columns hold one
        step = max(1, flat.size // (len(vals) + 1))
        for i, v in enumerate(vals[:flat.size]):
            flat[i * step] = v
    return a.astype(np.float64)


def positive(shape, seed=0):
    return rng(seed).uniform(0.2, 3.0, size=shape)


def ints(shape, seed=0, low=-20, high=20, dtype=np.int64):
    return rng(seed).randint(low, high, size=shape).astype(dtype)


def bools(shape, seed=0):
    return rng(seed).uniform(size=shape) < 0.5
