"""The comparison itself: synthetic torch/doppel answers that differ in one respect each must be
reported, equal ones must not (so a passing differential case means agreement)."""
import numpy as np
import pytest

import harness
import wire


def answers(torch_value, doppel_value, torch_dtype=None, doppel_dtype=None):
    tb, db = [wire.to_npy(np.asarray(torch_value))], [wire.to_npy(np.asarray(doppel_value))]
    t = {"blob": 0, "dtype": torch_dtype or str(np.asarray(torch_value).dtype)}
    d = {"blob": 0, "dtype": doppel_dtype or str(np.asarray(doppel_value).dtype)}
    return t, tb, d, db


def problems(torch_value, doppel_value, signed_zero=False, **dtypes):
    case = harness.Case("synthetic", "", [])
    return harness._compare_value(case, *answers(torch_value, doppel_value, **dtypes), signed_zero)


F32 = np.float32


@pytest.mark.parametrize("t, d", [
    ([1.0, np.nan], [1.0, 0.0]),  # NaN position
    ([np.inf, 1.0], [np.nan, 1.0]),  # inf vs NaN
    ([np.inf], [-np.inf]),  # sign of inf
    ([1.0, 2.0], [1.0, 2.001]),  # beyond float32 tolerance
    ([[1.0, 2.0]], [1.0, 2.0]),  # shape
])
def test_differences_are_reported(t, d):
    assert problems(np.array(t, F32), np.array(d, F32))


def test_equal_within_tolerance_is_not_reported():
    assert not problems(np.array([1.0, np.nan, -np.inf, 0.0], F32), np.array([1.0 + 1e-6, np.nan, -np.inf, -0.0], F32))


def test_dtype_integers_and_signed_zero():
    assert problems(np.array([1, 2]), np.array([1, 2], np.int32))  # int64 vs int32
    assert problems(np.array([1, 2]), np.array([1, 3]))  # integers are exact
    assert problems(np.array([True]), np.array([False]))
    assert problems(np.array([-0.0], F32), np.array([0.0], F32), signed_zero=True)
    assert not problems(np.array([-0.0], F32), np.array([0.0], F32))


def test_bfloat16_tolerance_is_the_dtypes():
    one = np.array([1.0], F32)
    assert not problems(one, one * 1.01, torch_dtype="bfloat16", doppel_dtype="bfloat16")
    assert problems(one, one * 1.05, torch_dtype="bfloat16", doppel_dtype="bfloat16")


def test_refusals_and_gradients():
    case = harness.Case("synthetic", "", [])
    ok = {"outs": [{"value": 1.0}], "grads": [None]}
    refused = {"error": "RuntimeError", "message": "no", "stage": "forward"}
    assert harness._compare_call(case, ok, [], ok, []) == []
    assert harness._compare_call(case, refused, [], ok, [])
    assert harness._compare_call(case, ok, [], refused, [])
    assert harness._compare_call(case, refused, [], refused, []) == []
    case.error_says = "reshape"
    assert harness._compare_call(case, refused, [], refused, [])
    assert harness._compare_call(case, refused, [], dict(refused, message="reshape: no"), []) == []
    t, tb, d, db = answers(np.ones(2), np.ones(2))
    assert harness._compare_call(case, {"outs": [], "grads": [t]}, tb, {"outs": [], "grads": [None]}, db)
