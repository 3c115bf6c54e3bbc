"""doppel-run and doppel-serve end to end (serve/), against an exported MLP.

The model comes from `doppel-make-test-model` (serve/tools/doppel_make_test_model.cpp), which
also writes an input batch and the eager model's outputs for it: the oracle the runtime's
answers must match (numpy allclose). doppel-serve is started on a free loopback port and
spoken to with real HTTP (http.client). Fixtures and binaries: conftest.py.
"""
import subprocess
import threading

import numpy as np
import pytest
import safetensors.numpy
from serve_util import ServeProcess, serve_binary

MAX_BODY = 1 << 20


@pytest.fixture(scope="module")
def server(fixture_dir):
    s = ServeProcess([fixture_dir / "mlp.dpl", "--threads", "4", "--max-body-bytes", MAX_BODY])
    yield {"proc": s.proc, "port": s.port, "name": "mlp", "serve": s}
    # SIGTERM shuts the server down cleanly (exit status 0).
    s.stop()


def request(server, method, path, body=None, raw=None):
    status, payload = server["serve"].request(method, path, body=body, raw=raw)
    assert isinstance(payload, (dict, list)), f"not a JSON answer: {payload!r}"
    return status, payload


def input_name(server):
    _, md = request(server, "GET", "/v1/models/mlp/metadata")
    inputs = md["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    assert len(inputs) == 1
    return next(iter(inputs))


def alive(server):
    assert server["proc"].poll() is None, "doppel-serve exited"
    status, body = request(server, "GET", "/v1/models/mlp")
    assert status == 200 and body["model_version_status"][0]["state"] == "AVAILABLE"


def test_status_and_metadata(server):
    status, body = request(server, "GET", "/v1/models/mlp")
    assert status == 200
    assert body == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert request(server, "GET", "/v1/models/mlp/versions/1")[0] == 200
    status, md = request(server, "GET", "/v1/models/mlp/metadata")
    assert status == 200
    assert md["model_spec"]["name"] == "mlp"
    sig = md["metadata"]["signature_def"]["signature_def"]["serving_default"]
    (inp,) = sig["inputs"].values()
    (out,) = sig["outputs"].values()
    assert inp["dtype"] == "DT_FLOAT" and out["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in inp["tensor_shape"]["dim"]] == ["-1", "4"]
    assert [d["size"] for d in out["tensor_shape"]["dim"]] == ["-1", "3"]
    assert inp["tensor_shape"]["dim"][0]["name"] == "batch"


def test_predictions_match_the_eager_model(server, fixture_dir):
    x = np.load(fixture_dir / "x.npy")
    expected = np.load(fixture_dir / "expected.npy")
    status, body = request(server, "POST", "/v1/models/mlp:predict", {"instances": x.tolist()})
    assert status == 200, body
    np.testing.assert_allclose(np.array(body["predictions"], dtype=np.float32), expected, rtol=1e-5, atol=1e-6)
    status, body = request(server, "POST", "/v1/models/mlp/versions/1:predict",
                           {"inputs": {input_name(server): x[:2].tolist()}})
    assert status == 200, body
    np.testing.assert_allclose(np.array(body["outputs"], dtype=np.float32), expected[:2], rtol=1e-5, atol=1e-6)


def test_concurrent_clients(server, fixture_dir):
    x = np.load(fixture_dir / "x.npy")
    expected = np.load(fixture_dir / "expected.npy")
    failures = []

    def client(t):
        for i in range(10):
            row = (t + i) % len(x)
            try:
                status, body = request(server, "POST", "/v1/models/mlp:predict", {"instances": [x[row].tolist()]})
                got = np.array(body["predictions"], dtype=np.float32)
                if status != 200 or not np.allclose(got, expected[row:row + 1], rtol=1e-5, atol=1e-6):
                    failures.append((t, i, status, body))
            except Exception as e:  # noqa: BLE001 -- every failure is collected and reported
                failures.append((t, i, repr(e)))

    threads = [threading.Thread(target=client, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_bad_requests_are_4xx_json_and_the_server_survives(server):
    predict = "/v1/models/mlp:predict"
    status, body = request(server, "POST", predict, raw=b'{"instances": [[1, 2, 3, 4],]}')
    assert status == 400 and "malformed JSON" in body["error"]
    status, body = request(server, "POST", predict, raw=b"\xff\xfe")
    assert status == 400 and "UTF-8" in body["error"]
    status, body = request(server, "POST", predict, {"instances": [[1.0, 2.0, 3.0]]})
    assert status == 400
    assert input_name(server) in body["error"], body
    status, body = request(server, "POST", predict, {"instances": [[1, 2, 3, 4], [1, 2]]})
    assert status == 400 and "ragged" in body["error"]
    status, body = request(server, "POST", predict, {"instances": [["a", "b", "c", "d"]]})
    assert status == 400 and "string" in body["error"]
    status, body = request(server, "POST", predict, raw=b'{"instances": ' + b"[" * 100000 + b"]" * 100000 + b"}")
    assert status == 400
    status, body = request(server, "POST", predict, raw=b"[" + b"0," * (MAX_BODY // 2) + b"0]")
    assert status == 413 and "limit" in body["error"]
    status, body = request(server, "POST", "/v1/models/nope:predict", {"instances": [[1, 2, 3, 4]]})
    assert status == 404 and "not found" in body["error"]
    status, body = request(server, "GET", "/v1/models/mlp/versions/7")
    assert status == 404
    status, body = request(server, "GET", predict)
    assert status == 405
    status, body = request(server, "POST", "/v1/models/mlp", {})
    assert status == 405
    alive(server)


def run_tool(*args, timeout=120):
    return subprocess.run([serve_binary("doppel-run"), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_run_npy_in_npy_out(server, fixture_dir, tmp_path):
    out = tmp_path / "y.npy"
    r = run_tool(fixture_dir / "mlp.dpl", "--input", fixture_dir / "x.npy", "--output", out)
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.load(out), np.load(fixture_dir / "expected.npy"), rtol=1e-5, atol=1e-6)
    # The same through safetensors, the input named as in the signature.
    x = np.load(fixture_dir / "x.npy")
    in_name = input_name(server)
    safetensors.numpy.save_file({in_name: x}, str(tmp_path / "in.safetensors"))
    r = run_tool(fixture_dir / "mlp.dpl", "--inputs", tmp_path / "in.safetensors", "--outputs",
                 tmp_path / "out.safetensors")
    assert r.returncode == 0, r.stderr
    (y,) = safetensors.numpy.load_file(str(tmp_path / "out.safetensors")).values()
    np.testing.assert_allclose(y, np.load(fixture_dir / "expected.npy"), rtol=1e-5, atol=1e-6)


def test_run_signature_and_bench(fixture_dir):
    r = run_tool(fixture_dir / "mlp.dpl", "--signature")
    assert r.returncode == 0, r.stderr
    assert "inputs:" in r.stdout and "outputs:" in r.stdout and "format version" in r.stdout
    r = run_tool(fixture_dir / "mlp.dpl", "--bench", "--iterations", "50", "--warmup", "5", "--batch", "8",
                 "--threads", "2")
    assert r.returncode == 0, r.stderr
    for field in ("p50", "p90", "p99", "mean", "samples/s"):
        assert field in r.stdout
    assert "batch 8" in r.stdout


def test_run_errors(fixture_dir, tmp_path):
    bad = tmp_path / "bad.dpl"
    bad.write_bytes(b"not a model at all")
    r = run_tool(bad, "--signature")
    assert r.returncode == 1 and "FormatError" in r.stderr, r.stderr
    truncated = tmp_path / "truncated.dpl"
    truncated.write_bytes((fixture_dir / "mlp.dpl").read_bytes()[:100])
    r = run_tool(truncated, "--signature")
    assert r.returncode == 1 and "FormatError" in r.stderr, r.stderr
    bad_npy = tmp_path / "bad.npy"
    bad_npy.write_bytes((fixture_dir / "x.npy").read_bytes()[:-3])
    r = run_tool(fixture_dir / "mlp.dpl", "--input", bad_npy)
    assert r.returncode == 1 and "FormatError" in r.stderr and "truncated" in r.stderr, r.stderr
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, 5), dtype=np.float32))
    r = run_tool(fixture_dir / "mlp.dpl", "--input", wrong)
    assert r.returncode == 1 and "ShapeError" in r.stderr, r.stderr
    r = run_tool(fixture_dir / "mlp.dpl", "--bogus")
    assert r.returncode == 2 and "usage" in r.stderr
    r = run_tool()
    assert r.returncode == 2
