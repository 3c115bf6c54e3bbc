"""doppel-serve's dynamic batching and its Prometheus metrics (/metrics), over loopback.

Batched answers must equal the eager model's outputs (fixture_dir's oracle) and the answers of
an unbatched server; /metrics must show that batches of more than one request ran.
"""
import http.client
import json
import re
import socket
import threading

import numpy as np

PREDICT = "/v1/models/mlp:predict"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')


def parse_prometheus(text):
    """{(name, frozenset(labels)): value}; checks the text format line by line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def concurrent_predictions(port, rows, clients=32):
    """Every row of `rows` predicted by its own request, `clients` requests in flight at once."""
    out = [None] * len(rows)
    errors = []

    def client(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(k, len(rows), clients):
            conn.request("POST", PREDICT, body=json.dumps({"instances": [rows[i].tolist()]}))
            resp = conn.getresponse()
            body = json.loads(resp.read())
            if resp.status != 200:
                errors.append(body)
                continue
            out[i] = body["predictions"][0]
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return np.array(out, dtype=np.float32)


def test_batched_answers_equal_unbatched_ones(start_server, fixture_dir):
    x = np.load(fixture_dir / "x.npy")
    expected = np.load(fixture_dir / "expected.npy")
    rows = np.random.default_rng(3).standard_normal((256, 4)).astype(np.float32)
    rows[:len(x)] = x
    batched = start_server(fixture_dir / "mlp.dpl", "--enable-batching", "--max-batch-size", "16",
                           "--batch-timeout-micros", "20000")
    assert any("batching on" in line for line in batched.banner)
    plain = start_server(fixture_dir / "mlp.dpl")
    got = concurrent_predictions(batched.port, rows)
    np.testing.assert_allclose(got[:len(x)], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got, concurrent_predictions(plain.port, rows), rtol=1e-5, atol=1e-6)
    # A request of several rows is batched too (rows, not requests, count toward the size).
    status, body = batched.request("POST", PREDICT, {"instances": x.tolist()})
    assert status == 200
    np.testing.assert_allclose(body["predictions"], expected, rtol=1e-5, atol=1e-6)

    status, text = batched.request("GET", "/metrics")
    assert status == 200
    s = parse_prometheus(text)
    runs = metric(s, "doppel_serve_batch_size_count")
    merged = metric(s, "doppel_serve_batch_size_sum")
    assert merged == len(rows) + 1  # every predict request went through the batcher
    assert runs < merged  # so some runs merged several requests
    assert metric(s, "doppel_serve_batch_size_bucket", le="1") < runs  # batches > 1 happened
    assert metric(s, "doppel_serve_batch_size_bucket", le="+Inf") == runs
    assert metric(s, "doppel_serve_batch_size_bucket", le="16") == runs  # never over --max-batch-size


def test_metrics_count_requests_latencies_and_errors(start_server, fixture_dir):
    x = np.load(fixture_dir / "x.npy")
    srv = start_server(fixture_dir / "mlp.dpl")
    for _ in range(3):
        assert srv.request("POST", PREDICT, {"instances": x.tolist()})[0] == 200
    assert srv.request("POST", PREDICT, raw=b"{nope")[0] == 400
    assert srv.request("GET", "/v1/models/mlp/metadata")[0] == 200
    assert srv.request("GET", "/v1/models/nope")[0] == 404
    status, text = srv.request("GET", "/metrics")
    assert status == 200
    s = parse_prometheus(text)
    assert metric(s, "doppel_serve_requests_total", route="v1_predict", code="200") == 3
    assert metric(s, "doppel_serve_requests_total", route="v1_predict", code="400") == 1
    assert metric(s, "doppel_serve_requests_total", route="v1_metadata", code="200") == 1
    assert metric(s, "doppel_serve_requests_total", route="v1_status", code="404") == 1
    assert metric(s, "doppel_serve_errors_total", kind="client_error") == 2
    # Latency histograms: cumulative buckets, +Inf == count, a positive sum.
    le = ["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
          "10", "+Inf"]
    buckets = [metric(s, "doppel_serve_request_duration_seconds_bucket", route="v1_predict", le=b) for b in le]
    assert buckets == sorted(buckets) and buckets[-1] == 4
    assert metric(s, "doppel_serve_request_duration_seconds_count", route="v1_predict") == 4
    assert metric(s, "doppel_serve_request_duration_seconds_sum", route="v1_predict") > 0
    assert metric(s, "doppel_serve_open_connections") >= 1  # this request's own
    # Transport errors are counted by kind.
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as c:
        c.sendall(b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nContent-Length: -1\r\n\r\n")
        assert c.recv(100).startswith(b"HTTP/1.1 400")
    s = parse_prometheus(srv.request("GET", "/metrics")[1])
    assert metric(s, "doppel_serve_errors_total", kind="malformed_request") == 1
