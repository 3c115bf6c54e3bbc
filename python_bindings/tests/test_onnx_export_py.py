"""doppel.onnx.export (issue 13): a Module, a function, a compiled function or a loaded model file
exported to ONNX from Python, with torch.onnx.export's argument names, runs in onnxruntime and
gives doppel's answers (eager for modules, the runtime for model files) at several batch sizes."""
import io

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import doppel
import doppel.nn as nn

RTOL, ATOL = 1e-4, 1e-5  # float32 with different kernels on each side


def mlp():
    doppel.manual_seed(1)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)).eval()


def cnn():
    doppel.manual_seed(2)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 4 * 4, 5)).eval()


def x_of(shape, seed):
    return np.random.default_rng(seed).uniform(-2, 2, size=shape).astype(np.float32)


def ort_run(path_or_bytes, feeds):
    sess = ort.InferenceSession(path_or_bytes, providers=["CPUExecutionProvider"])
    return sess, sess.run(None, feeds)


@pytest.mark.parametrize("make,shape", [(mlp, (6,)), (cnn, (3, 8, 8))], ids=["mlp", "cnn"])
def test_module_with_dynamic_batch_matches_eager_in_onnxruntime(tmp_path, make, shape):
    model = make()
    path = tmp_path / "m.onnx"
    doppel.onnx.export(model, (doppel.from_numpy(x_of((2, *shape), 0)),), path, input_names=["x"],
                       output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    assert [i.name for i in m.graph.input] == ["x"] and [o.name for o in m.graph.output] == ["logits"]
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 5, 17):
        x = x_of((batch, *shape), batch)
        with doppel.no_grad():
            want = model(doppel.from_numpy(x)).numpy()
        (got,) = sess.run(None, {"x": x})
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_function_and_compiled_function_export(tmp_path):
    model = mlp()

    def f(a, b):
        return model(a) * 2.0 + b.sum(dim=1, keepdim=True)

    a, b = x_of((4, 6), 1), x_of((4, 2), 2)
    for fn in (f, doppel.compile(f, dynamic=True)):
        buf = io.BytesIO()
        doppel.onnx.export(fn, (doppel.from_numpy(a), doppel.from_numpy(b)), buf, input_names=["a", "b"],
                           dynamic_axes={"a": {0: "n"}, "b": {0: "n"}})  # one symbol: the rows agree
        sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
        assert sess.get_inputs()[0].shape == ["n", 6]
        for batch in (1, 3):
            a2, b2 = x_of((batch, 6), 10 + batch), x_of((batch, 2), 20 + batch)
            with doppel.no_grad():
                want = f(doppel.from_numpy(a2), doppel.from_numpy(b2)).numpy()
            (got,) = sess.run(None, {"a": a2, "b": b2})
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_compiled_function_keeps_its_dynamic_dims(tmp_path):
    model = mlp()
    buf = io.BytesIO()
    doppel.onnx.export(doppel.compile(model, dynamic=True), doppel.from_numpy(x_of((2, 6), 0)), buf)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == ["batch", 6]


def test_static_export_keeps_the_example_shape_and_axis_lists_name_axes_as_torch(tmp_path):
    model = mlp()
    path = tmp_path / "static.onnx"
    doppel.onnx.export(model, doppel.from_numpy(x_of((3, 6), 0)), str(path))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].name == "input0" and sess.get_inputs()[0].shape == [3, 6]
    doppel.onnx.export(model, doppel.from_numpy(x_of((3, 6), 0)), str(path), dynamic_axes={"input0": [0]})
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == ["input0_dynamic_axes_1", 6]


def test_loaded_model_file_exports_with_its_names(tmp_path):
    model = cnn()
    x = x_of((2, 3, 8, 8), 4)
    doppel.export(model, [doppel.from_numpy(x)], tmp_path / "m.dpl", dynamic=True, input_names=["image:0"],
                  output_names=["scores-1"])
    loaded = doppel.runtime.load(tmp_path / "m.dpl")
    doppel.onnx.export(loaded, doppel.from_numpy(x), tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["image:0"]
    assert [o.name for o in sess.get_outputs()] == ["scores-1"]
    for batch in (1, 6):
        xb = x_of((batch, 3, 8, 8), 30 + batch)
        (want,) = loaded.run(doppel.from_numpy(xb))
        (got,) = sess.run(None, {"image:0": xb})
        np.testing.assert_allclose(got, want.numpy(), rtol=RTOL, atol=ATOL)


def test_bad_arguments_are_named(tmp_path):
    model = mlp()
    x = doppel.from_numpy(x_of((2, 6), 0))
    with pytest.raises(doppel.ValueError, match="opset 17, not 13"):
        doppel.onnx.export(model, x, tmp_path / "a.onnx", opset_version=13)
    with pytest.raises(doppel.ValueError, match="dynamic_axes names 'y', which is neither an input"):
        doppel.onnx.export(model, x, tmp_path / "a.onnx", input_names=["x"], dynamic_axes={"y": [0]})
    with pytest.raises(doppel.ValueError, match="traced graph has 2 there"):
        doppel.onnx.export(model, x, tmp_path / "a.onnx", input_names=["x"], output_names=["y"],
                           dynamic_axes={"y": {0: "batch"}})
    with pytest.raises(doppel.ValueError, match="the output name 'x' is empty or repeated"):
        doppel.onnx.export(model, x, tmp_path / "a.onnx", input_names=["x"], output_names=["x"])
    with pytest.raises(doppel.ValueError, match="call_sites must be"):
        doppel.onnx.export(model, x, tmp_path / "a.onnx", call_sites="absolute")
    assert not (tmp_path / "a.onnx").exists()
