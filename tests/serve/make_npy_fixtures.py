"""Writes the .npy fixtures of tests/serve/test_npy.cpp with numpy (the independent oracle).

Run from the repository root: .venv/bin/python tests/serve/make_npy_fixtures.py
Each file's values are a simple formula the C++ test recomputes: arange(n) * scale, reshaped.
"""
import io
import pathlib

import numpy as np

OUT = pathlib.Path(__file__).parent / "data"


def save(name, a, version=None):
    f = io.BytesIO()
    np.lib.format.write_array(f, a, version=version, allow_pickle=False)
    (OUT / f"{name}.npy").write_bytes(f.getvalue())


def main():
    OUT.mkdir(exist_ok=True)
    save("f4_c", (np.arange(6, dtype="<f4") / 4).reshape(2, 3))
    save("f8_be_v2", np.array([[1e300, -2.5, 0.125]], dtype=">f8"), version=(2, 0))
    save("f2_0d", np.array(1.5, dtype="<f2"))
    save("i1", np.array([-128, 0, 127], dtype="i1"))
    save("u1", np.array([0, 255, 7], dtype="u1"))
    save("i4_be_fortran", np.asfortranarray((np.arange(24, dtype="<i4") * -7).reshape(2, 3, 4)).astype(">i4", order="F"))
    save("i8_empty", np.zeros((0, 3), dtype="<i8"))
    save("b1", np.array([True, False, True]))
    save("f4_fortran", np.asfortranarray((np.arange(6, dtype="<f4") / 4).reshape(2, 3)))
    save("c8_unsupported", np.zeros(2, dtype="<c8"))


if __name__ == "__main__":
    main()
