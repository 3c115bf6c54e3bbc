"""ONNX export of bf16 graphs (issue 18, item 4): opset 17 has no bf16 Conv/MaxPool, so the export
computes those nodes in float32 between casts (the same arithmetic as doppel's bf16 kernels:
bf16 operands, float32 accumulation, one rounding to bf16) and keeps the weights as bf16
initializers. onnxruntime, the independent oracle, must load the file and agree with doppel's
bf16 runtime to bf16 rounding, and the answer must be the bf16 one, not float32's."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest

import doppel
from doppel import nn

from test_bf16_inference import native_bf16, small_cnn

pytestmark = pytest.mark.skipif(not native_bf16(), reason="this CPU has no native bf16 (oneDNN ISA below AVX512-BF16)")


def ort_run(path, x):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def trained_looking_cnn():
    doppel.manual_seed(3)
    model = small_cnn().eval()
    bn = model[1]
    with doppel.no_grad():
        bn.running_mean.copy_(doppel.rand(8) - 0.5)
        bn.running_var.copy_(doppel.rand(8) + 0.5)
    return model


def test_a_bf16_model_file_exports_to_onnx_that_onnxruntime_runs(tmp_path):
    model = trained_looking_cnn()
    x = doppel.rand(4, 1, 28, 28)
    dpl, dpl32 = tmp_path / "m.dpl", tmp_path / "m32.dpl"
    doppel.export(model, [x], dpl, dynamic=True, precision="bf16")
    doppel.export(model, [x], dpl32, dynamic=True)
    onnx16, onnx32 = tmp_path / "m.onnx", tmp_path / "m32.onnx"
    doppel.onnx.export(doppel.runtime.load(dpl), (x,), onnx16)
    doppel.onnx.export(doppel.runtime.load(dpl32), (x,), onnx32)
    proto = onnx.load(str(onnx16))
    onnx.checker.check_model(proto, full_check=True)
    kinds = {i.name: i.data_type for i in proto.graph.initializer}
    assert onnx.TensorProto.BFLOAT16 in kinds.values(), kinds
    assert onnx16.stat().st_size < 0.6 * onnx32.stat().st_size
    for batch in (1, 4, 7):
        xb = doppel.rand(batch, 1, 28, 28)
        want = doppel.runtime.load(dpl).run(xb)[0].numpy()
        want32 = doppel.runtime.load(dpl32).run(xb)[0].numpy()
        got = ort_run(onnx16, xb.numpy())
        scale = np.abs(want).max()
        # The same bf16 arithmetic: within a couple of bf16 roundings of the output's magnitude
        # (sums in another order can round the other way), and far closer than float32 is.
        assert np.abs(got - want).max() <= 2 ** -7 * scale, np.abs(got - want).max()
        assert np.abs(got - want).max() < 0.25 * np.abs(want32 - want).max()


def test_a_bf16_compiled_function_exports_its_bf16_graph(tmp_path):
    model = trained_looking_cnn()
    x = doppel.rand(3, 1, 28, 28)
    f = doppel.compile(model, inference=True, precision="bf16")
    for _ in range(3):
        y = f(x).detach().numpy()
    path = tmp_path / "c.onnx"
    doppel.onnx.export(f, (x,), path)
    got = ort_run(path, x.numpy())
    with doppel.no_grad():
        want32 = model(x).numpy()
    assert np.abs(got - y).max() <= 2 ** -7 * np.abs(y).max()
    assert np.abs(got - y).max() < 0.25 * np.abs(want32 - y).max()
