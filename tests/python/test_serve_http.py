"""doppel-serve under hostile and heavy traffic over loopback, every test bounded in time.

Slow clients (slowloris), keep-alive latency, many concurrent keep-alive clients, malformed
HTTP framing, pipelining, bodies without a JSON Content-Type, NaN/Infinity literals, and the
model file changed or removed while the server runs. Raw sockets where the framing matters,
http.client elsewhere. DOPPEL_SERVE_SOAK_SECONDS sets the length of the concurrent-clients run
(default 5; the issue's full run is 20).
"""
import gzip
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import threading
import time

import numpy as np
import pytest
from serve_util import serve_binary

PREDICT = "/v1/models/mlp:predict"


def read_response(f):
    """(status, headers, body) of one response read from the socket file `f`."""
    status_line = f.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, v = line.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    body = f.read(int(headers.get("content-length", "0")))
    return status, headers, body


def raw_exchange(port, data, timeout=10):
    """Sends `data` on a new connection and returns the status of the first response (None if
    the server closed without answering)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed early; the answer is still readable
        f = s.makefile("rb")
        try:
            return read_response(f)[0]
        except (AssertionError, ConnectionResetError, ValueError, IndexError):
            return None


def predict_bytes(rows):
    return json.dumps({"instances": rows}).encode()


def post_predict(conn, body, headers=None):
    conn.request("POST", PREDICT, body=body, headers=headers or {"Content-Type": "application/json"})
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())


@pytest.fixture
def mlp(fixture_dir):
    x = np.load(fixture_dir / "x.npy")
    expected = np.load(fixture_dir / "expected.npy")
    return x, expected


def test_slow_clients_do_not_delay_others(start_server, fixture_dir, mlp):
    x, expected = mlp
    srv = start_server(fixture_dir / "mlp.dpl", "--threads", "2")
    stop = threading.Event()
    slow = []
    for _ in range(60):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        slow.append(s)
    request_bytes = b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"

    def dribble():  # one byte per second on every slow connection
        i = 0
        while not stop.is_set() and i < len(request_bytes):
            for s in slow:
                try:
                    s.send(request_bytes[i:i + 1])
                except OSError:
                    pass
            i += 1
            stop.wait(1.0)

    t = threading.Thread(target=dribble)
    t.start()
    try:
        time.sleep(0.5)
        latencies = []
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
                status, body = post_predict(conn, predict_bytes([x[0].tolist()]))
                conn.close()
                ok = status == 200 and np.allclose(body["predictions"], expected[:1], rtol=1e-5, atol=1e-6)
            except OSError:
                ok = False
            latencies.append(time.monotonic() - t0 if ok else float("inf"))
            time.sleep(0.05)
    finally:
        stop.set()
        t.join()
        for s in slow:
            s.close()
    fast = sum(1 for v in latencies if v < 1.0)
    assert len(latencies) >= 20
    assert fast >= 0.9 * len(latencies), sorted(latencies)


def test_a_slow_request_is_cut_at_the_request_timeout(start_server, fixture_dir):
    srv = start_server(fixture_dir / "mlp.dpl", "--request-timeout-seconds", "1.5")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        t0 = time.monotonic()
        s.sendall(b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\n")
        closed = False
        while time.monotonic() - t0 < 6:
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except OSError:
                closed = True
                break
            s.settimeout(0.5)
            try:
                if s.recv(1) == b"":
                    closed = True
                    break
            except socket.timeout:
                pass
        assert closed, "the server kept a request that never ends open"
        assert 1.0 < time.monotonic() - t0 < 4.0


def test_keep_alive_latency(start_server, fixture_dir, mlp):
    x, expected = mlp
    srv = start_server(fixture_dir / "mlp.dpl")
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    body = predict_bytes([x[0].tolist()])
    for _ in range(20):  # warm up (the first runs plan the graph)
        post_predict(conn, body)
    times = []
    for _ in range(300):
        t0 = time.perf_counter()
        status, out = post_predict(conn, body)
        times.append(time.perf_counter() - t0)
        assert status == 200
    conn.close()
    np.testing.assert_allclose(out["predictions"], expected[:1], rtol=1e-5, atol=1e-6)
    assert statistics.median(times) < 0.002, f"median {statistics.median(times) * 1e3:.2f} ms"


def test_many_concurrent_keep_alive_clients(start_server, fixture_dir, mlp):
    x, expected = mlp
    srv = start_server(fixture_dir / "mlp.dpl")
    seconds = float(os.environ.get("DOPPEL_SERVE_SOAK_SECONDS", "5"))
    errors, counts = [], []
    start = threading.Barrier(200)

    def client(k):
        row = k % len(x)
        body = predict_bytes([x[row].tolist()])
        n = 0
        try:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            start.wait()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                status, out = post_predict(conn, body)
                if status != 200 or not np.allclose(out["predictions"], expected[row:row + 1], rtol=1e-5, atol=1e-6):
                    errors.append((k, status, out))
                    return
                n += 1
            conn.close()
        except Exception as e:  # noqa: BLE001 -- every failure is collected and reported
            errors.append((k, repr(e)))
        counts.append(n)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(counts) == 200 and min(counts) > 0
    print(f"200 keep-alive clients, {seconds:.0f} s: {sum(counts)} requests, {sum(counts) / seconds:.0f}/s")


def test_malformed_framing_is_refused(start_server, fixture_dir):
    srv = start_server(fixture_dir / "mlp.dpl", "--max-body-bytes", "65536")
    body = predict_bytes([[1.0, 2.0, 3.0, 4.0]])
    head = b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\n"

    def status_of(headers, payload=body):
        return raw_exchange(srv.port, head + headers + b"\r\n" + payload)

    n = str(len(body)).encode()
    assert status_of(b"Content-Length: " + n + b"\r\n") == 200  # the well-formed request
    assert status_of(b"Content-Length: -1\r\n") == 400
    assert status_of(b"Content-Length: 18446744073709551617\r\n") == 400  # 2^64 + 1
    assert status_of(b"Content-Length: 99999999999999999999999\r\n") == 400
    assert status_of(b"Content-Length: " + n + b"\r\nContent-Length: 5\r\n") == 400  # conflicting
    assert status_of(b"Content-Length: " + n + b"\r\nContent-Length: " + n + b"\r\n") == 400  # duplicate
    assert status_of(b"Content-Length: " + n + b", " + n + b"\r\n") == 400  # as a list
    assert status_of(b"Content-Length: " + n + b"\r\nX-No-Colon-Here\r\n") == 400
    assert status_of(b"Content-Length: " + n + b"\r\nTransfer-Encoding: chunked\r\n") == 400
    assert status_of(b"Transfer-Encoding: gzip\r\n") == 400
    assert status_of(b"Content-Length: 1000000\r\n") == 413  # over the limit: refused on the header
    assert status_of(b"X-Big: " + b"a" * 20000 + b"\r\nContent-Length: " + n + b"\r\n") == 431
    # Chunked: decoded correctly under the limit, refused once the decoded body passes it.
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:10], body[10:])) + b"0\r\n\r\n"
    assert status_of(b"Transfer-Encoding: chunked\r\n", chunked) == 200
    big_chunk = b" " * 50000
    endless = b"".join(b"%x\r\n%s\r\n" % (len(big_chunk), big_chunk) for _ in range(40)) + b"0\r\n\r\n"
    assert status_of(b"Transfer-Encoding: chunked\r\n", endless) == 413
    # Compressed bodies are refused, not inflated (a gzip bomb cannot grow past the limit).
    bomb = gzip.compress(b" " * (16 << 20))
    assert status_of(b"Content-Encoding: gzip\r\nContent-Length: " + str(len(bomb)).encode() + b"\r\n", bomb) == 415
    assert status_of(b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
                     b"%x\r\n%s\r\n0\r\n\r\n" % (len(bomb), bomb)) == 415
    assert srv.alive()
    assert srv.request("GET", "/v1/models/mlp")[0] == 200


def test_pipelined_requests_are_answered_in_order(start_server, fixture_dir, mlp):
    x, expected = mlp
    srv = start_server(fixture_dir / "mlp.dpl")
    reqs = []
    for i in range(len(x)):
        b = predict_bytes([x[i].tolist()])
        reqs.append(b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(b)).encode() + b"\r\n\r\n" + b)
    reqs.append(b"GET /v1/models/mlp HTTP/1.1\r\nHost: x\r\n\r\n")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"".join(reqs))  # all at once, before reading any answer
        f = s.makefile("rb")
        for i in range(len(x)):
            status, _, payload = read_response(f)
            assert status == 200
            np.testing.assert_allclose(json.loads(payload)["predictions"], expected[i:i + 1], rtol=1e-5, atol=1e-6)
        status, _, payload = read_response(f)
        assert status == 200 and "model_version_status" in json.loads(payload)


def test_bodies_without_json_content_type_are_json(start_server, fixture_dir, mlp):
    # TF Serving's documented usage is `curl -d '{"instances": ...}'`, which sends
    # application/x-www-form-urlencoded (and Expect: 100-continue for big bodies).
    x, expected = mlp
    srv = start_server(fixture_dir / "mlp.dpl")
    rows = np.repeat(x, 60, axis=0)  # well over 8 KiB of JSON
    body = predict_bytes(rows.tolist())
    assert len(body) > 8192
    for headers in ({"Content-Type": "application/x-www-form-urlencoded"}, {},
                    {"Content-Type": "text/plain", "Expect": "100-continue"}):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.request("POST", PREDICT, body=body, headers=headers)
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        np.testing.assert_allclose(json.loads(resp.read())["predictions"], np.repeat(expected, 60, axis=0),
                                   rtol=1e-5, atol=1e-6)
        conn.close()


def test_nan_and_infinity_literals(start_server, fixture_dir, tmp_path):
    # The oracle: doppel-run on the same values read from a .npy file (no JSON on that path).
    x = np.array([[np.nan, 1, 2, 3], [np.inf, -np.inf, 0, 1], [0.5, -1, 2, 1e-3]], dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    r = subprocess.run([serve_binary("doppel-run"), str(fixture_dir / "mlp.dpl"), "--input", str(tmp_path / "x.npy"),
                        "--output", str(tmp_path / "y.npy")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    srv = start_server(fixture_dir / "mlp.dpl")
    status, out = srv.request(
        "POST", PREDICT, raw=b'{"instances": [[NaN, 1, 2, 3], [Infinity, -Infinity, 0, 1], [0.5, -1, 2, 1e-3]]}')
    assert status == 200, out
    np.testing.assert_allclose(np.array(out["predictions"], dtype=np.float32), np.load(tmp_path / "y.npy"),
                               rtol=1e-6, atol=1e-6, equal_nan=True)


def test_too_many_connections_get_503(start_server, fixture_dir):
    srv = start_server(fixture_dir / "mlp.dpl", "--max-connections", "4")
    held = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(4)]
    try:
        time.sleep(0.2)
        assert raw_exchange(srv.port, b"GET /v1/models/mlp HTTP/1.1\r\nHost: x\r\n\r\n") == 503
    finally:
        for s in held:
            s.close()
    time.sleep(0.2)
    assert srv.request("GET", "/v1/models/mlp")[0] == 200


def test_model_file_truncated_overwritten_or_removed_while_serving(start_server, fixture_dir, mlp, tmp_path):
    x, expected = mlp
    model = tmp_path / "mlp.dpl"
    shutil.copy(fixture_dir / "mlp.dpl", model)
    srv = start_server(model, "--model-name", "mlp")
    body = predict_bytes(x.tolist())

    def answers():
        status, out = srv.request("POST", PREDICT, raw=body)
        assert status == 200, out
        return np.array(out["predictions"], dtype=np.float32)

    np.testing.assert_allclose(answers(), expected, rtol=1e-5, atol=1e-6)
    with open(model, "r+b") as f:  # truncated in place
        f.truncate(64)
    np.testing.assert_allclose(answers(), expected, rtol=1e-5, atol=1e-6)
    data = (fixture_dir / "mlp.dpl").read_bytes()
    with open(model, "r+b") as f:  # overwritten in place with other weights
        f.write(bytes(b ^ 0x5A for b in data))
    np.testing.assert_allclose(answers(), expected, rtol=1e-5, atol=1e-6)
    model.unlink()
    np.testing.assert_allclose(answers(), expected, rtol=1e-5, atol=1e-6)
    assert srv.alive()
