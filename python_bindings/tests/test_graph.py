# Graph capture from Python: a Python-defined module compiled and traced equals eager, a whole
# training step compiled equals the eager step, dynamic batch, TraceError on value reads, and
# export + the standalone runtime.
import re

import numpy as np
import pytest

import doppel
from doppel import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.fc2 = nn.Linear(16, 4)
        self.gain = nn.Parameter(doppel.full((4,), 0.5))

    def forward(self, x):
        h = doppel.gelu(self.fc1(x))
        return self.fc2(h) * self.gain + x[:, :4]


def test_compiled_python_module_equals_eager():
    doppel.manual_seed(0)
    m = Block()
    f = doppel.compile(m, dynamic=True)
    for batch in (8, 8, 3, 8):
        x = doppel.randn(batch, 6)
        np.testing.assert_allclose(np.asarray(f(x).detach()), np.asarray(m(x).detach()), rtol=1e-5, atol=1e-6)
    assert f.num_traces == 1  # one symbolic-batch graph serves every batch size
    text = str(f.graph(doppel.randn(8, 6)))
    assert "state %fc1.weight" in text and "state %gain" in text and "batch" in text


def test_trace_records_the_python_function():
    m = Block()
    x = doppel.randn(2, 6)
    r = doppel.trace(m, x)
    assert r.graph.num_inputs == 1 and r.graph.num_state == 5
    assert {"linear", "gelu", "mul", "add"} <= set(r.graph.op_names())
    np.testing.assert_allclose(np.asarray(r.outputs[0].detach()), np.asarray(m(x).detach()), rtol=1e-6)


def test_trace_of_a_matrix_is_its_diagonal_sum_not_capture():
    # torch.trace(matrix) ports unchanged; a function first still captures a graph.
    m = doppel.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    t = doppel.trace(m)
    assert float(t) == 0.0 + 5.0 + 10.0
    t.backward()
    np.testing.assert_array_equal(np.asarray(m.grad), np.eye(3, 4))
    with pytest.raises(TypeError, match="takes one tensor"):
        doppel.trace(m, m)
    r = doppel.trace(lambda x: doppel.trace(x) * 2, m.detach())
    assert float(r.outputs[0]) == 30.0 and "mul" in r.graph.op_names()


def make_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def test_compiled_training_step_equals_eager():
    doppel.manual_seed(1)
    eager_model, graph_model = Block(), Block()
    graph_model.load_state_dict(eager_model.state_dict())
    eager_step = make_step(eager_model, doppel.optim.Adam(eager_model.parameters(), lr=0.01))
    graph_step = doppel.compile(make_step(graph_model, doppel.optim.Adam(graph_model.parameters(), lr=0.01)),
                                state=graph_model)
    for i in range(4):
        x = doppel.randn(16, 6)
        y = doppel.randint(0, 4, (16,))
        le, lg = eager_step(x, y).item(), graph_step(x, y).item()
        assert lg == pytest.approx(le, rel=1e-4), f"step {i}"
    assert graph_step.num_graph_runs >= 2
    for (n, a), (_, b) in zip(eager_model.named_parameters(), graph_model.named_parameters()):
        np.testing.assert_allclose(np.asarray(b.detach()), np.asarray(a.detach()), rtol=1e-4, atol=1e-6, err_msg=n)


@pytest.mark.parametrize("fused", [False, True])
def test_compiled_step_with_gradients_in_graph_and_fused_optimizer(fused):
    doppel.manual_seed(2)
    eager_model, graph_model = Block(), Block()
    graph_model.load_state_dict(eager_model.state_dict())
    eager_step = make_step(eager_model, doppel.optim.SGD(eager_model.parameters(), lr=0.05, momentum=0.9))
    graph_opt = doppel.optim.SGD(graph_model.parameters(), lr=0.05, momentum=0.9, fused=fused)
    graph_step = doppel.compile(make_step(graph_model, graph_opt), state=graph_model, grads="in_graph")
    for i in range(6):
        x = doppel.randn(16, 6)
        y = doppel.randint(0, 4, (16,))
        le, lg = eager_step(x, y).item(), graph_step(x, y).item()
        assert lg == pytest.approx(le, rel=1e-4), f"step {i}"
    assert graph_step.num_graph_runs == 4
    for (n, a), (_, b) in zip(eager_model.named_parameters(), graph_model.named_parameters()):
        np.testing.assert_allclose(np.asarray(b.detach()), np.asarray(a.detach()), rtol=1e-4, atol=1e-6, err_msg=n)
        assert b.grad is None, n  # the gradients stayed inside the graph
    with pytest.raises(ValueError, match="'persistent' or 'in_graph'"):
        doppel.compile(make_step(graph_model, graph_opt), grads="nowhere")(x, y)


@pytest.mark.parametrize("grads", ["persistent", "in_graph"])
def test_memory_report_of_a_compiled_training_step(grads):
    doppel.manual_seed(3)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 4))  # 70,672 bytes of parameters
    step = doppel.compile(make_step(model, doppel.optim.Adam(model.parameters(), lr=0.01)), state=model, grads=grads)
    x, y = doppel.randn(16, 64), doppel.randint(0, 4, (16,))
    with pytest.raises(ValueError, match="nothing has been traced yet"):
        step.memory_report(x, y)
    for _ in range(3):
        step(x, y)
    report = step.memory_report(x, y)
    mib = lambda part: float(re.search(part + r" ([0-9.]+) MiB", report).group(1))
    param_bytes = sum(p.numel() * 4 for p in model.parameters())
    # Parameters, two Adam moments each and the step counters; .grad only when persistent. The
    # report prints MiB to 3 decimals.
    assert mib("state") * 2**20 >= 3 * param_bytes - 0.0005 * 2**20
    assert mib(r"gradients kept for \.grad\(\)") * 2**20 == pytest.approx(param_bytes if grads == "persistent" else 0,
                                                                       abs=0.001 * 2**20)
    assert mib("arena") >= mib("the most alive at one step:") > 0
    assert "steps" in report.splitlines()[1]  # the buffers alive at the fullest step, one a line
    with pytest.raises(ValueError, match="no graph was traced for inputs of these shapes"):
        step.memory_report(doppel.randn(5, 64), doppel.randint(0, 4, (5,)))


@pytest.mark.parametrize("read", ["item", "numpy", "float", "bool", "array", "tolist"])
def test_reading_a_traced_tensor_raises_trace_error(read):
    readers = {
        "item": lambda t: t.sum().item(),
        "numpy": lambda t: t.detach().numpy(),
        "float": lambda t: float(t.sum()),
        "bool": lambda t: bool(t.sum() > 0),
        "array": lambda t: np.asarray(t),
        "tolist": lambda t: t.tolist(),
    }

    def fn(x):
        readers[read](x)
        return x * 2

    with pytest.raises(doppel.TraceError) as info:
        doppel.trace(fn, doppel.ones(3))
    assert isinstance(info.value, RuntimeError)
    assert "test_graph.py" in str(info.value)  # names the Python line that read the value


def test_compile_rejects_non_tensor_outputs():
    with pytest.raises(TypeError, match="must return a Tensor"):
        doppel.trace(lambda x: 3, doppel.ones(2))


def test_export_and_runtime(tmp_path):
    doppel.manual_seed(2)
    m = Block()
    path = tmp_path / "block.dpl"
    doppel.export(m, [doppel.randn(4, 6)], path, dynamic=True, metadata={"task": "test"}, input_names=["x"],
                  output_names=["y"])
    model = doppel.runtime.load(path)
    sig = model.signature
    assert sig["inputs"][0]["name"] == "x" and sig["inputs"][0]["shape"] == ("batch", 6)
    assert sig["outputs"][0]["dtype"] == doppel.float32
    assert model.metadata["user"]["task"] == "test"
    x = doppel.randn(5, 6)
    (y,) = model.run(x)
    with doppel.no_grad():
        np.testing.assert_allclose(np.asarray(y), np.asarray(m(x)), rtol=1e-5, atol=1e-6)
    assert set(model.weights()) >= {"fc1.weight", "gain"}
    with pytest.raises(ValueError):
        model.run(doppel.randn(5, 7))
    bad = tmp_path / "bad.dpl"
    bad.write_bytes(path.read_bytes()[:100])
    with pytest.raises(doppel.FormatError):
        doppel.runtime.load(bad)


def test_graph_nodes_name_the_python_lines():
    import inspect

    lin = nn.Linear(3, 2)

    def f(x):
        h = lin(x)  # through the C++ module wrapper: still this line
        return (h * 2).relu().sum(1)

    first = inspect.getsourcelines(f)[1]
    sites = doppel.trace(f, doppel.randn(4, 3)).graph.call_sites()
    here = __file__.replace(".pyc", ".py")
    assert sites == [("linear", f"{here}:{first + 1}"), ("mul", f"{here}:{first + 2}"),
                     ("relu", f"{here}:{first + 2}"), ("sum", f"{here}:{first + 2}")]


def test_compiled_step_updates_batch_norm_buffers_like_eager():
    def make():
        doppel.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                             nn.Linear(4 * 6 * 6, 3))

    a, b = make(), make()
    eager = make_step(a, doppel.optim.SGD(a.parameters(), lr=0.1))
    graph = doppel.compile(make_step(b, doppel.optim.SGD(b.parameters(), lr=0.1)), state=b)
    for _ in range(4):
        x, y = doppel.randn(5, 1, 6, 6), doppel.randint(0, 3, (5,))
        assert graph(x, y).item() == pytest.approx(eager(x, y).item(), rel=1e-5)
    assert graph.num_graph_runs == 2
    for (n, u), (_, v) in zip(a.named_buffers(), b.named_buffers()):
        np.testing.assert_allclose(np.asarray(v), np.asarray(u), rtol=1e-5, atol=1e-6, err_msg=n)


def _equal_to_eager_every_call(fn, calls):
    compiled = doppel.compile(fn)
    for i, args in enumerate(calls):
        np.testing.assert_allclose(np.asarray(compiled(*args)), np.asarray(fn(*args)), rtol=1e-6, atol=1e-6,
                                   err_msg=f"call {i}")
    assert compiled.num_traces == 1 and compiled.num_graph_runs == len(calls) - 2
    return compiled


@pytest.mark.parametrize("alias", ["detach", "data", "detach_of_view"])
def test_compiled_alias_of_an_input_follows_the_input(alias):
    # Issue 12 item 1: an alias of an input made outside dispatch was captured as state,
    # freezing the first trace's values.
    take = {
        "detach": lambda w: w.detach(),
        "data": lambda w: w.data,
        "detach_of_view": lambda w: w.t().detach().t(),
    }[alias]
    calls = [(doppel.randn(3, 4), doppel.randn(3, 4)) for _ in range(5)]
    compiled = _equal_to_eager_every_call(lambda x, w: x * take(w), calls)
    text = str(compiled.graph(*calls[0]))
    assert "state" not in text, text


def test_compiled_training_step_with_detached_targets_equals_eager():
    def make():
        doppel.manual_seed(3)
        m = nn.Linear(4, 2)
        return m, doppel.optim.SGD(m.parameters(), lr=0.1)

    def make_step(m, opt):
        def step(x, t):
            opt.zero_grad()
            loss = nn.functional.mse_loss(m(x), t.detach())
            loss.backward()
            opt.step()
            return loss

        return step

    (em, eopt), (gm, gopt) = make(), make()
    eager_step, graph_step = make_step(em, eopt), doppel.compile(make_step(gm, gopt), state=gm)
    for i in range(6):
        x, t = doppel.randn(5, 4), doppel.randn(5, 2) * float(i + 1)
        assert graph_step(x, t).item() == pytest.approx(eager_step(x, t).item(), rel=1e-5), f"step {i}"
    assert graph_step.num_graph_runs == 4
    np.testing.assert_allclose(np.asarray(gm.weight.detach()), np.asarray(em.weight.detach()), rtol=1e-5, atol=1e-6)


def test_compiled_reshape_of_strided_inputs_equals_eager_for_alternating_layouts():
    # Issue 12 item 8: a trace on a transposed input recorded a view valid only for its strides.
    def layouts(seed):
        doppel.manual_seed(seed)
        return [doppel.randn(6, 4).t(), doppel.randn(4, 6), doppel.randn(4, 12)[:, ::2], doppel.randn(1, 6).expand(4, 6)]

    # The first call runs eagerly and the second traces: both transposed, then the layouts alternate.
    calls = [(doppel.randn(6, 4).t(),)] + [(x,) for seed in range(3) for x in layouts(seed)]
    _equal_to_eager_every_call(lambda x: x.t().reshape(-1) * 2, calls)


def test_compiled_in_place_update_through_data_of_a_parameter_equals_eager():
    # p.data aliases the parameter: a write through it is the parameter's update, and reads of
    # the parameter after it see the written value, at every replay.
    def make():
        doppel.manual_seed(4)
        return nn.Linear(3, 2)

    def make_fn(m):
        def f(x):
            before = m(x)
            m.weight.data.mul_(0.5)
            return before + m(x)

        return f

    em, gm = make(), make()
    eager_fn, graph_fn = make_fn(em), doppel.compile(make_fn(gm), state=gm)
    for i in range(5):
        x = doppel.randn(4, 3)
        with doppel.no_grad():
            np.testing.assert_allclose(np.asarray(graph_fn(x)), np.asarray(eager_fn(x)), rtol=1e-6, atol=1e-7,
                                       err_msg=f"call {i}")
    assert graph_fn.num_graph_runs == 3
    np.testing.assert_allclose(np.asarray(gm.weight.detach()), np.asarray(em.weight.detach()), rtol=1e-6)


@pytest.mark.parametrize("warmup", [True, False])
def test_compiled_static_input_read_on_the_host_replays(warmup):
    # The graph takes only the non-static inputs: replays must not hand it the static one.
    def fn(k, x):
        a, b = k.tolist()
        return x * a + b

    f = doppel.compile(fn, static_inputs=(0,), warmup=warmup)
    k = doppel.tensor([2.0, -1.0])
    for call in range(5):
        x = doppel.tensor([float(call), 0.5, -3.0])
        assert f(k, x).tolist() == [2.0 * call - 1.0, 0.0, -7.0], f"call {call}"
    assert f.num_traces == 1 and f.num_graph_runs == (3 if warmup else 4)


@pytest.mark.parametrize("sizes,batch", [((8, 16, 4), 16), ((20, 32, 5), 16), ((100, 64, 10), 32)])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_compiled_linear_relu_linear_sgd_step_is_bit_identical_to_eager(sizes, batch, momentum):
    # The passes fuse linear + relu; the fused kernel must round like eager's linear then relu on
    # both sides of the size where eager's linear is a direct loop (4096 multiply-adds).
    def build():
        doppel.manual_seed(3)
        return nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(), nn.Linear(sizes[1], sizes[2]))

    def step_of(model):
        return make_step(model, doppel.optim.SGD(model.parameters(), lr=0.01, momentum=momentum))

    eager_model, graph_model = build(), build()
    eager_step, graph_step = step_of(eager_model), doppel.compile(step_of(graph_model), state=graph_model)
    rng = np.random.default_rng(0)
    for i in range(5):
        x = doppel.tensor(rng.standard_normal((batch, sizes[0])).astype(np.float32))
        y = doppel.tensor(rng.integers(0, sizes[2], batch))
        assert graph_step(x, y).item() == eager_step(x, y).item(), f"step {i}"
        for (n, a), (_, b) in zip(eager_model.named_parameters(), graph_model.named_parameters()):
            np.testing.assert_array_equal(np.asarray(b.detach()), np.asarray(a.detach()), err_msg=f"step {i} {n}")
    assert graph_step.num_graph_runs == 3
    assert "fused_linear" in graph_step.graph(x, y).op_names()


def test_compiled_backward_accumulates_into_grad_like_eager():
    # No zero_grad in the step: backward adds into .grad; the optimizer steps and zeroes outside
    # every second call (set_to_none, then in place).
    def build():
        doppel.manual_seed(4)
        return nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 3))

    def step_of(model):
        def step(x, y):
            nn.functional.cross_entropy(model(x), y).backward()
            return x.sum()
        return step

    for set_to_none in (True, False):
        em, gm = build(), build()
        eo, go = doppel.optim.SGD(em.parameters(), lr=0.1), doppel.optim.SGD(gm.parameters(), lr=0.1)
        eager_step, graph_step = step_of(em), doppel.compile(step_of(gm), state=gm)
        rng = np.random.default_rng(1)
        for call in range(6):
            x = doppel.tensor(rng.standard_normal((5, 6)).astype(np.float32))
            y = doppel.tensor(rng.integers(0, 3, 5))
            eager_step(x, y)
            graph_step(x, y)
            if call % 2 == 1:
                for o in (eo, go):
                    o.step()
                    o.zero_grad(set_to_none=set_to_none)
            for (n, a), (_, b) in zip(em.named_parameters(), gm.named_parameters()):
                np.testing.assert_allclose(np.asarray(b.detach()), np.asarray(a.detach()), rtol=1e-6, atol=1e-7,
                                           err_msg=f"call {call} {n}")
                assert (b.grad is None) == (a.grad is None), f"call {call} {n}"
                if a.grad is not None:
                    np.testing.assert_allclose(np.asarray(b.grad), np.asarray(a.grad), rtol=1e-6, atol=1e-7,
                                               err_msg=f"call {call} {n}.grad")


@pytest.mark.parametrize("hidden,classes,batch", [(16, 4, 16), (16, 4, 4), (8, 8, 8)])
def test_compiled_dynamic_batch_traced_at_a_layer_size_trains_like_eager(hidden, classes, batch):
    # linear's backward views its input as [-1, features]: at batch == features the features
    # must stay static, not become the batch.
    def build():
        doppel.manual_seed(5)
        return nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def step_of(model):
        return make_step(model, doppel.optim.SGD(model.parameters(), lr=0.1))

    em, gm = build(), build()
    eager_step, graph_step = step_of(em), doppel.compile(step_of(gm), state=gm, dynamic=True)
    rng = np.random.default_rng(2)
    for b in (batch, batch, batch, 7, batch + 3, batch):
        x = doppel.tensor(rng.standard_normal((b, 8)).astype(np.float32))
        y = doppel.tensor(rng.integers(0, classes, b))
        assert graph_step(x, y).item() == pytest.approx(eager_step(x, y).item(), rel=1e-5), f"batch {b}"
    assert graph_step.num_traces == 1
    for (n, a), (_, b) in zip(em.named_parameters(), gm.named_parameters()):
        np.testing.assert_allclose(np.asarray(b.detach()), np.asarray(a.detach()), rtol=1e-5, atol=1e-6, err_msg=n)
