# doppel._C._onednn_reference_primitives(): the oneDNN primitives that ran a reference
# implementation. It names one when it runs, and the convolution chain compiled for
# inference and exported to the runtime runs none (it ran oneDNN's ref:any convolution).
import numpy as np

import doppel
from doppel import _C, nn


def test_a_reference_primitive_is_named_with_its_shapes_and_runs():
    _C._onednn_reference_primitives(reset=True)
    x = doppel.randn(1, 2, 8, 8)
    for _ in range(2):
        # Under 4 channel planes oneDNN pools with its simple_nchw loop (3x3 windows: the 2x2
        # case is doppel's own streaming kernel).
        nn.functional.max_pool2d(x, 3, 2)
    assert _C._onednn_reference_primitives() == [
        {"kind": "pooling", "impl": "simple_nchw:any", "shapes": "src f32 1x2x8x8:abcd dst f32 1x2x3x3:abcd",
         "runs": 2}]
    assert _C._onednn_reference_primitives(reset=True) != []
    assert _C._onednn_reference_primitives() == []


def test_conv_chain_compiled_and_exported_runs_no_reference_primitive(tmp_path):
    _C._onednn_reference_primitives(reset=True)
    doppel.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                      nn.Conv2d(8, 16, 3, padding=1))
    m.eval()
    x = doppel.randn(2, 3, 16, 16)
    with doppel.no_grad():
        want = np.asarray(m(x))
        f = doppel.compile(m, inference=True)
        got = [np.asarray(f(x)) for _ in range(3)]  # eager warm-up, trace, replay
    doppel.export(m, [x], tmp_path / "chain.dpl")
    got.append(np.asarray(doppel.runtime.load(tmp_path / "chain.dpl").run([x])[0]))
    assert _C._onednn_reference_primitives(reset=True) == []
    for g in got:
        np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-5)
