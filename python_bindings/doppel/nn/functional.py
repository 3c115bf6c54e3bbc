"""doppel.nn.functional: the functional forms of the nn ops, as in torch.nn.functional."""
from .. import _C

relu = _C.relu
gelu = _C.gelu
silu = _C.silu
sigmoid = _C.sigmoid
tanh = _C.tanh
leaky_relu = _C.leaky_relu
elu = _C.elu
softplus = _C.softplus
softmax = _C.softmax
log_softmax = _C.log_softmax
linear = _C.linear
conv1d = _C.conv1d
conv2d = _C.conv2d
conv_transpose2d = _C.conv_transpose2d
max_pool2d = _C.max_pool2d
avg_pool2d = _C.avg_pool2d
adaptive_avg_pool2d = _C.adaptive_avg_pool2d
batch_norm = _C.batch_norm
layer_norm = _C.layer_norm
group_norm = _C.group_norm
dropout = _C.dropout
embedding = _C.embedding
one_hot = _C.one_hot
cross_entropy = _C.cross_entropy
nll_loss = _C.nll_loss
mse_loss = _C.mse_loss
l1_loss = _C.l1_loss
smooth_l1_loss = _C.smooth_l1_loss
binary_cross_entropy_with_logits = _C.binary_cross_entropy_with_logits
logsigmoid = _C.logsigmoid


def _activation(fn, fn_):
    """F.<name>(input, inplace=False): fn_ writes into input (a Tensor method) when inplace."""

    def apply(input, inplace=False):
        return fn_(input) if inplace else fn(input)

    apply.__name__ = fn.__name__
    return apply


relu6 = _activation(_C.relu6, _C.Tensor.relu6_)
hardswish = _activation(_C.hardswish, _C.Tensor.hardswish_)
hardsigmoid = _activation(_C.hardsigmoid, _C.Tensor.hardsigmoid_)
mish = _activation(_C.mish, _C.Tensor.mish_)
selu = _activation(_C.selu, _C.Tensor.selu_)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    return input.hardtanh_(min_val, max_val) if inplace else _C.hardtanh(input, min_val, max_val)
