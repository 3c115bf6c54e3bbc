"""doppel-serve --model-base-path: numbered version folders, the newest served, a new version
picked up while clients run (no error, then the new answers), explicit /versions/N routes, and
broken or vanishing versions that never take the server down.

Two MLPs from doppel-make-test-model with different seeds give two versions with different
answers, each with its eager model's outputs as the oracle.
"""
import http.client
import json
import os
import shutil
import subprocess
import threading
import time

import numpy as np
import pytest
from serve_util import serve_binary


@pytest.fixture(scope="module")
def second_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve_v2")
    r = subprocess.run([serve_binary("doppel-make-test-model"), str(d), "8"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return d


def add_version(base, number, model_dir):
    """Publishes a version folder atomically (written aside, then renamed into place)."""
    staging = base.parent / f".staging-{number}"
    staging.mkdir()
    shutil.copy(model_dir / "mlp.dpl", staging / "model.dpl")
    os.rename(staging, base / str(number))


def predictions(srv, x, path="/v1/models/mlp:predict"):
    status, body = srv.request("POST", path, {"instances": x.tolist()})
    assert status == 200, body
    return np.array(body["predictions"], dtype=np.float32)


def wait_for(condition, seconds=10):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_new_version_is_picked_up_while_clients_run(start_server, fixture_dir, second_model, tmp_path):
    x1, y1 = np.load(fixture_dir / "x.npy"), np.load(fixture_dir / "expected.npy")
    y2 = np.load(second_model / "expected.npy")
    x2 = np.load(second_model / "x.npy")
    base = tmp_path / "mlp"
    base.mkdir()
    add_version(base, 1, fixture_dir)
    srv = start_server("--model-base-path", base, "--file-system-poll-wait-seconds", "0.1")
    assert "version 1" in srv.banner[-1]
    np.testing.assert_allclose(predictions(srv, x1), y1, rtol=1e-5, atol=1e-6)

    stop = threading.Event()
    errors, seen = [], set()

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        body = json.dumps({"instances": x2.tolist()})
        while not stop.is_set():
            conn.request("POST", "/v1/models/mlp:predict", body=body)
            resp = conn.getresponse()
            out = json.loads(resp.read())
            if resp.status != 200:
                errors.append(out)
                continue
            got = np.array(out["predictions"], dtype=np.float32)
            if np.allclose(got, y2, rtol=1e-5, atol=1e-6):
                seen.add(2)
            elif got.shape == y2.shape:
                seen.add(1)
            else:
                errors.append(out)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    add_version(base, 2, second_model)
    switched = wait_for(lambda: 2 in seen)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    assert switched and errors == [] and seen == {1, 2}
    # The newest serves; version 1 was unloaded (one version kept by default).
    np.testing.assert_allclose(predictions(srv, x2), y2, rtol=1e-5, atol=1e-6)
    status, body = srv.request("GET", "/v1/models/mlp")
    assert [v["version"] for v in body["model_version_status"]] == ["2"]
    assert srv.request("GET", "/v1/models/mlp/versions/1")[0] == 404
    np.testing.assert_allclose(predictions(srv, x2, "/v1/models/mlp/versions/2:predict"), y2, rtol=1e-5, atol=1e-6)


def test_versions_routes_broken_and_removed_versions(start_server, fixture_dir, second_model, tmp_path):
    x1, y1 = np.load(fixture_dir / "x.npy"), np.load(fixture_dir / "expected.npy")
    base = tmp_path / "mlp"
    base.mkdir()
    add_version(base, 1, fixture_dir)
    add_version(base, 2, second_model)
    (base / "notes").mkdir()  # not a version folder: ignored
    srv = start_server("--model-base-path", base, "--num-versions", "2", "--file-system-poll-wait-seconds", "0.1")
    status, body = srv.request("GET", "/v1/models/mlp")
    assert [v["version"] for v in body["model_version_status"]] == ["2", "1"]
    np.testing.assert_allclose(predictions(srv, x1, "/v1/models/mlp/versions/1:predict"), y1, rtol=1e-5, atol=1e-6)
    y2_on_x1 = predictions(srv, x1)  # newest: version 2
    assert not np.allclose(y2_on_x1, y1)
    np.testing.assert_allclose(predictions(srv, x1, "/v1/models/mlp/versions/2:predict"), y2_on_x1, rtol=1e-6)
    assert srv.request("GET", "/v2/models/mlp")[1]["versions"] == ["1", "2"]
    # A broken newer version is reported and skipped; the loaded ones keep serving.
    (base / "3").mkdir()
    (base / "3" / "model.dpl").write_bytes(b"not a model")
    time.sleep(0.5)
    assert srv.alive()
    np.testing.assert_allclose(predictions(srv, x1), y2_on_x1, rtol=1e-6)
    # Once fixed (the file changed), it loads.
    shutil.copy(fixture_dir / "mlp.dpl", base / "3" / "model.dpl")
    assert wait_for(lambda: srv.request("GET", "/v1/models/mlp/versions/3")[0] == 200)
    np.testing.assert_allclose(predictions(srv, x1), y1, rtol=1e-5, atol=1e-6)
    # The whole base folder removed: the server keeps serving what it has in memory.
    shutil.rmtree(base)
    time.sleep(0.5)
    assert srv.alive()
    np.testing.assert_allclose(predictions(srv, x1), y1, rtol=1e-5, atol=1e-6)


def test_base_path_errors(tmp_path):
    r = subprocess.run([serve_binary("doppel-serve"), "--model-base-path", str(tmp_path), "--port", "0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "no version loaded" in r.stderr, r.stderr
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "model.dpl").write_bytes(b"garbage")
    r = subprocess.run([serve_binary("doppel-serve"), "--model-base-path", str(tmp_path), "--port", "0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "version 1" in r.stderr and "FormatError" in r.stderr, r.stderr
    r = subprocess.run([serve_binary("doppel-serve"), "x.dpl", "--model-base-path", str(tmp_path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "exactly one" in r.stderr
    # A FIFO as the model is refused at once (reading it would wait for a writer forever).
    fifo = tmp_path / "model.dpl"
    os.mkfifo(fifo)
    r = subprocess.run([serve_binary("doppel-serve"), str(fifo), "--port", "0"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1 and "FIFO" in r.stderr, r.stderr
