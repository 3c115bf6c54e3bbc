"""Interop between doppel's safetensors reader/writer and the PyPI `safetensors` package.

doppel is driven through its `doppel-safetensors` command-line tool (tools/doppel_safetensors.cpp),
built by tools/test.sh into build/release/tools; set DOPPEL_SAFETENSORS_TOOL to use another build.
"""
import json
import os
import pathlib
import struct
import subprocess

import numpy as np
import pytest
import safetensors
import safetensors.numpy

REPO = pathlib.Path(__file__).resolve().parents[2]
TOOL = pathlib.Path(os.environ.get("DOPPEL_SAFETENSORS_TOOL", REPO / "build/release/tools/doppel-safetensors"))


@pytest.fixture(scope="module")
def tool():
    if not TOOL.is_file():
        pytest.fail(f"{TOOL} not built: run tools/build.sh release (or set DOPPEL_SAFETENSORS_TOOL)")
    return str(TOOL)


def run(tool, *args, check=True):
    r = subprocess.run([tool, *map(str, args)], capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"doppel-safetensors {args} failed ({r.returncode}): {r.stderr}")
    return r


def dump(tool, path):
    return json.loads(run(tool, "dump", path).stdout)


def bf16_bytes(values):
    """bfloat16 encodings of float32 values that are exact in bfloat16."""
    f = np.asarray(values, dtype=np.float32)
    bits = f.view(np.uint32)
    assert np.all(bits & 0xFFFF == 0), "not exact in bfloat16"
    return (bits >> 16).astype("<u2").tobytes()


def reference_expected():
    """The tensors `doppel-safetensors write-reference` writes (see reference_tensors() there)."""
    fl = lambda n: (np.arange(n, dtype=np.float64) - 2.5) * 0.5  # noqa: E731
    base = fl(6).astype(np.float32).reshape(2, 3)
    return {
        "f32": ("F32", [2, 3], fl(6).astype("<f4").tobytes()),
        "f64": ("F64", [3, 2], fl(6).astype("<f8").tobytes()),
        "bf16": ("BF16", [4], bf16_bytes(fl(4))),
        "f16": ("F16", [2, 2], fl(4).astype("<f2").tobytes()),
        "i8": ("I8", [5], ((7 * np.arange(5)) % 200 - 100).astype("i1").tobytes()),
        "u8": ("U8", [2, 2, 2], ((37 * np.arange(8)) % 256).astype("u1").tobytes()),
        "i32": ("I32", [3], (100003 * np.arange(3) - 7).astype("<i4").tobytes()),
        "i64": ("I64", [2, 2], (np.arange(4, dtype=np.int64) * 10**12 - 3).astype("<i8").tobytes()),
        "bool": ("BOOL", [7], (np.arange(7) % 3 == 0).astype(np.bool_).tobytes()),
        "scalar_f64": ("F64", [], np.float64(3.25).tobytes()),
        "empty_i32": ("I32", [0, 3], b""),
        "f32_transposed": ("F32", [3, 2], np.ascontiguousarray(base.T).astype("<f4").tobytes()),
    }


REFERENCE_METADATA = {"format": "doppel-reference", "note": 'café ✓ "quoted"\n'}


def test_files_we_write_load_with_the_safetensors_package(tool, tmp_path):
    path = tmp_path / "ref.safetensors"
    run(tool, "write-reference", path)
    data = path.read_bytes()
    loaded = {name: (t["dtype"], list(t["shape"]), bytes(t["data"])) for name, t in safetensors.deserialize(data)}
    assert loaded == reference_expected()
    # The header is padded to 8-byte alignment like the reference writer's.
    (n,) = struct.unpack("<Q", data[:8])
    assert (8 + n) % 8 == 0
    with safetensors.safe_open(str(path), framework="numpy") as f:
        assert f.metadata() == REFERENCE_METADATA
        np.testing.assert_array_equal(f.get_tensor("f32"), (np.arange(6) - 2.5).reshape(2, 3).astype(np.float32) * 0.5)
        np.testing.assert_array_equal(f.get_tensor("bool"), np.arange(7) % 3 == 0)
        assert f.get_tensor("scalar_f64").shape == ()
        assert f.get_tensor("empty_i32").shape == (0, 3)
    # And doppel reads back exactly what it wrote.
    d = dump(tool, path)
    assert d["metadata"] == REFERENCE_METADATA
    assert [t["name"] for t in d["tensors"]] == list(reference_expected())
    for t in d["tensors"]:
        assert (t["dtype"], t["shape"], bytes.fromhex(t["hex"])) == reference_expected()[t["name"]]


def their_tensors():
    rng = np.random.default_rng(0)
    return {
        "weight": rng.standard_normal((4, 3)).astype(np.float32),
        "double": rng.standard_normal((2, 2, 2)),
        "half": rng.standard_normal(5).astype(np.float16),
        "bytes": rng.integers(-128, 128, 6).astype(np.int8),
        "ubytes": rng.integers(0, 256, (3, 1)).astype(np.uint8),
        "ints": rng.integers(-(2**31), 2**31, 4).astype(np.int32),
        "longs": rng.integers(-(2**62), 2**62, 3).astype(np.int64),
        "mask": rng.integers(0, 2, 9).astype(np.bool_),
        "scalar": np.array(1.5, dtype=np.float32),
        "empty": np.zeros((0, 2), dtype=np.float64),
        "nan_inf": np.array([np.nan, np.inf, -np.inf, -0.0], dtype=np.float32),
    }


NP_CODES = {"float32": "F32", "float64": "F64", "float16": "F16", "int8": "I8", "uint8": "U8", "int32": "I32",
            "int64": "I64", "bool": "BOOL"}


def test_files_the_safetensors_package_writes_load_in_doppel(tool, tmp_path):
    tensors = their_tensors()
    path = tmp_path / "theirs.safetensors"
    safetensors.numpy.save_file(tensors, str(path), metadata={"framework": "numpy", "ü": "✓"})
    d = dump(tool, path)
    assert d["metadata"] == {"framework": "numpy", "ü": "✓"}
    got = {t["name"]: t for t in d["tensors"]}
    assert set(got) == set(tensors)
    for name, arr in tensors.items():
        t = got[name]
        assert t["dtype"] == NP_CODES[arr.dtype.name], name
        assert t["shape"] == list(arr.shape), name
        assert bytes.fromhex(t["hex"]) == np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes(), name

    # BF16 (which numpy lacks) through the framework-free API.
    buf = np.frombuffer(bf16_bytes([1.0, -2.0, 0.5, 3.0]), dtype=np.uint16).copy()  # kept alive for serialize
    spec = safetensors.TensorSpec(dtype="bfloat16", shape=[2, 2], data_ptr=buf.ctypes.data, data_len=buf.nbytes)
    raw = safetensors.serialize({"b": spec})
    (tmp_path / "bf16.safetensors").write_bytes(raw)
    (t,) = dump(tool, tmp_path / "bf16.safetensors")["tensors"]
    assert (t["dtype"], t["shape"], bytes.fromhex(t["hex"])) == ("BF16", [2, 2], bf16_bytes([1.0, -2.0, 0.5, 3.0]))


def test_doppel_rewrites_their_files_losslessly(tool, tmp_path):
    tensors = their_tensors()
    src, dst = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    safetensors.numpy.save_file(tensors, str(src), metadata={"k": "v"})
    run(tool, "copy", src, dst)
    back = safetensors.numpy.load_file(str(dst))
    assert set(back) == set(tensors)
    for name, arr in tensors.items():
        assert back[name].dtype == arr.dtype and back[name].shape == arr.shape, name
        assert back[name].tobytes() == arr.tobytes(), name
    with safetensors.safe_open(str(dst), framework="numpy") as f:
        assert f.metadata() == {"k": "v"}


def header_file(header: str, data: bytes = b"") -> bytes:
    h = header.encode()
    return struct.pack("<Q", len(h)) + h + data


# Files both implementations must reject.
MALFORMED = {
    "truncated": b"\x10\x00\x00",
    "header past the end": struct.pack("<Q", 1000) + b"{}",
    "not json": header_file("nope"),
    "size mismatch": header_file('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', b"\0" * 4),
    "offsets past the end": header_file('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', b"\0" * 4),
    "gap": header_file('{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', b"\0" * 2),
    "overlap": header_file('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},'
                           '"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}', b"\0" * 3),
    "uncovered tail": header_file('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\0" * 2),
    "bad dtype": header_file('{"a":{"dtype":"X9","shape":[1],"data_offsets":[0,1]}}', b"\0"),
    "negative dim": header_file('{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', b"\0"),
    "metadata not strings": header_file('{"__metadata__":{"a":1}}'),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_files_are_rejected_by_both(tool, tmp_path, name):
    data = MALFORMED[name]
    with pytest.raises(Exception):
        safetensors.deserialize(data)
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    r = run(tool, "dump", path, check=False)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("FormatError: ") and str(path) in r.stderr
