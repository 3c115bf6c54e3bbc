"""doppel.nn.functional: the functional forms of the nn ops, as in torch.nn.functional."""
from .. import _C

gelu = _C.gelu
sigmoid = _C.sigmoid
tanh = _C.tanh
softplus = _C.softplus
softmax = _C.softmax
log_softmax = _C.log_softmax
linear = _C.linear
conv1d = _C.conv1d
conv2d = _C.conv2d
conv_transpose2d = _C.conv_transpose2d
avg_pool2d = _C.avg_pool2d
avg_pool1d = _C.avg_pool1d
batch_norm = _C.batch_norm
layer_norm = _C.layer_norm
group_norm = _C.group_norm
instance_norm = _C.instance_norm
normalize = _C.normalize
pad = _C.pad
embedding = _C.embedding
one_hot = _C.one_hot
cross_entropy = _C.cross_entropy
nll_loss = _C.nll_loss
mse_loss = _C.mse_loss
l1_loss = _C.l1_loss
smooth_l1_loss = _C.smooth_l1_loss
huber_loss = _C.huber_loss
binary_cross_entropy = _C.binary_cross_entropy
binary_cross_entropy_with_logits = _C.binary_cross_entropy_with_logits
kl_div = _C.kl_div
scaled_dot_product_attention = _C.scaled_dot_product_attention
rms_norm = _C.rms_norm
apply_rotary = _C.apply_rotary


def rotary_cos_sin(position_ids, dim, base=10000.0, dtype=None):
    """Hugging Face's default rotary tables (LlamaRotaryEmbedding): inv_freq = 1 / base^(2i / dim)
    for i < dim / 2, angles = position * inv_freq in float32, emb = cat(angles, angles) and
    (cos(emb), sin(emb)) of shape position_ids.shape + (dim,), cast to `dtype` when given. Feed
    them to apply_rotary after unsqueezing the heads dim (cos.unsqueeze(1) for [B, H, L, D])."""
    exponents = _C.arange(0, dim, 2, dtype=_C.int64).to(_C.float32) / dim
    inv_freq = _C.reciprocal(_C.pow(float(base), exponents))
    angles = position_ids.to(_C.float32).unsqueeze(-1) * inv_freq
    emb = _C.cat([angles, angles], -1)
    cos, sin = emb.cos(), emb.sin()
    return (cos, sin) if dtype is None else (cos.to(dtype), sin.to(dtype))


def _out_of_place(fn, input, *args, **kwargs):
    """fn's result written into input (PyTorch's inplace=True). fn runs on a copy, so that what
    its gradient saved is not the tensor overwritten here."""
    return input.copy_(fn(input.clone(), *args, **kwargs))


def relu(input, inplace=False):
    return input.relu_() if inplace else _C.relu(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _out_of_place(_C.leaky_relu, input, negative_slope) if inplace else _C.leaky_relu(input, negative_slope)


def elu(input, alpha=1.0, inplace=False):
    return _out_of_place(_C.elu, input, alpha) if inplace else _C.elu(input, alpha)


def silu(input, inplace=False):
    return _out_of_place(_C.silu, input) if inplace else _C.silu(input)


def dropout(input, p=0.5, training=True, inplace=False):
    if not inplace:
        return _C.dropout(input, p, training)
    # Eval-mode dropout is the identity: nothing to write.
    return input.copy_(_C.dropout(input, p, training)) if training else input


def _ntuple(v, n, what):
    v = [v] * n if isinstance(v, int) else list(v)
    if len(v) == 1:
        v = v * n
    if len(v) != n:
        raise ValueError(f"{what} must be an int or {n} ints, got {v}")
    return v


def _same_or_valid(input, weight, padding, stride, dilation, n, op):
    """padding='same'|'valid' as PyTorch: 'valid' is no padding; 'same' (stride 1 only) pads
    dilation·(k - 1) in total per spatial dim, half on each side and the odd one at the end."""
    if padding == "valid":
        return input, [0] * n
    if padding != "same":
        raise ValueError(f"{op}: invalid padding string '{padding}', should be one of 'valid', 'same'")
    if any(s != 1 for s in stride):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride {stride})")
    total = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:])]
    left = [t // 2 for t in total]
    if any(t % 2 for t in total):
        extra = []
        for t, lo in reversed(list(zip(total, left))):
            extra += [0, t - 2 * lo]
        input = pad(input, extra)
    return input, left


def _conv(n, op, input, weight, bias, stride, padding, dilation, groups):
    stride = _ntuple(stride, n, f"{op} stride")
    dilation = _ntuple(dilation, n, f"{op} dilation")
    if isinstance(padding, str):
        input, padding = _same_or_valid(input, weight, padding, stride, dilation, n, op)
    padding = _ntuple(padding, n, f"{op} padding")
    return _C.convolution(input, weight, bias, stride, padding, dilation, False, [0] * n, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(1, "conv1d", input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(2, "conv2d", input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(3, "conv3d", input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(n, op, input, weight, bias, stride, padding, output_padding, groups, dilation):
    return _C.convolution(input, weight, bias, _ntuple(stride, n, f"{op} stride"),
                          _ntuple(padding, n, f"{op} padding"), _ntuple(dilation, n, f"{op} dilation"), True,
                          _ntuple(output_padding, n, f"{op} output_padding"), groups)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose(1, "conv_transpose1d", input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose(3, "conv_transpose3d", input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """As torch.nn.functional.max_pool2d; return_indices=True also returns the int64 flat indices."""
    f = _C.max_pool2d_with_indices if return_indices else _C.max_pool2d
    return f(input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """As torch.nn.functional.max_pool1d; return_indices=True also returns the int64 positions."""
    f = _C.max_pool1d_with_indices if return_indices else _C.max_pool1d
    return f(input, kernel_size, stride, padding, dilation, ceil_mode)


def _adaptive_output_size(input, output_size):
    """PyTorch's adaptive output size: an int or a pair, where None keeps the input's size."""
    if isinstance(output_size, int) or output_size is None:
        output_size = (output_size, output_size)
    return [input.shape[-2 + k] if s is None else s for k, s in enumerate(output_size)]


def adaptive_avg_pool2d(input, output_size):
    """As torch.nn.functional.adaptive_avg_pool2d (None in output_size keeps that size)."""
    return _C.adaptive_avg_pool2d(input, _adaptive_output_size(input, output_size))


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """As torch.nn.functional.adaptive_max_pool2d (None in output_size keeps that size)."""
    f = _C.adaptive_max_pool2d_with_indices if return_indices else _C.adaptive_max_pool2d
    return f(input, _adaptive_output_size(input, output_size))


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
