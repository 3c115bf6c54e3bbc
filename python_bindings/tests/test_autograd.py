# Autograd from Python against central finite differences (float64), grad mode as context
# manager and decorator, autograd.grad with create_graph, hooks and anomaly mode.
import numpy as np
import pytest

import doppel


def numeric_grad(f, x, eps=1e-6):
    x = x.copy()
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        hi = f(x)
        x[i] = old - eps
        lo = f(x)
        x[i] = old
        g[i] = (hi - lo) / (2 * eps)
    return g


FUNCTIONS = {
    "tanh_sum": lambda t: (t.tanh() * t).sum(),
    "softmax_log": lambda t: doppel.log_softmax(t, 1)[:, 0].sum(),
    "matmul": lambda t: (t @ t.T).pow(2).mean(),
    "indexing": lambda t: (t[1:, ::2] * t[0, 1]).sum() + t[doppel.tensor([0, 2])].exp().sum(),
    "reduce_max": lambda t: t.amax(1).sum() + t.std(),
    "sigmoid_div": lambda t: (t.sigmoid() / (1 + t * t)).sum(),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_gradients_match_finite_differences(name):
    f = FUNCTIONS[name]
    x0 = np.random.default_rng(4).standard_normal((3, 4))
    x = doppel.tensor(x0, requires_grad=True)
    y = f(x)
    y.backward()
    expected = numeric_grad(lambda v: f(doppel.tensor(v)).item(), x0)
    np.testing.assert_allclose(np.asarray(x.grad), expected, rtol=1e-5, atol=1e-7)


def test_grad_with_create_graph_gives_second_derivative():
    x = doppel.tensor([0.3, -1.2, 2.0], dtype=doppel.float64, requires_grad=True)
    (g,) = doppel.autograd.grad((x ** 3).sum(), x, create_graph=True)
    np.testing.assert_allclose(np.asarray(g.detach()), 3 * np.asarray(x.detach()) ** 2)
    (h,) = doppel.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(np.asarray(h), 6 * np.asarray(x.detach()))
    a = doppel.ones(2, requires_grad=True)
    b = doppel.ones(2, requires_grad=True)
    ga, gb = doppel.autograd.grad((a * 2).sum(), [a, b], allow_unused=True)
    assert ga.tolist() == [2.0, 2.0] and gb is None


def test_no_grad_context_and_decorator():
    x = doppel.ones(2, requires_grad=True)
    with doppel.no_grad():
        assert not doppel.is_grad_enabled()
        y = x * 2
        with doppel.enable_grad():
            z = x * 2
    assert doppel.is_grad_enabled()
    assert not y.requires_grad and z.requires_grad

    @doppel.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad and doppel.is_grad_enabled()
    with doppel.set_grad_enabled(False):
        assert not (x * 1).requires_grad
    assert (x * 1).requires_grad


def test_grad_mode_blocks_restore_what_they_found():
    # One object entered again inside its own block, an exception leaving a block, a block per
    # thread (grad mode is thread-local), subclasses and the decorator on a reused object.
    import threading

    off, on = doppel.no_grad(), doppel.enable_grad()
    with off:
        with on:
            with off:
                assert not doppel.is_grad_enabled()
            assert doppel.is_grad_enabled()
        assert not doppel.is_grad_enabled()
    assert doppel.is_grad_enabled()
    with pytest.raises(ZeroDivisionError):
        with off:
            1 / 0
    assert doppel.is_grad_enabled()
    seen = []
    with off:
        t = threading.Thread(target=lambda: seen.append(doppel.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True] and doppel.is_grad_enabled()
    assert isinstance(off, doppel.no_grad) and not isinstance(off, doppel.enable_grad)

    @off
    def g():
        return doppel.is_grad_enabled()

    assert g() is False and g() is False and doppel.is_grad_enabled()


def test_backward_accumulates_and_hooks():
    x = doppel.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [4.0, 8.0]
    x.grad = None
    seen = []
    y = x * 3
    y.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
    y.sum().backward()
    assert seen == [[1.0, 1.0]] and x.grad.tolist() == [30.0, 30.0]
    assert x.is_leaf and not y.is_leaf and y.grad_fn is not None


def test_anomaly_mode_raises_on_non_finite_gradients():
    x = doppel.tensor([0.0, 1.0], requires_grad=True)
    with doppel.autograd.detect_anomaly():
        assert doppel.autograd.is_anomaly_enabled()
        y = doppel.sqrt(x).sum()  # d sqrt(x)/dx at 0 is inf
        with pytest.raises(RuntimeError) as info:
            y.backward()
    assert not doppel.autograd.is_anomaly_enabled()
    assert "produced Inf" in str(info.value)
    assert "test_autograd.py" in str(info.value)  # the Python caller's line, not the binding's
    doppel.sqrt(x).sum().backward()  # without anomaly mode: no check
    assert x.grad.tolist()[0] == float("inf")


def test_in_place_writes_into_views_of_non_leaves_backpropagate():
    # PyTorch 1.13: y = x * 1; y[1:2] *= t; (y * y).sum().backward() gives x.grad = [2, 400, 6]
    # (d(x1 t)^2/dx1 = 2 x1 t^2) and t.grad = [80] (2 x1^2 t).
    x = doppel.tensor([1.0, 2.0, 3.0], dtype=doppel.float64, requires_grad=True)
    t = doppel.tensor([10.0], dtype=doppel.float64, requires_grad=True)
    y = x * 1
    y[1:2] *= t
    (y * y).sum().backward()
    assert x.grad.tolist() == [2.0, 400.0, 6.0] and t.grad.tolist() == [80.0]
    # y.mul_(t) with t requiring grad keeps the old y for t's gradient.
    x.grad = None
    y = x * 2
    y *= x
    y.sum().backward()
    assert x.grad.tolist() == [4.0, 8.0, 12.0]
    with pytest.raises(ValueError, match="copy_: a view of a leaf tensor that requires grad"):
        x[0] = 5.0


def test_partially_overlapping_in_place_write_is_refused():
    z = doppel.arange(9, dtype=doppel.float32).reshape(3, 3)
    with pytest.raises(ValueError, match="add_: unsupported operation: some elements of input 1"):
        z += z.t()
    with pytest.raises(ValueError, match="more than one element of the written-to tensor"):
        doppel.zeros(3).expand(2, 3).fill_(1.0)
    z += z  # the same elements: allowed
    assert z.tolist() == [[0.0, 2.0, 4.0], [6.0, 8.0, 10.0], [12.0, 14.0, 16.0]]
