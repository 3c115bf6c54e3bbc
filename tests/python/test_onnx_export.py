"""ONNX export: the files doppel writes pass the ONNX checker and onnxruntime reproduces doppel.

doppel is driven through its `doppel-onnx-fixtures` tool (tools/doppel_onnx_fixtures.cpp), found in
$DOPPEL_BUILD_DIR/tools (default build/release). For the MLP, the CNN (conv-bn-relu-pool x2 +
linear, eval) and a TransformerEncoderLayer it writes the graph as traced (<model>.onnx) and
after the inference passes (<model>_opt.onnx), each exported once with a dynamic batch, and
doppel's eager outputs at batch 1 and 7. onnxruntime runs the same file at both batch sizes.
"""
import os
import pathlib
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("DOPPEL_BUILD_DIR", REPO / "build/release"))
TOOL = BUILD / "tools/doppel-onnx-fixtures"
MODELS = ["mlp", "cnn", "transformer", "activations"]  # activations: issue 12's ops
VARIANTS = ["", "_opt"]  # as traced, and after graph::optimize (inference)
BATCHES = [1, 7]
# float32 throughout; both sides use different kernels (oneDNN vs MLAS), so not bitwise.
RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    if not TOOL.is_file():
        pytest.fail(f"{TOOL} not built: run tools/build.sh release (or set DOPPEL_BUILD_DIR to a build folder)")
    out = tmp_path_factory.mktemp("onnx")
    r = subprocess.run([str(TOOL), "write", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"doppel-onnx-fixtures write failed ({r.returncode}): {r.stderr}"
    return out


def params():
    return [pytest.param(m, v, id=f"{m}{v or '_raw'}") for m in MODELS for v in VARIANTS]


@pytest.mark.parametrize("model,variant", params())
def test_export_passes_the_full_checker(fixtures, model, variant):
    m = onnx.load(str(fixtures / f"{model}{variant}.onnx"))
    onnx.checker.check_model(m, full_check=True)
    assert m.ir_version == 8
    assert [(o.domain, o.version) for o in m.opset_import] == [("", 17)]
    # Weights are initializers, not graph inputs; every node says where it was traced.
    assert len(m.graph.input) == 1 and len(m.graph.initializer) > 0
    assert all(n.doc_string for n in m.graph.node)


@pytest.mark.parametrize("model,variant", params())
def test_batch_dim_is_symbolic(fixtures, model, variant):
    m = onnx.load(str(fixtures / f"{model}{variant}.onnx"))
    (inp,) = m.graph.input
    (out,) = m.graph.output
    assert inp.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert all(d.HasField("dim_value") for d in inp.type.tensor_type.shape.dim[1:])
    assert out.type.tensor_type.shape.dim[0].dim_param == "batch"


@pytest.mark.parametrize("model,variant", params())
def test_onnxruntime_matches_doppel_at_batch_1_and_7(fixtures, model, variant):
    sess = ort.InferenceSession(str(fixtures / f"{model}{variant}.onnx"), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for batch in BATCHES:
        x = np.load(fixtures / f"{model}_b{batch}_input.npy")
        want = np.load(fixtures / f"{model}_b{batch}_output.npy")
        assert x.shape[0] == batch and want.shape[0] == batch
        (got,) = sess.run(None, {name: x})
        assert got.shape == want.shape, f"batch {batch}"
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"{model}{variant} batch {batch}")


def test_optimized_exports_carry_the_fused_ops(fixtures):
    """The _opt files come from the optimized graphs: batch norm folded, no separate activations after fused ops."""
    ops = {f"{m}{v}": [n.op_type for n in onnx.load(str(fixtures / f"{m}{v}.onnx")).graph.node] for m in MODELS for v in VARIANTS}
    assert ops["cnn"].count("BatchNormalization") == 2
    assert "BatchNormalization" not in ops["cnn_opt"]
    assert ops["cnn_opt"].count("Conv") == 2
    # The q/k/v slices of in_proj were constant-folded into initializers.
    assert "Slice" in ops["transformer"] and "Slice" not in ops["transformer_opt"]
    assert ops["transformer_opt"].count("LayerNormalization") == 2
