"""The oracle protocol's framing, shared by both ends (the project venv's numpy 2.x and Debian's
/usr/bin/python3 with numpy 1.24, so arrays travel as .npy bytes, never as pickles).

A message is a 4-byte little-endian length, a UTF-8 JSON header of that length, then the blobs the
header's "blobs" list gives the byte lengths of, back to back. Only numpy and the standard library:
torch_oracle.py imports this from Debian's interpreter."""
import io
import json
import struct

import numpy as np


def to_npy(array):
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def from_npy(data):
    return np.load(io.BytesIO(data), allow_pickle=False)


def _read_exact(stream, n):
    data = stream.read(n)
    if len(data) != n:
        raise EOFError(f"oracle pipe closed ({len(data)} of {n} bytes)")
    return data


def send(stream, header, blobs):
    header = dict(header, blobs=[len(b) for b in blobs])
    text = json.dumps(header).encode()
    stream.write(struct.pack("<I", len(text)) + text)
    for b in blobs:
        stream.write(b)
    stream.flush()


def receive(stream):
    (n,) = struct.unpack("<I", _read_exact(stream, 4))
    header = json.loads(_read_exact(stream, n))
    blobs = [_read_exact(stream, k) for k in header.pop("blobs")]
    return header, blobs


def output_weights(shape, index):
    """The fixed pseudo-random weights w_index of the gradient seed sum(out_index * w_index):
    float64, reproducible under any numpy (RandomState's stream is frozen)."""
    return np.random.RandomState(1000 + index).uniform(-1.0, 1.0, size=tuple(shape))
