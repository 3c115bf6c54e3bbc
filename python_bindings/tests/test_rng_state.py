"""doppel.get_rng_state / set_rng_state: the default generator's (seed, offset) position. Restoring
a saved position replays the same random numbers (what a resumed training run relies on)."""
import numpy as np
import pytest

import doppel


def test_restoring_the_state_replays_the_same_draws():
    doppel.manual_seed(7)
    doppel.randn(3)  # move away from the seed's start
    state = doppel.get_rng_state()
    first = [doppel.randn(4, 5).numpy(), doppel.rand(6).numpy(), doppel.randint(0, 10, (8,)).numpy()]
    doppel.randn(100)
    doppel.set_rng_state(state)
    again = [doppel.randn(4, 5).numpy(), doppel.rand(6).numpy(), doppel.randint(0, 10, (8,)).numpy()]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert doppel.get_rng_state() != state  # the draws moved the position on


def test_a_state_from_another_seed_is_that_seeds_stream():
    doppel.manual_seed(11)
    want = doppel.randn(10).numpy()
    state = doppel.get_rng_state()
    doppel.manual_seed(11)
    start = doppel.get_rng_state()
    doppel.manual_seed(3)
    doppel.randn(5)
    doppel.set_rng_state(start)
    np.testing.assert_array_equal(doppel.randn(10).numpy(), want)
    assert doppel.get_rng_state() == state


def test_a_malformed_state_is_an_error():
    with pytest.raises((TypeError, ValueError)):
        doppel.set_rng_state("not a state")
