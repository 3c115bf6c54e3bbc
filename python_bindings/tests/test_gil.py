# Long kernels release the GIL: Python code keeps running in another thread while a large
# matmul (or a compiled graph's replay) is in C++. The figure is the fraction of the call's
# duration the main thread spent running Python: ~1 when the GIL is released, ~0 (the switch
# interval, shortened to 1 ms here) when it is held (checked below on an op that holds it).
# Measured on 2 busy cores: held 0.02-0.06, released 0.3-0.75; the thresholds sit between.
import sys
import threading
import time

import pytest

import doppel


def spin_until(event):
    count = 0
    while not event.is_set():
        count += 1
    return count


def python_fraction_during(call):
    """The share of `call`'s wall time in which the main thread could run Python."""
    ev = threading.Event()
    threading.Timer(0.05, ev.set).start()
    rate = spin_until(ev) / 0.05
    started, done = threading.Event(), threading.Event()
    span = []

    def worker():
        started.set()
        t0 = time.perf_counter()
        call()
        span.append(time.perf_counter() - t0)
        done.set()

    t = threading.Thread(target=worker)
    t.start()
    started.wait()
    count = spin_until(done)
    t.join()
    return count / (rate * span[0]), span[0]


@pytest.fixture(autouse=True)
def one_thread_short_switch():
    interval, threads = sys.getswitchinterval(), doppel.get_num_threads()
    sys.setswitchinterval(0.001)
    doppel.set_num_threads(1)  # leaves the other core to the Python thread
    yield
    sys.setswitchinterval(interval)
    doppel.set_num_threads(threads)


def test_held_gil_is_detected():
    a = doppel.randn(30_000_000)
    fraction, span = python_fraction_during(lambda: doppel.exp(a))  # a short elementwise op keeps the GIL
    assert span > 0.02 and fraction < 0.15


def test_matmul_releases_the_gil():
    a = doppel.randn(1536, 1536)
    fraction, span = python_fraction_during(lambda: doppel.matmul(a, a))
    assert span > 0.02 and fraction > 0.2


def test_compiled_replay_releases_the_gil():
    w = doppel.randn(1024, 1024)
    f = doppel.compile(lambda x: (x @ w).relu() @ w)
    x = doppel.randn(1024, 1024)
    for _ in range(3):
        f(x)  # eager warm-up, trace, first replay
    fraction, span = python_fraction_during(lambda: f(x))
    assert span > 0.02 and fraction > 0.2 and f.num_graph_runs >= 2
