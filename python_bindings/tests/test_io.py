# doppel.save/doppel.load against the PyPI safetensors package as the independent reader/writer.
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import doppel
from doppel import nn


def test_saved_file_reads_back_with_safetensors(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "w": doppel.tensor(rng.standard_normal((3, 4)).astype(np.float32)),
        "idx": doppel.tensor([1, 2, 3]),
        "mask": doppel.tensor([True, False]),
        "h": doppel.tensor(rng.standard_normal(5).astype(np.float16)),
        "view": doppel.arange(12.0).reshape(3, 4).T,  # non-contiguous
    }
    path = tmp_path / "t.safetensors"
    doppel.save(tensors, path, metadata={"epoch": 3})
    ref = load_file(str(path))
    assert set(ref) == set(tensors)
    for k, t in tensors.items():
        np.testing.assert_array_equal(ref[k], np.asarray(t))
    back, meta = doppel.load(path, with_metadata=True)
    assert meta["epoch"] == "3" and list(back) == list(tensors)
    for k, t in tensors.items():
        assert back[k].dtype == t.dtype
        np.testing.assert_array_equal(np.asarray(back[k]), np.asarray(t))


def test_loads_files_written_by_safetensors(tmp_path):
    path = tmp_path / "ref.safetensors"
    save_file({"a": np.arange(6, dtype=np.int32).reshape(2, 3), "b": np.ones(4, np.float64)}, str(path))
    d = doppel.load(path)
    assert d["a"].dtype == doppel.int32 and d["a"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert d["b"].dtype == doppel.float64


def test_module_checkpoint_round_trip(tmp_path):
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    path = tmp_path / "net.safetensors"
    doppel.save(net, path)
    assert sorted(load_file(str(path))) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    other = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    other.load_state_dict(doppel.load(path))
    x = doppel.randn(2, 3)
    np.testing.assert_array_equal(np.asarray(net(x).detach()), np.asarray(other(x).detach()))


def test_bad_files_and_arguments(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(doppel.FormatError):
        doppel.load(bad)
    with pytest.raises(RuntimeError):
        doppel.load(tmp_path / "missing.safetensors")
    with pytest.raises(TypeError, match="str -> Tensor"):
        doppel.save({"a": 1}, tmp_path / "x.safetensors")
