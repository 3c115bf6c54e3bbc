"""Graph pictures from Python: doppel.compile(...).to_svg() is SVG (parsed as XML) naming the ops,
before and after the passes; explain() prints each pass that changed the graph; doppel-run
--graph OUT.svg renders a model file."""
import pathlib
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import doppel
import doppel.nn as nn

REPO = pathlib.Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"


def texts(svg):
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    return [t.text for t in root.iter(SVG + "text") if t.text]


def net():
    doppel.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 5))
    m.eval()
    return m


def test_to_svg_before_and_after_passes():
    m = net()
    f = doppel.compile(lambda x: m(x), inference=True)
    with pytest.raises(doppel.ValueError):
        f.to_svg()
    x = doppel.from_numpy(np.ones((2, 3, 4, 4), np.float32))
    with doppel.no_grad():
        f(x)
        f(x)
    before, after = texts(f.to_svg(optimized=False)), texts(f.to_svg())
    assert "convolution" in before and "batch_norm" in before and "linear" in before
    assert "batch_norm" not in after
    assert any("conv2d" in t and "relu" in t for t in after)  # the fused node's label


def test_explain_prints_passes(capsys):
    m = net()
    f = doppel.compile(lambda x: m(x), inference=True)
    x = doppel.from_numpy(np.ones((2, 3, 4, 4), np.float32))
    with doppel.no_grad():
        f(x)
        f(x)
    f.explain()
    out = capsys.readouterr().out
    assert "conv_bn_folding: " in out and "removed 1 batch_norm" in out
    assert "linear_conv_fusion: " in out


def test_doppel_run_graph_svg(tmp_path):
    binary = REPO / "build/release/serve/doppel-run"
    if not binary.is_file():
        pytest.skip("doppel-run is not built (cmake --build --preset release --target doppel-run)")
    out = tmp_path / "cnn.svg"
    subprocess.run([str(binary), str(REPO / "fuzz/corpus_model/cnn.dpl"), "--graph", str(out)], check=True)
    assert "convolution" in " ".join(texts(out.read_text())) or "fused_conv2d" in " ".join(texts(out.read_text()))
