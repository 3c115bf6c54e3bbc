# The tests import the doppel package that the CMake build assembles in
# $DOPPEL_BUILD_DIR/python (default build/release: what tools/test.sh builds).
import os
import pathlib
import sys

_repo = pathlib.Path(__file__).resolve().parents[2]
_build = pathlib.Path(os.environ.get("DOPPEL_BUILD_DIR", _repo / "build" / "release"))
if not _build.is_absolute():
    _build = _repo / _build
sys.path.insert(0, str(_build / "python"))
