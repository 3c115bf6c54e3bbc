"""doppel.autocast: PyTorch's torch.autocast over doppel::AutocastGuard. Inside the scope, ops on
tensors of `device_type` cast their floating inputs by the op's autocast policy (matmul, linear,
convolution in `dtype`: bfloat16 by default on the CPU; losses, reductions, exp/log in float32).

    with doppel.autocast("cpu"):
        loss = F.cross_entropy(model(x), y)   # linear layers in bfloat16, the loss in float32
    loss.backward()                           # gradients in the parameters' dtype
"""
from . import _C


class autocast:
    def __init__(self, device_type, dtype=None, enabled=True):
        self._c = _C.Autocast(device_type, dtype, enabled)

    def __enter__(self):
        self._c._enter()
        return self

    def __exit__(self, *exc):
        self._c._exit()
        return False
