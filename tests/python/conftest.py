"""Fixtures of the doppel-serve / doppel-run tests (test_serve*.py; helpers in serve_util.py).

fixture_dir holds the MLP of `doppel-make-test-model` (serve/tools/doppel_make_test_model.cpp),
an input batch and the eager model's outputs for it (the oracle).
"""
import subprocess

import pytest
from serve_util import ServeProcess, serve_binary


@pytest.fixture(scope="session")
def fixture_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve")
    r = subprocess.run([serve_binary("doppel-make-test-model"), str(d)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"doppel-make-test-model failed: {r.stderr}"
    return d


@pytest.fixture
def start_server():
    """start_server(*args) -> ServeProcess; every server started is stopped (cleanly) at the end."""
    started = []

    def start(*args):
        s = ServeProcess(args)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()
