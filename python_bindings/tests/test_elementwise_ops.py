"""Issue 12's elementwise ops from Python, with numpy as the oracle: bitwise operators on
integers and bool (item 5), %, //, fmod, remainder, floor_divide, atan2, div(rounding_mode=),
add/sub(alpha=), trunc/fix and the activations with their modules and inplace=."""
import math

import numpy as np
import pytest

import doppel
import doppel.nn as nn
import doppel.nn.functional as F

INTS = [np.int8, np.uint8, np.int32, np.int64]


def arr(t):
    return np.asarray(t.tolist())


def rand_ints(dtype, shape, seed, lo=-50, hi=50):
    rng = np.random.default_rng(seed)
    lo = 0 if dtype == np.uint8 else lo
    return rng.integers(lo, hi, size=shape).astype(dtype)


@pytest.mark.parametrize("dtype", INTS)
def test_bitwise_operators_on_integers_are_bitwise(dtype):
    a, b = rand_ints(dtype, (3, 4), 1), rand_ints(dtype, (4,), 2)
    x, y = doppel.tensor(a), doppel.tensor(b)
    for got, want in [(x & y, a & b), (x | y, a | b), (x ^ y, a ^ b), (~x, ~a), (x & 6, a & 6), (6 | x, 6 | a),
                      (x ^ 5, a ^ 5), (doppel.bitwise_and(x, y), np.bitwise_and(a, b)),
                      (doppel.bitwise_or(x, y), np.bitwise_or(a, b)), (doppel.bitwise_xor(x, y), np.bitwise_xor(a, b)),
                      (doppel.bitwise_not(x), np.invert(a))]:
        assert got.dtype == x.dtype
        np.testing.assert_array_equal(arr(got), want)


def test_bitwise_on_bool_is_logical_and_in_place_forms():
    p = doppel.tensor([True, True, False, False])
    q = doppel.tensor([True, False, True, False])
    assert (p & q).tolist() == [True, False, False, False]
    assert (p | q).tolist() == [True, True, True, False]
    assert (p ^ q).tolist() == [False, True, True, False]
    assert (~p).tolist() == [False, False, True, True]
    assert (p & True).dtype == doppel.bool
    assert (p & 3).dtype == doppel.int64  # a Python int promotes bool, as in PyTorch
    assert (True & p).tolist() == [True, True, False, False]
    x = doppel.tensor([12, 5], dtype=doppel.int32)
    x &= 6
    assert x.tolist() == [4, 4]
    x |= 1
    x ^= 2
    assert x.tolist() == [7, 7]
    with pytest.raises(doppel.DTypeError, match="bitwise_and"):
        doppel.tensor([1.0]) & doppel.tensor([1.0])
    with pytest.raises(doppel.DTypeError, match="bitwise_not"):
        ~doppel.tensor([1.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.int8])
def test_mod_floordiv_fmod_match_numpy(dtype):
    rng = np.random.default_rng(3)
    a = (rng.uniform(-20, 20, size=(5, 6)) if np.issubdtype(dtype, np.floating) else rng.integers(-20, 20, (5, 6)))
    b = rng.choice([-7, -3, -2, 2, 3, 5], size=(6,))
    a, b = a.astype(dtype), b.astype(dtype)
    x, y = doppel.tensor(a), doppel.tensor(b)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=0)
    np.testing.assert_allclose(arr(x % y), np.remainder(a, b), **tol)
    np.testing.assert_allclose(arr(doppel.remainder(x, y)), np.remainder(a, b), **tol)
    np.testing.assert_allclose(arr(doppel.fmod(x, y)), np.fmod(a, b), **tol)
    np.testing.assert_allclose(arr(x // y), np.floor_divide(a, b), **tol)
    np.testing.assert_allclose(arr(doppel.floor_divide(x, y)), np.floor_divide(a, b), **tol)
    np.testing.assert_allclose(arr(doppel.div(x, y, rounding_mode="floor")), np.floor_divide(a, b), **tol)
    np.testing.assert_allclose(arr(doppel.div(x, y, rounding_mode="trunc")), np.trunc(a / b), **tol)
    # Scalars and reflected forms.
    np.testing.assert_allclose(arr(x % 3), np.remainder(a, dtype(3)), **tol)
    np.testing.assert_allclose(arr(7 % y), np.remainder(dtype(7), b), **tol)
    np.testing.assert_allclose(arr(x // -3), np.floor_divide(a, dtype(-3)), **tol)
    np.testing.assert_allclose(arr(50 // y), np.floor_divide(dtype(50), b), **tol)
    assert (x // y).dtype == x.dtype


def test_float_specials_and_integer_division_by_zero():
    a = np.array([5.5, -5.5, -0.0, 1.0, -1.0, np.inf, 3.0, np.nan])
    b = np.array([-2.0, 2.0, 3.0, np.inf, np.inf, 2.0, 0.0, 1.0])
    x, y = doppel.tensor(a), doppel.tensor(b)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(arr(doppel.fmod(x, y)), np.fmod(a, b))
        np.testing.assert_array_equal(arr(doppel.remainder(x, y)), np.remainder(a, b))
        np.testing.assert_array_equal(np.signbit(arr(doppel.fmod(x, y))), np.signbit(np.fmod(a, b)))
    # PyTorch raises for an integer zero divisor (numpy would return 0 with a warning).
    i = doppel.tensor([7, -7], dtype=doppel.int32)
    for f in (lambda: i % 0, lambda: i // 0, lambda: doppel.fmod(i, 0),
              lambda: doppel.div(i, doppel.tensor([1, 0], dtype=doppel.int32), rounding_mode="trunc")):
        with pytest.raises(ValueError, match="ZeroDivisionError"):
            f()
    with pytest.raises(ValueError, match="rounding_mode"):
        doppel.div(i, 2, rounding_mode="round")
    assert doppel.div(i, 2, rounding_mode=None).dtype == doppel.float32


def test_atan2_trunc_fix():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(5,))
    np.testing.assert_allclose(arr(doppel.atan2(doppel.tensor(a), doppel.tensor(b))), np.arctan2(a, b), rtol=1e-12)
    zeros = np.array([0.0, -0.0, 0.0, -0.0])
    np.testing.assert_array_equal(arr(doppel.atan2(doppel.tensor(zeros), doppel.tensor(zeros[::-1].copy()))),
                                  np.arctan2(zeros, zeros[::-1]))
    assert doppel.atan2(doppel.tensor([1, 2]), doppel.tensor([3, 4])).dtype == doppel.float32
    v = np.array([-2.5, -0.5, 0.5, 2.7, np.inf, np.nan])
    np.testing.assert_array_equal(arr(doppel.trunc(doppel.tensor(v))), np.trunc(v))
    np.testing.assert_array_equal(arr(doppel.fix(doppel.tensor(v))), np.trunc(v))
    np.testing.assert_array_equal(arr(doppel.tensor(v).trunc()), np.trunc(v))


def test_add_sub_alpha():
    a, b = np.array([1.0, 2.0]), np.array([3.0, -4.0])
    x, y = doppel.tensor(a), doppel.tensor(b)
    np.testing.assert_allclose(arr(doppel.add(x, y, alpha=2.5)), a + 2.5 * b)
    np.testing.assert_allclose(arr(x.sub(y, alpha=2)), a - 2 * b)
    np.testing.assert_allclose(arr(doppel.add(x, 3, alpha=-1)), a - 3)
    i = doppel.tensor([1, 2])
    assert doppel.add(i, i, alpha=3).tolist() == [4, 8]
    with pytest.raises(doppel.DTypeError, match="alpha"):
        doppel.add(i, i, alpha=0.5)


def _selu(x):
    return 1.0507009873554804934193349852946 * np.where(x > 0, x, 1.6732632423543772848170429916717 * np.expm1(x))


def _softplus(x):
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


ACTIVATIONS = [
    (F.hardswish, nn.Hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    (F.hardsigmoid, nn.Hardsigmoid, lambda x: np.clip(x + 3, 0, 6) / 6),
    (F.mish, nn.Mish, lambda x: x * np.tanh(_softplus(x))),
    (F.selu, nn.SELU, _selu),
    (F.relu6, nn.ReLU6, lambda x: np.clip(x, 0, 6)),
]


@pytest.mark.parametrize("fn,module,ref", ACTIVATIONS)
def test_activations_functional_module_and_inplace(fn, module, ref):
    x = np.linspace(-8, 8, 41)
    np.testing.assert_allclose(arr(fn(doppel.tensor(x))), ref(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(arr(module()(doppel.tensor(x))), ref(x), rtol=1e-12, atol=1e-14)
    t = doppel.tensor(x)
    out = fn(t, inplace=True)
    np.testing.assert_allclose(arr(t), ref(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(arr(out), ref(x), rtol=1e-12, atol=1e-14)
    t = doppel.tensor(x)
    module(inplace=True)(t)
    np.testing.assert_allclose(arr(t), ref(x), rtol=1e-12, atol=1e-14)
    assert "inplace=True" in repr(module(inplace=True))


def test_hardtanh_logsigmoid():
    x = np.array([-np.inf, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, np.inf, np.nan])
    t = doppel.tensor(x)
    np.testing.assert_array_equal(arr(F.hardtanh(t)), np.clip(x, -1, 1))
    np.testing.assert_array_equal(arr(F.hardtanh(t, -0.5, 2.0)), np.clip(x, -0.5, 2.0))
    np.testing.assert_array_equal(arr(nn.Hardtanh(-0.5, 2.0)(t)), np.clip(x, -0.5, 2.0))
    F.hardtanh(t, 0.0, 1.0, inplace=True)
    np.testing.assert_array_equal(arr(t), np.clip(x, 0, 1))
    assert F.hardtanh(doppel.tensor([0, 1, 2, 3]), 0.5, 2.5).tolist() == [0, 1, 2, 2]  # bounds truncated
    y = np.array([-1000.0, -5.0, 0.0, 5.0, 1000.0])
    want = -_softplus(-y)
    np.testing.assert_allclose(arr(F.logsigmoid(doppel.tensor(y))), want, rtol=1e-12)
    np.testing.assert_allclose(arr(nn.LogSigmoid()(doppel.tensor(y))), want, rtol=1e-12)
    for f in (F.hardswish, F.mish, F.selu, F.logsigmoid, F.hardsigmoid):
        with pytest.raises(doppel.DTypeError):
            f(doppel.tensor([1, 2]))


def test_activation_gradients_against_finite_differences():
    x0 = np.array([-4.0, -2.9, -1.3, -0.2, 0.4, 1.7, 2.9, 4.5])
    for fn in (F.hardswish, F.hardsigmoid, F.mish, F.selu, F.logsigmoid, F.hardtanh, F.relu6):
        x = doppel.tensor(x0).requires_grad_()
        fn(x).sum().backward()
        eps = 1e-6
        fd = (arr(fn(doppel.tensor(x0 + eps))) - arr(fn(doppel.tensor(x0 - eps)))) / (2 * eps)
        np.testing.assert_allclose(arr(x.grad), fd, rtol=1e-6, atol=1e-8, err_msg=fn.__name__)
    a = doppel.tensor([5.5, -5.5, 1.0]).requires_grad_()
    b = doppel.tensor([2.0, 2.0, -3.0]).requires_grad_()
    (a % b).sum().backward()
    assert a.grad.tolist() == [1.0, 1.0, 1.0]
    assert b.grad.tolist() == [-2.0, 3.0, 1.0]  # -floor(a / b)
    assert math.isclose(doppel.atan2(doppel.tensor(1.0), doppel.tensor(1.0)).item(), math.pi / 4, rel_tol=1e-7)
