"""doppel.profiler: events of eager ops and compiled graphs, nested record_function ranges (context
manager and decorator), the Chrome trace parsed back with json, the table, the TensorBoard file."""
import json
import socket

import numpy as np
import pytest

import doppel
import doppel.nn as nn
from doppel.profiler import profile, record_function, tensorboard_trace_handler


def test_eager_ops_recorded_with_shapes_and_flops():
    a = doppel.from_numpy(np.ones((8, 16), np.float32))
    b = doppel.from_numpy(np.ones((16, 4), np.float32))
    with profile() as prof:
        doppel.matmul(a, b)
    (ev,) = [e for e in prof.events() if e["name"] == "matmul"]
    assert ev["input_shapes"] == [[8, 16], [16, 4]]
    assert ev["input_dtypes"] == ["float32", "float32"]
    assert ev["flops"] == 2 * 8 * 4 * 16
    assert ev["end_ns"] >= ev["start_ns"]
    assert ev["kind"] == "cpu_op"
    assert not doppel.profiler._P.enabled()


def test_record_function_nests_as_context_and_decorator():
    x = doppel.from_numpy(np.ones(4, np.float32))

    @record_function("decorated")
    def f(t):
        return t + t

    with profile() as prof:
        with record_function("outer"):
            f(x)
    ev = prof.events()
    names = [e["name"] for e in ev]
    outer, dec, add = names.index("outer"), names.index("decorated"), names.index("add")
    assert ev[outer]["parent"] == -1
    assert ev[dec]["parent"] == outer
    assert ev[add]["parent"] == dec


def test_chrome_trace_of_a_training_step_parses(tmp_path):
    doppel.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    opt = doppel.optim.SGD(model.parameters(), lr=0.1)
    x = doppel.from_numpy(np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32))
    y = doppel.from_numpy(np.array([1, 2, 3, 4], np.int64))

    def step(x, y):  # forward, then zero_grad, backward and SGD
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        return opt.step() or loss

    compiled = doppel.compile(step)
    compiled(x, y)
    compiled(x, y)
    with profile() as prof:
        step(x, y)
        compiled(x, y)
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(path)
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    assert len(events) == len(prof.events())
    assert all(e["ph"] == "X" and e["dur"] >= 0 for e in events)
    cats = {e["cat"] for e in events}
    assert {"cpu_op", "graph_node", "backward"} <= cats
    assert any(e["name"] == "convolution" and e["args"]["FLOPs"] > 0 for e in events)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=5)
    assert "Self CPU %" in table and "# of Calls" in table
    assert len(table.strip().splitlines()) == 5 + 5  # 3 rules, header, 5 rows, total


def test_tensorboard_trace_handler_writes_where_the_plugin_looks(tmp_path):
    x = doppel.from_numpy(np.ones(4, np.float32))
    with profile(on_trace_ready=tensorboard_trace_handler(tmp_path, "run1")):
        x * x
    path = tmp_path / "plugins" / "profile" / "run1" / f"{socket.gethostname()}.pt.trace.json"
    assert json.loads(path.read_text())["traceEvents"][0]["name"] == "mul"


def test_one_profile_at_a_time():
    with profile():
        with pytest.raises(doppel.ValueError):
            profile().start()


def test_key_averages_rows_count_calls():
    x = doppel.from_numpy(np.ones(4, np.float32))
    with profile() as prof:
        for _ in range(3):
            x + x
        x * x
    rows = {r.key: r for r in prof.key_averages()}
    assert rows["add"].count == 3 and rows["mul"].count == 1
    assert rows["add"].self_cpu_time_total == pytest.approx(rows["add"].cpu_time_total)  # nothing nested
    assert prof.key_averages().self_cpu_time_total == pytest.approx(
        sum(r.self_cpu_time_total for r in prof.key_averages()))
