# The differential suite against PyTorch: doppel from $DOPPEL_BUILD_DIR/python (default
# build/release, as for python_bindings/tests), PyTorch from one oracle process per session.
import os
import pathlib
import sys

import pytest

_build = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("DOPPEL_BUILD_DIR", "build/release")
sys.path.insert(0, str(_build / "python"))

import harness  # noqa: E402


@pytest.fixture(scope="session")
def oracle():
    o = harness.start_oracle()
    yield o
    o.close()
