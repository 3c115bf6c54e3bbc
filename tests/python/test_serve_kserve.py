"""doppel-serve's KServe v2 / Open Inference Protocol endpoints, driven by the real Triton
client (tritonclient[http] from PyPI) and by raw JSON, against the exported MLP and the eager
model's outputs (fixture_dir, conftest.py)."""
import json

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException


@pytest.fixture
def served(start_server, fixture_dir):
    srv = start_server(fixture_dir / "mlp.dpl")
    return srv, np.load(fixture_dir / "x.npy"), np.load(fixture_dir / "expected.npy")


def test_tritonclient_health_metadata_and_infer(served):
    srv, x, expected = served
    client = triton.InferenceServerClient(url=f"127.0.0.1:{srv.port}")
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("mlp")
    assert not client.is_model_ready("mlp", model_version="9")
    md = client.get_model_metadata("mlp")
    assert md["name"] == "mlp" and md["versions"] == ["1"]
    (inp,), (out,) = md["inputs"], md["outputs"]
    assert inp["datatype"] == "FP32" and inp["shape"] == [-1, 4]
    assert out["datatype"] == "FP32" and out["shape"] == [-1, 3]
    for binary in (True, False):  # Triton's binary tensor extension, and plain JSON
        i = triton.InferInput(inp["name"], list(x.shape), "FP32")
        i.set_data_from_numpy(x, binary_data=binary)
        o = triton.InferRequestedOutput(out["name"], binary_data=binary)
        result = client.infer("mlp", [i], outputs=[o], request_id="req-7")
        y = result.as_numpy(out["name"])
        assert y.dtype == np.float32 and y.shape == expected.shape
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
        assert result.get_response()["id"] == "req-7"
        assert result.get_response()["model_version"] == "1"
    # Without requested outputs every output comes back; an explicit version routes too.
    i = triton.InferInput(inp["name"], [2, 4], "FP32")
    i.set_data_from_numpy(x[:2])
    y = client.infer("mlp", [i], model_version="1").as_numpy(out["name"])
    np.testing.assert_allclose(y, expected[:2], rtol=1e-5, atol=1e-6)
    # Errors come back as the client's exception with the server's message.
    bad = triton.InferInput(inp["name"], [1, 4], "FP64")
    bad.set_data_from_numpy(x[:1].astype(np.float64))
    with pytest.raises(InferenceServerException, match="datatype FP32"):
        client.infer("mlp", [bad])
    with pytest.raises(InferenceServerException, match="not found"):
        client.infer("other", [i])
    client.close()


def test_v2_json_requests_and_errors(served):
    srv, x, expected = served
    name = srv.request("GET", "/v2/models/mlp")[1]["inputs"][0]["name"]
    # Nested data is accepted as well as flat; the answer is flat row-major with the shape.
    status, body = srv.request("POST", "/v2/models/mlp/infer", {
        "id": "n1", "inputs": [{"data": x[:3].tolist(), "datatype": "FP32", "shape": [3, 4], "name": name}]})
    assert status == 200, body
    (out,) = body["outputs"]
    assert out["shape"] == [3, 3] and out["datatype"] == "FP32" and body["id"] == "n1"
    np.testing.assert_allclose(np.array(out["data"], dtype=np.float32).reshape(3, 3), expected[:3], rtol=1e-5,
                               atol=1e-6)
    for req, needle in [
        ({"inputs": [{"name": name, "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3]}]}, "holds 8 values"),
        ({"inputs": [{"name": "nope", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}, "unknown input"),
        ({"inputs": [{"name": name, "shape": [1, 4], "datatype": "INT64", "data": [1, 2, 3, 4]}]}, "datatype FP32"),
        ({"inputs": [{"name": name, "shape": [1, 4], "datatype": "FP32"}]}, "no \"data\""),
        ({"inputs": []}, "missing"),
        ({"inputs": [{"name": name, "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
          "outputs": [{"name": "nope"}]}, "unknown output"),
    ]:
        status, body = srv.request("POST", "/v2/models/mlp/infer", req)
        assert status == 400 and needle in body["error"], (req, body)
    assert srv.request("POST", "/v2/models/mlp/infer", raw=b"{\"inputs\": [")[0] == 400
    assert srv.request("GET", "/v2/models/mlp/infer")[0] == 405
    assert srv.request("GET", "/v2/models/mlp/versions/3")[0] == 404
    assert srv.request("GET", "/v2/health/live") == (200, {"live": True})
    status, meta = srv.request("GET", "/v2")
    assert status == 200 and "binary_tensor_data" in meta["extensions"]


def test_classify_and_regress(served):
    srv, x, expected = served
    name = srv.request("GET", "/v2/models/mlp")[1]["inputs"][0]["name"]
    # :classify answers (label, score) pairs per example: the MLP's 3 outputs are the scores.
    status, body = srv.request("POST", "/v1/models/mlp:classify", {"examples": [{name: r} for r in x.tolist()]})
    assert status == 200, body
    scores = np.array([[s for _, s in ex] for ex in body["results"]], dtype=np.float32)
    assert [[label for label, _ in ex] for ex in body["results"]] == [["0", "1", "2"]] * len(x)
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    # :regress needs one value per example: 3 outputs per example do not fit.
    status, body = srv.request("POST", "/v1/models/mlp:regress", {"examples": [{name: x[0].tolist()}]})
    assert status == 400 and "does not fit :regress" in body["error"]
    status, body = srv.request("POST", "/v1/models/mlp:classify", {"instances": [x[0].tolist()]})
    assert status == 400 and "examples" in body["error"]
    assert json.dumps(body)  # a JSON error body
