"""Hostile files from Python (issue 13): a FIFO or a device given to doppel.load or
doppel.runtime.load is refused at once (never waited on), and a flipped weight byte in a model
file is a doppel.FormatError naming the weight unless verify=False says the file is trusted."""
import os
import struct
import threading
import time

import pytest

import doppel
import doppel.nn as nn


def refused_within_a_second(fn, path, error):
    """fn(path) must raise `error` within a second; a loader stuck on the FIFO is released by
    opening its write end, so the test fails instead of hanging."""
    t0 = time.monotonic()
    result = {}

    def call():
        try:
            fn(path)
        except Exception as e:  # noqa: BLE001  (checked below)
            result["error"] = e

    t = threading.Thread(target=call)
    t.start()
    t.join(1.0)
    if t.is_alive():
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        t.join()
        pytest.fail(f"loading {path} did not return within a second")
    assert time.monotonic() - t0 < 1.0
    assert isinstance(result.get("error"), error), result
    return str(result["error"])


def test_fifo_and_dev_zero_are_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "is a FIFO (named pipe), not a regular file" in refused_within_a_second(doppel.load, str(fifo),
                                                                                  doppel.ValueError)
    assert "is a FIFO" in refused_within_a_second(doppel.runtime.load, str(fifo), doppel.FormatError)
    assert "is a character device" in refused_within_a_second(doppel.load, "/dev/zero", doppel.ValueError)
    assert "is a character device" in refused_within_a_second(doppel.runtime.load, "/dev/zero", doppel.FormatError)


def test_flipped_weight_byte_is_a_format_error_unless_verify_is_off(tmp_path):
    doppel.manual_seed(0)
    path = tmp_path / "m.dpl"
    doppel.export(nn.Linear(4, 3), [doppel.ones(2, 4)], path, dynamic=True)
    data = bytearray(path.read_bytes())
    data_offset = struct.unpack_from("<Q", data, 40)[0]
    data[data_offset + 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(doppel.FormatError, match="checksum mismatch in weight 'weight'"):
        doppel.runtime.load(path)
    trusted = doppel.runtime.load(path, verify=False)
    assert trusted.metadata["format_version"] == 3
    assert trusted.run(doppel.ones(1, 4))[0].shape == (1, 3)
