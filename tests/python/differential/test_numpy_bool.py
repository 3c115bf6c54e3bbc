"""Issue 12 item 10: bool tensors cross to numpy under numpy < 1.25 (whose DLPack lacks bool).
The project venv's numpy is newer, so this runs doppel under the oracle's interpreter (Debian's
/usr/bin/python3 with numpy 1.24, the same CPython as the venv) in a subprocess."""
import pathlib
import subprocess

import pytest

import harness

BUILD_PYTHON = pathlib.Path(__import__("doppel").__file__).absolute().parents[1]  # build/<preset>/python (not resolve(): its files are links into the source tree)

PROBE = f"""
import sys
sys.path.insert(0, {str(BUILD_PYTHON)!r})
import numpy
try:
    import doppel
except ImportError as e:
    print(e)
    sys.exit(4)
if tuple(int(v) for v in numpy.__version__.split(".")[:2]) >= (1, 25):
    print("numpy", numpy.__version__)
    sys.exit(3)
assert doppel.tensor([True, False]).tolist() == [True, False]
a = (doppel.tensor([1.0, -1.0, 2.0]) > 0).numpy()
assert a.dtype == numpy.bool_ and a.tolist() == [True, False, True], a
assert doppel.from_numpy(numpy.array([False, True])).tolist() == [False, True]
"""


def test_bool_tensors_cross_to_old_numpy():
    r = subprocess.run([harness.ORACLE_PYTHON, "-c", PROBE], capture_output=True, text=True, timeout=60)
    if r.returncode == 3:
        pytest.skip(f"{harness.ORACLE_PYTHON} has {r.stdout.strip()} (>= 1.25): nothing to check")
    if r.returncode == 4:
        pytest.skip(f"doppel does not load under {harness.ORACLE_PYTHON}: {r.stdout.strip()}")
    assert r.returncode == 0, r.stderr.strip().splitlines()[-1]
