#!/usr/bin/env python3
"""Regenerates fuzz/corpus/: valid safetensors files written by the reference package, and
malformed ones (one defect each). Run with the project venv:  .venv/bin/python fuzz/make_corpus.py
The files are committed; the C++ suite replays them (tests/eager/test_safetensors.cpp)."""
import pathlib
import struct

import numpy as np
import safetensors.numpy

OUT = pathlib.Path(__file__).resolve().parent / "corpus"


def header_file(header: str, data: bytes = b"") -> bytes:
    h = header.encode()
    return struct.pack("<Q", len(h)) + h + data


def entry(dtype, shape, begin, end):
    return f'{{"dtype":"{dtype}","shape":{list(shape)},"data_offsets":[{begin},{end}]}}'.replace(" ", "")


def main():
    OUT.mkdir(exist_ok=True)
    for f in OUT.iterdir():
        f.unlink()
    rng = np.random.default_rng(1)
    valid = {
        "valid_empty": {},
        "valid_one_f32": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)},
        "valid_all_numpy_dtypes": {
            "f32": rng.standard_normal(3).astype(np.float32), "f64": rng.standard_normal((2, 1)),
            "f16": rng.standard_normal(2).astype(np.float16), "i8": np.array([-1, 2], dtype=np.int8),
            "u8": np.array([7], dtype=np.uint8), "i32": np.array([1, -2, 3], dtype=np.int32),
            "i64": np.array([[5]], dtype=np.int64), "b": np.array([True, False]),
            "scalar": np.array(2.5, dtype=np.float32), "empty": np.zeros((0, 3), dtype=np.float32)},
    }
    for name, tensors in valid.items():
        (OUT / f"{name}.safetensors").write_bytes(
            safetensors.numpy.save(tensors, metadata={"format": "np"} if tensors else None))
    (OUT / "valid_bf16_metadata.safetensors").write_bytes(header_file(
        '{"__metadata__":{"a":"b","\\u00e9":"\\ud83d\\ude00"},"x":' + entry("BF16", [2], 0, 4) + "}", b"\x80\x3f\x00\x40"))
    (OUT / "valid_zero_size_between.safetensors").write_bytes(header_file(
        '{"a":' + entry("U8", [1], 0, 1) + ',"z":' + entry("F64", [0, 5], 1, 1) + ',"b":' + entry("U8", [1], 1, 2) + "}",
        b"\x01\x02"))

    u8 = entry("U8", [1], 0, 1)
    bad = {
        "bad_short": b"\x01\x02",
        "bad_header_too_big": struct.pack("<Q", 200_000_000) + b"{}",
        "bad_header_past_end": struct.pack("<Q", 64) + b"{}",
        "bad_not_utf8": struct.pack("<Q", 7) + b'{"\xff":1}',
        "bad_not_json": header_file("[1,2"),
        "bad_trailing": header_file("{}}"),
        "bad_duplicate": header_file('{"a":' + u8 + ',"a":' + u8 + "}", b"\x00"),
        "bad_dtype": header_file('{"a":' + entry("U16", [1], 0, 2) + "}", b"\x00\x00"),
        "bad_negative_dim": header_file('{"a":' + entry("U8", [-1], 0, 1) + "}", b"\x00"),
        "bad_size_mismatch": header_file('{"a":' + entry("F32", [2], 0, 4) + "}", b"\x00" * 4),
        "bad_past_data": header_file('{"a":' + entry("F32", [2], 0, 8) + "}", b"\x00" * 4),
        "bad_overlap": header_file('{"a":' + entry("U8", [2], 0, 2) + ',"b":' + entry("U8", [2], 1, 3) + "}", b"\x00" * 3),
        "bad_gap": header_file('{"a":' + entry("U8", [1], 1, 2) + "}", b"\x00" * 2),
        "bad_tail": header_file('{"a":' + u8 + "}", b"\x00" * 2),
        "bad_overflow": header_file('{"a":' + entry("F32", [2**40, 2**40], 0, 4) + "}", b"\x00" * 4),
        "bad_metadata_value": header_file('{"__metadata__":{"k":[1]}}'),
        "bad_bool_byte": header_file('{"a":' + entry("BOOL", [1], 0, 1) + "}", b"\x07"),
        "bad_deep": header_file('{"__metadata__":' + "[" * 80 + "]" * 80 + "}"),
        "bad_surrogate": header_file('{"\\udc00":' + u8 + "}", b"\x00"),
        "bad_big_offset": header_file('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,184467440737095516150]}}', b"\x00"),
    }
    for name, data in bad.items():
        (OUT / f"{name}.safetensors").write_bytes(data)
    print(f"wrote {len(valid) + 2 + len(bad)} files to {OUT}")


if __name__ == "__main__":
    main()
