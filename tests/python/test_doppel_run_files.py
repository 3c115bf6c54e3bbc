"""doppel-run against hostile files (issue 13): output names that are paths never become file
names, a FIFO or /dev/zero given as a model or input is refused within a second, a flipped
weight byte is refused unless --no-verify says the file is trusted.

The model comes from `doppel-make-test-model` (an exported MLP, output named "output0", and
x.npy / expected.npy: the eager model's answers). Binaries are taken from
$DOPPEL_BUILD_DIR/serve (default build/release)."""
import os
import pathlib
import struct
import subprocess
import time

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("DOPPEL_BUILD_DIR", REPO / "build/release"))


def binary(name):
    path = BUILD / "serve" / name
    if not path.is_file():
        pytest.fail(f"{path} is not built: run tools/build.sh release (or set DOPPEL_BUILD_DIR)")
    return str(path)


def doppel_run(*args, timeout=30):
    return subprocess.run([binary("doppel-run"), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("made")
    r = subprocess.run([binary("doppel-make-test-model"), str(d)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return d


def with_output_name(model_bytes, name):
    """The model file with its output name "output0" replaced by `name` (7 bytes: the layout
    stays the same; the metadata checksum goes stale, so callers pass --no-verify)."""
    old = struct.pack("<I", 7) + b"output0"
    assert len(name) == 7 and model_bytes.count(old) == 1
    return model_bytes.replace(old, struct.pack("<I", 7) + name)


@pytest.mark.parametrize("name", [b"../../x", b"/nope/x", b"out\0put", b"a/../..", b"..\\..\\x"])
def test_output_names_that_are_paths_are_refused_at_load(made, tmp_path, name):
    model = tmp_path / "evil.dpl"
    model.write_bytes(with_output_name((made / "mlp.dpl").read_bytes(), name))
    out = tmp_path / "a" / "b" / "out"
    before = set(tmp_path.rglob("*"))
    r = doppel_run(model, "--no-verify", "--input", made / "x.npy", "--output-dir", out)
    assert r.returncode == 1, r.stdout
    assert "FormatError" in r.stderr and "is not a safe identifier" in r.stderr, r.stderr
    assert "output 0 name" in r.stderr
    assert set(tmp_path.rglob("*")) == before  # nothing written, not even the folder
    # With verification on, the stale metadata checksum is what is reported first.
    r = doppel_run(model, "--input", made / "x.npy", "--output-dir", out)
    assert r.returncode == 1 and "checksum mismatch in the metadata section" in r.stderr, r.stderr


def test_output_dir_writes_safe_names_inside_the_folder(made, tmp_path):
    out = tmp_path / "out"
    r = doppel_run(made / "mlp.dpl", "--input", made / "x.npy", "--output-dir", out)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["output0.npy"]
    np.testing.assert_allclose(np.load(out / "output0.npy"), np.load(made / "expected.npy"), rtol=1e-5, atol=1e-6)


def refused_quickly(*args):
    t0 = time.monotonic()
    r = doppel_run(*args, timeout=10)
    elapsed = time.monotonic() - t0
    assert r.returncode == 1, r.stdout
    assert elapsed < 1.0, f"took {elapsed:.2f}s"
    return r.stderr


def test_fifo_as_model_or_input_is_refused_within_a_second(made, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "is a FIFO (named pipe), not a regular file" in refused_quickly(fifo, "--signature")
    assert "load_npy: '" + str(fifo) + "' is a FIFO" in refused_quickly(made / "mlp.dpl", "--input", fifo)
    assert "load_safetensors: '" + str(fifo) + "' is a FIFO" in refused_quickly(made / "mlp.dpl", "--inputs", fifo)


def test_dev_zero_as_model_or_input_is_refused_within_a_second(made):
    assert "is a character device" in refused_quickly(made / "mlp.dpl", "--input", "/dev/zero")
    assert "is a character device" in refused_quickly(made / "mlp.dpl", "--inputs", "/dev/zero")
    assert "is a character device" in refused_quickly("/dev/zero", "--signature")


def test_flipped_weight_byte_is_refused_unless_no_verify(made, tmp_path):
    data = bytearray((made / "mlp.dpl").read_bytes())
    assert struct.unpack_from("<I", data, 8)[0] == 3  # format version 3
    data_offset = struct.unpack_from("<Q", data, 40)[0]
    data[data_offset + 9] ^= 0x20
    model = tmp_path / "flipped.dpl"
    model.write_bytes(bytes(data))
    r = doppel_run(model, "--input", made / "x.npy")
    assert r.returncode == 1 and "FormatError" in r.stderr, r.stderr
    assert "checksum mismatch in weight 'state0' (file bytes" in r.stderr
    r = doppel_run(model, "--no-verify", "--input", made / "x.npy")
    assert r.returncode == 0, r.stderr


def run_onnx(path, feeds):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess, sess.run(None, feeds)


def test_to_onnx_runs_in_onnxruntime_like_doppel(made, tmp_path):
    onnx_path = tmp_path / "mlp.onnx"
    r = doppel_run(made / "mlp.dpl", "--to-onnx", onnx_path)
    assert r.returncode == 0, r.stderr
    assert f"wrote {onnx_path} (ONNX opset 17)" in r.stdout
    x = np.load(made / "x.npy")
    sess, (got,) = run_onnx(onnx_path, {"in0": x})
    assert [i.name for i in sess.get_inputs()] == ["in0"] and [o.name for o in sess.get_outputs()] == ["output0"]
    assert sess.get_inputs()[0].shape == ["batch", 4]
    np.testing.assert_allclose(got, np.load(made / "expected.npy"), rtol=1e-4, atol=1e-5)
    # Another batch size through the same file, against doppel-run itself.
    x7 = np.random.default_rng(7).standard_normal((7, 4)).astype(np.float32)
    np.save(tmp_path / "x7.npy", x7)
    r = doppel_run(made / "mlp.dpl", "--input", tmp_path / "x7.npy", "--output", tmp_path / "y7.npy")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(run_onnx(onnx_path, {"in0": x7})[1][0], np.load(tmp_path / "y7.npy"), rtol=1e-4,
                               atol=1e-5)


def test_to_onnx_of_a_cnn_file(tmp_path):
    """fuzz/corpus_model/cnn.dpl: conv + relu + max pool + flatten, dynamic batch."""
    model = REPO / "fuzz/corpus_model/cnn.dpl"
    r = doppel_run(model, "--to-onnx", tmp_path / "cnn.onnx", "--signature")
    assert r.returncode == 0, r.stderr
    name = r.stdout.split("inputs:\n  ")[1].split(":")[0]
    x = np.random.default_rng(3).uniform(-1, 1, (5, 1, 4, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = doppel_run(model, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(run_onnx(tmp_path / "cnn.onnx", {name: x})[1][0], np.load(tmp_path / "y.npy"),
                               rtol=1e-4, atol=1e-5)
