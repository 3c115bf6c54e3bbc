"""The channels-last inference layout (graph/src/passes/layout_propagation.cpp): a compiled bf16
graph, and a float32 one at batch 1, keep their activations [N, 1, H, W, C] between convolutions,
with relu, add and cat (along the channels) on channels-last values. Such a graph exports to ONNX
as its plain-layout equivalent: onnxruntime, the independent oracle, must run it and agree with
doppel's compiled result (float32 to 1e-4; bf16 to bf16 rounding), and with the eager model."""
import numpy as np
import onnxruntime as ort
import pytest

import doppel
from doppel import nn

from test_bf16_inference import native_bf16


class Chain(nn.Module):
    """3 -> 8 -> 12 (stride 2) -> 24, then a shortcut read by a relu'd add (the relu has two
    readers: not fused), a cat of two branches (24 + 40 = 64 channels), a 3x3 stride-2 pool."""

    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(3, 8, 3, padding=1)
        self.c1 = nn.Conv2d(8, 12, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(12, 24, 3, padding=1)
        self.c3 = nn.Conv2d(24, 24, 3, padding=1)
        self.a = nn.Conv2d(24, 24, 1)
        self.b = nn.Conv2d(24, 40, 3, padding=1)
        self.c4 = nn.Conv2d(64, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)

    def forward(self, x):
        h = doppel.relu(self.c0(x))
        h = doppel.relu(self.c1(h))
        s = doppel.relu(self.c2(h))
        h = doppel.relu(self.c3(s) + s) + s
        h = doppel.relu(doppel.cat([self.a(h), self.b(h)], 1))
        return self.pool(self.c4(h))


def ort_run(path, x):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("precision, batch", [("float32", 1), ("bf16", 1), ("bf16", 3)])
def test_channels_last_graph_equals_eager_and_exports_to_onnx(tmp_path, precision, batch):
    if precision == "bf16" and not native_bf16():
        pytest.skip("this CPU has no native bf16 (oneDNN ISA below AVX512-BF16)")
    doppel.manual_seed(4)
    model = Chain().eval()
    x = doppel.rand(batch, 3, 19, 17)
    f = doppel.compile(model, inference=True, precision=precision)
    for _ in range(3):
        y = f(x).detach().numpy()
    text = str(f.graph(x))
    dt = "bfloat16" if precision == "bf16" else "float32"
    assert f"{dt}[{batch}, 1, 10, 9, 64] = cat(" in text, text
    assert f"{dt}[{batch}, 1, 10, 9, 24] = add(" in text, text
    assert "fused_conv2d" not in text, text
    with doppel.no_grad():
        want = model(x).numpy()
    scale = np.abs(want).max()
    tol = 0.03 * scale if precision == "bf16" else 1e-4 * max(scale, 1.0)
    assert np.abs(y - want).max() <= tol
    path = tmp_path / "c.onnx"
    doppel.onnx.export(f, (x,), path)
    got = ort_run(path, x.numpy())
    assert got.shape == y.shape
    same = 2 ** -7 * np.abs(y).max() if precision == "bf16" else 1e-4 * max(scale, 1.0)
    assert np.abs(got - y).max() <= same, np.abs(got - y).max()


class Head(nn.Module):
    """Two convolutions (16 -> 32 channels), then ResNet's head: the global average pool, flatten and
    a linear. The layout pass pools the blocked value (a mean over H and W) and converts only the
    pooled values back (or, channels-last, none: the flatten reads them as they are)."""

    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(3, 16, 3, padding=1)
        self.c1 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        h = doppel.relu(self.c1(doppel.relu(self.c0(x))))
        return self.fc(doppel.flatten(self.pool(h), 1))


@pytest.mark.parametrize("batch", [1, 2])
def test_global_average_pool_of_blocked_value_equals_eager_and_exports_to_onnx(tmp_path, batch):
    doppel.manual_seed(5)
    model = Head().eval()
    x = doppel.rand(batch, 3, 13, 11)
    f = doppel.compile(model, inference=True)
    for _ in range(3):
        y = f(x).detach().numpy()
    text = str(f.graph(x))
    assert "adaptive_avg_pool2d" not in text and " = mean(" in text, text
    # Channels-last (batch 1; with AVX2 every batch) flattens the pooled values as they are;
    # nChw16c (AVX-512, batch 2) converts them back.
    channels_last = f"float32[{batch}, 1, 7, 6, 32] = blocked_conv2d(" in text
    assert channels_last or batch > 1, text
    assert (f"float32[{batch}, 32, 1, 1] = from_blocked(" in text) != channels_last, text
    with doppel.no_grad():
        want = model(x).numpy()
    assert np.abs(y - want).max() <= 1e-4 * max(np.abs(want).max(), 1.0)
    path = tmp_path / "h.onnx"
    doppel.onnx.export(f, (x,), path)
    got = ort_run(path, x.numpy())
    assert got.shape == y.shape
    assert np.abs(got - y).max() <= 1e-4 * max(np.abs(y).max(), 1.0)
