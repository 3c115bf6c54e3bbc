"""The kernels keep a weight's prepacked layout across calls while its version stands
(kernels/cpu/onednn/weight_cache.h). From Python a weight can also change without an op: through
memory shared with numpy (tensor.numpy(), DLPack, from_numpy) or through data_ptr(). Each way, the
next call must see the new values; numpy is the oracle."""
import numpy as np

import doppel
import doppel.nn as nn
import doppel.nn.functional as F


def conv_reference(x, w, b):
    """conv2d with padding 1 in float64 numpy."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, o, h, wd))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j].astype(np.float64))
    return out + b.astype(np.float64)[None, :, None, None]


def warm(model, x, calls=3):
    with doppel.no_grad():
        for _ in range(calls):
            model(x)


def test_a_numpy_write_to_a_weight_is_seen_by_the_next_call():
    doppel.manual_seed(0)
    conv = nn.Conv2d(16, 32, 3, padding=1)
    x = doppel.randn(2, 16, 10, 10)
    warm(conv, x)
    view = conv.weight.detach().numpy()  # shares the weight's memory
    view *= -3.0
    with doppel.no_grad():
        got = conv(x).numpy()
    want = conv_reference(x.numpy(), view, conv.bias.detach().numpy())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_a_weight_wrapping_a_numpy_array_follows_the_array():
    w = np.random.default_rng(1).standard_normal((24, 64)).astype(np.float32)
    b = np.zeros(24, np.float32)
    x = doppel.randn(1, 64)
    wt, bt = doppel.from_numpy(w), doppel.from_numpy(b)
    for _ in range(3):
        F.linear(x, wt, bt)
    w[:] = -w  # the array's owner writes it: no doppel op saw that
    np.testing.assert_allclose(F.linear(x, wt, bt).numpy(), x.numpy() @ w.T, rtol=1e-4, atol=1e-5)


def test_a_compiled_graph_sees_a_weight_changed_between_calls():
    # (inference=True promises frozen weights; without it the graph reads them on every run)
    doppel.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 8 * 8, 10))
    model.eval()
    x = doppel.randn(1, 3, 8, 8)
    f = doppel.compile(model)
    warm(f, x, 4)
    with doppel.no_grad():
        model[3].weight.mul_(0.5)  # an op: the version moves on
        model[0].weight.detach().numpy()[:] *= 2.0  # no op: the memory was shared out
        got, want = f(x).numpy(), model(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
