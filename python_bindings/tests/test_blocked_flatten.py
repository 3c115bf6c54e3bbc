"""A CNN's head in a channels-last inference graph (graph/src/passes/blocked_flatten.cpp): the
flatten reads the channels-last activations and the linear's weight columns are permuted to match,
with no conversion back to NCHW. The compiled function equals eager, the exported model file
runs the same, and the graph exports to ONNX as its plain equivalent: onnxruntime, the
independent oracle, agrees (float32 to 1e-4; bf16 to bf16 rounding)."""
import numpy as np
import onnxruntime as ort
import pytest

import doppel
from doppel import nn

from test_bf16_inference import native_bf16


def cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10)).eval()


@pytest.mark.parametrize("precision, batch", [("float32", 1), ("bf16", 1), ("bf16", 3)])
def test_cnn_head_reads_channels_last_and_exports(tmp_path, precision, batch):
    if precision == "bf16" and not native_bf16():
        pytest.skip("this CPU has no native bf16 (oneDNN ISA below AVX512-BF16)")
    doppel.manual_seed(5)
    model = cnn()
    x = doppel.rand(batch, 1, 28, 28)
    f = doppel.compile(model, inference=True, precision=precision)
    y = [f(x) for _ in range(3)][-1].detach().numpy()  # eager warm-up, trace, replay
    text = str(f.graph(x))
    assert "from_blocked" not in text, text
    assert f"{'bfloat16' if precision == 'bf16' else 'float32'}[{batch}, 3136] = view(" in text, text
    assert ".hwc" in text, text
    with doppel.no_grad():
        want = model(x).numpy()
    scale = np.abs(want).max()
    tol = 0.03 * scale if precision == "bf16" else 1e-4 * max(scale, 1.0)
    assert np.abs(y - want).max() <= tol
    if precision == "float32":
        path = tmp_path / "c.dpl"
        doppel.export(model, [x], path)
        m = doppel.runtime.load(path)
        assert "from_blocked" not in m.graph()
        assert np.abs(m.run([x])[0].numpy() - want).max() <= tol
    onnx_path = tmp_path / "c.onnx"
    doppel.onnx.export(f, (x,), onnx_path)
    s = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = s.run(None, {s.get_inputs()[0].name: x.numpy()})[0]
    same = 2 ** -7 * np.abs(y).max() if precision == "bf16" else 1e-4 * max(scale, 1.0)
    assert np.abs(got - y).max() <= same, np.abs(got - y).max()
