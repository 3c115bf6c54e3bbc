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
avg_pool2d = _C.avg_pool2d
adaptive_avg_pool2d = _C.adaptive_avg_pool2d
avg_pool1d = _C.avg_pool1d
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


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """As torch.nn.functional.max_pool2d; return_indices=True also returns the int64 flat indices."""
    f = _C.max_pool2d_with_indices if return_indices else _C.max_pool2d
    return f(input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """As torch.nn.functional.max_pool1d; return_indices=True also returns the int64 positions."""
    f = _C.max_pool1d_with_indices if return_indices else _C.max_pool1d
    return f(input, kernel_size, stride, padding, dilation, ceil_mode)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """As torch.nn.functional.adaptive_max_pool2d."""
    f = _C.adaptive_max_pool2d_with_indices if return_indices else _C.adaptive_max_pool2d
    return f(input, output_size)
