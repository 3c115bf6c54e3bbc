"""doppel.export's options from issue 13. Exported files do not carry the exporting machine's
absolute paths: a model file or ONNX file exported from Python stores node call sites relative
to the working directory, or as file names, by default; call_sites="full" keeps the paths,
"strip" drops them. The parity check's refusal says which tolerance it used and how to change
it (parity_rtol / parity_atol)."""
import os
import pathlib

import pytest

import doppel
import doppel.nn as nn

THIS_FILE = pathlib.Path(__file__).resolve()
REPO = THIS_FILE.parents[2]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x).relu() * 2.0  # the call sites recorded are the lines of this file


def exported(tmp_path, name, call_sites, cwd):
    doppel.manual_seed(0)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        doppel.export(Net(), [doppel.ones(2, 4)], tmp_path / f"{name}.dpl", call_sites=call_sites)
        doppel.onnx.export(Net(), doppel.ones(2, 4), tmp_path / f"{name}.onnx", call_sites=call_sites)
    finally:
        os.chdir(old)
    return (tmp_path / f"{name}.dpl").read_bytes(), (tmp_path / f"{name}.onnx").read_bytes()


def test_default_call_sites_hold_no_absolute_path(tmp_path):
    for cwd, expected in ((REPO, str(THIS_FILE.relative_to(REPO))), (tmp_path, THIS_FILE.name)):
        for data in exported(tmp_path, "default", "relative", cwd):
            assert str(REPO).encode() not in data
            assert f"{expected}:".encode() in data
            assert f"/{THIS_FILE.name}".encode() not in data or expected != THIS_FILE.name
        assert doppel.runtime.load(tmp_path / "default.dpl").run(doppel.ones(2, 4))[0].shape == (2, 3)


def test_full_keeps_and_strip_drops_the_paths(tmp_path):
    for data in exported(tmp_path, "full", "full", REPO):
        assert f"{THIS_FILE}:".encode() in data
    for data in exported(tmp_path, "strip", "strip", REPO):
        assert THIS_FILE.name.encode() not in data
    assert doppel.runtime.load(tmp_path / "strip.dpl").run(doppel.ones(2, 4))[0].shape == (2, 3)


def test_parity_refusal_names_its_tolerance_and_the_knobs(tmp_path):
    doppel.manual_seed(0)
    net = Net().eval()
    state = {"scale": 1.0}  # a Python number the trace bakes in: eager sees later changes

    def f(x):
        return net(x) * state["scale"]

    compiled = doppel.compile(f, dynamic=True, state=net, inference=True, warmup=False)
    x = doppel.ones(3, 4)
    compiled(x)
    state["scale"] = 1.001  # eager now differs from the traced graph by 0.1%
    with pytest.raises(doppel.ValueError) as e:
        doppel.export(compiled, [x], tmp_path / "m.dpl")
    message = str(e.value)
    assert "allowed per element: atol 1e-05 + rtol 0.0001 * |eager| +" in message
    assert "reduction levels" in message and "parity_rtol" in message
    assert not (tmp_path / "m.dpl").exists()
    doppel.export(compiled, [x], tmp_path / "m.dpl", parity_rtol=1e-2)
    assert (tmp_path / "m.dpl").exists()
