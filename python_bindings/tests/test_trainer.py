# doppel.Trainer from Python: the same parameters as the hand-written loop, bit-identical resume,
# accumulation equal to a doubled batch, early stopping and best-k checkpoints on a scripted
# metric, Adadelta against PyTorch's formulas in numpy float64.
import importlib.util
import io
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import doppel
from doppel import nn
from doppel.trainer import Accuracy, Callback, EarlyStopping, ModelCheckpoint, TopKAccuracy
from doppel.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 20)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(20, 3)

    def forward(self, x):
        return self.fc2(self.drop(doppel.relu(self.fc1(x))))


def synthetic(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    w = rng.standard_normal((6, 3)).astype(np.float32)
    return TensorDataset(doppel.from_numpy(x), doppel.from_numpy((x @ w).argmax(1).astype(np.int64)))


def state(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def linear_model(seed, optimizer, **options):
    """A Linear(6, 3) initialized from `seed` and its optimizer."""
    doppel.manual_seed(seed)
    model = nn.Linear(6, 3)
    return model, optimizer(model.parameters(), **options)


def make(seed):
    doppel.seed_everything(seed)
    model = Net()
    opt = doppel.optim.Adam(model.parameters(), lr=0.01)
    return model, opt, doppel.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)


@pytest.mark.parametrize("compiled", [True, False])
def test_trainer_matches_hand_loop(compiled):
    data = synthetic(200, 0)
    model, opt, sched = make(3)
    for epoch in range(3):
        for x, y in _epoch(data, epoch):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        sched.step()
    hand = state(model)
    model, opt, sched = make(3)
    t = doppel.Trainer(optimizer=opt, scheduler=sched, metrics=[Accuracy(), TopKAccuracy(2)], compile=compiled)
    t.fit(model, DataLoader(data, batch_size=32, shuffle=True, seed=1), DataLoader(data, batch_size=100), 3)
    assert same(state(model), hand)
    assert len(t.history) == 3 and t.history[2]["val_accuracy"] > 0.8
    assert t.history[2]["val_top2_accuracy"] >= t.history[2]["val_accuracy"]
    assert t.global_step == 3 * 7


def _epoch(data, epoch):
    loader = DataLoader(data, batch_size=32, shuffle=True, seed=1)
    loader.epoch = epoch
    return loader


class StopAt(Callback):
    def __init__(self, epoch, batch, path):
        self.epoch, self.batch, self.path = epoch, batch, path

    def on_train_batch_end(self, trainer, batch, index):
        if trainer.current_epoch == self.epoch and index == self.batch:
            trainer.save_checkpoint(self.path)
            trainer.should_stop = True


@pytest.mark.parametrize("compiled", [True, False])
def test_resume_is_bit_identical(tmp_path, compiled):
    data = synthetic(160, 1)

    def run(seed, epochs, callbacks=(), ckpt=None):
        model, opt, sched = make(seed)
        t = doppel.Trainer(optimizer=opt, scheduler=sched, callbacks=list(callbacks), compile=compiled,
                           accumulate_grad_batches=2)
        t.fit(model, DataLoader(data, batch_size=16, shuffle=True, seed=4), None, epochs, ckpt_path=ckpt)
        return state(model)

    full = run(3, 3)
    ck = ModelCheckpoint(tmp_path, save_top_k=0, save_last=True)
    assert not same(run(3, 2, [ck]), full)
    assert same(run(99, 3, ckpt=str(tmp_path / "last.ckpt")), full)
    run(3, 3, [StopAt(1, 5, str(tmp_path / "mid.ckpt"))])
    assert same(run(42, 3, ckpt=str(tmp_path / "mid.ckpt")), full)


@pytest.mark.parametrize("compiled", [True, False])
def test_accumulation_equals_double_batch(compiled):
    data = synthetic(64, 2)
    params = []
    for acc in (1, 2):
        model, opt = linear_model(0, doppel.optim.SGD, lr=0.5, momentum=0.9)
        doppel.Trainer(optimizer=opt, compile=compiled, accumulate_grad_batches=acc).fit(
            model, DataLoader(data, batch_size=16 // acc), None, 2)
        params.append(state(model))
    for k in params[0]:
        np.testing.assert_allclose(params[1][k], params[0][k], rtol=1e-5, atol=1e-6)


class Script(Callback):
    def __init__(self, values):
        self.values = values

    def on_train_epoch_end(self, trainer):
        trainer.log({"score": self.values[trainer.current_epoch]})


def test_early_stopping_and_best_k(tmp_path):
    data = synthetic(32, 3)
    model, opt = linear_model(0, doppel.optim.SGD, lr=0.1)
    stop = EarlyStopping("score", patience=3)
    ck = ModelCheckpoint(tmp_path, filename="e{epoch}-{score:.4f}", monitor="score", save_top_k=2, save_last=True)
    t = doppel.Trainer(optimizer=opt, callbacks=[ck, Script([5, 3, 4, 2, 2.5, 2.2, 6, 1, 0]), stop], compile=False)
    t.fit(model, DataLoader(data, batch_size=16), None, 9)
    assert stop.stopped_epoch == 6 and stop.best_score == 2.0 and len(t.history) == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e3-2.0000.ckpt", "e5-2.2000.ckpt", "last.ckpt"]
    assert ck.best_model_path == str(tmp_path / "e3-2.0000.ckpt") and ck.best_model_score == 2.0
    # Resumed from the epoch-3 file, EarlyStopping's state continues: it stops after epoch 6 again;
    # a ModelCheckpoint resumed from it knows the files kept then (e1's was deleted later: dropping
    # it again is not an error).
    stop2 = EarlyStopping("score", patience=3)
    ck2 = ModelCheckpoint(tmp_path / "again", monitor="score", save_top_k=2)
    again = doppel.Trainer(optimizer=opt, callbacks=[Script([5, 3, 4, 2, 2.5, 2.2, 6, 1, 0]), stop2, ck2],
                           compile=False)
    ck2.on_load_checkpoint(again, {"metadata": doppel.load(ck.best_model_path, with_metadata=True)[1]})
    assert [p for p, _ in ck2.best_k_models] == [str(tmp_path / "e3-2.0000.ckpt"), str(tmp_path / "e1-3.0000.ckpt")]
    again.fit(model, DataLoader(data, batch_size=16), None, 9, ckpt_path=ck.best_model_path)
    assert stop2.stopped_epoch == 6 and len(again.history) == 3
    with pytest.raises(doppel.ValueError, match="'nope' was not logged"):
        doppel.Trainer(optimizer=opt, callbacks=[EarlyStopping("nope")]).fit(model, DataLoader(data, batch_size=16))


def test_adadelta_matches_pytorch_formulas():
    p0 = np.array([0.5, -1.25, 2.0], np.float64)
    p = doppel.from_numpy(p0.copy()).requires_grad_()
    opt = doppel.optim.Adadelta([p], lr=0.7, rho=0.8, eps=1e-3, weight_decay=0.1)
    ref, sq, acc = p0.copy(), np.zeros(3), np.zeros(3)
    for step in range(3):
        g = np.sin(1.1 * (step + 1) + np.arange(3)) * np.arange(1, 4)
        p.grad = doppel.from_numpy(g.copy())
        opt.step()
        d = g + 0.1 * ref
        sq = 0.8 * sq + 0.2 * d * d
        delta = np.sqrt(acc + 1e-3) / np.sqrt(sq + 1e-3) * d
        acc = 0.8 * acc + 0.2 * delta * delta
        ref = ref - 0.7 * delta
        np.testing.assert_allclose(p.detach().numpy(), ref, rtol=1e-13)
    assert math.isclose(opt.state_dict()["state.0.step"].item(), 3.0)


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pytorch_mnist.py"


def _example_module():
    spec = importlib.util.spec_from_file_location("pytorch_mnist", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fashion_cnn():
    """examples/fashion_mnist_cnn.h in Python."""
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))


@pytest.mark.parametrize("compiled", [True, False])
def test_fashion_cnn_trainer_equals_hand_loop(compiled):
    mod = _example_module()
    train, test = mod.fashion_mnist(True, 256), mod.fashion_mnist(False, 300)

    def setup():
        doppel.seed_everything(5)
        model = fashion_cnn()
        opt = doppel.optim.Adam(model.parameters(), lr=2e-3)
        return model, opt, doppel.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=8)

    model, opt, sched = setup()
    for epoch in range(2):
        for x, y in _epoch_of(train, epoch, 64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            sched.step()
    hand = state(model)
    model.eval()
    with doppel.no_grad():
        hand_acc = sum(int((model(x).argmax(1) == y).sum()) for x, y in DataLoader(test, batch_size=100)) / 300
    assert hand_acc > 0.5

    model, opt, sched = setup()
    t = doppel.Trainer(optimizer=opt, scheduler=sched, scheduler_interval="step", metrics=[Accuracy()],
                       compile=compiled)
    t.fit(model, DataLoader(train, batch_size=64, shuffle=True, seed=9), None, 2)
    assert same(state(model), hand)
    assert t.test(model, DataLoader(test, batch_size=100))["test_accuracy"] == hand_acc
    if compiled:
        assert t.compiled_step.num_graph_runs > 0


def _epoch_of(data, epoch, batch):
    loader = DataLoader(data, batch_size=batch, shuffle=True, seed=9)
    loader.epoch = epoch
    return loader


def test_pytorch_mnist_example_runs():
    """The canonical PyTorch example with only the import and dataset lines replaced."""
    out = subprocess.run([sys.executable, str(EXAMPLE), "--epochs", "1", "--limit", "640", "--log-interval", "5"],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(Path(doppel.__file__).parents[1])))
    assert out.returncode == 0, out.stderr
    m = re.search(r"Accuracy: (\d+)/640", out.stdout)
    assert m and int(m.group(1)) > 0.4 * 640, out.stdout
    original = [ln for ln in EXAMPLE.read_text().splitlines() if "doppel" in ln and not ln.lstrip().startswith("#")]
    # The only lines naming doppel are the replaced imports.
    assert original == ["import doppel as torch", "import doppel.nn as nn", "import doppel.nn.functional as F",
                        "import doppel.optim as optim", "from doppel.optim.lr_scheduler import StepLR"]


class Recorder(Callback):
    def __init__(self):
        self.logs = []

    def on_log(self, trainer, values, step):
        self.logs.append((step, values))


@pytest.mark.parametrize("compiled", [True, False])
def test_lr_monitor_on_log_validate_predict(compiled):
    data = synthetic(48, 4)
    model, opt = linear_model(1, doppel.optim.SGD, lr=0.1)
    rec = Recorder()
    t = doppel.Trainer(optimizer=opt, scheduler=doppel.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
                       scheduler_interval="step", metrics=[Accuracy()], compile=compiled, log_every_n_steps=3,
                       callbacks=[rec, doppel.trainer.LearningRateMonitor("step")])
    t.fit(model, DataLoader(data, batch_size=16), DataLoader(data, batch_size=48), 2)
    assert [v["lr-SGD"] for _, v in rec.logs if "lr-SGD" in v] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert [s for s, v in rec.logs if "train_loss_step" in v] == [3, 6]
    v = t.validate(model, DataLoader(data, batch_size=10))
    assert v.keys() == {"val_loss", "val_accuracy"} and math.isclose(v["val_loss"], t.history[-1]["val_loss"],
                                                                      rel_tol=1e-6)
    out = t.predict(model, DataLoader(data, batch_size=20))
    assert [o.shape for o in out] == [(20, 3), (20, 3), (8, 3)]


def test_autocast_scope():
    lin = nn.Linear(4, 3)
    x = doppel.randn(2, 4)
    assert not doppel.is_autocast_enabled("cpu")
    with doppel.autocast("cpu"):
        assert doppel.is_autocast_enabled("cpu")
        y = lin(x)
        loss = nn.functional.cross_entropy(y, doppel.zeros(2, dtype=doppel.int64))
        with doppel.autocast("cpu", enabled=False):
            assert lin(x).dtype == doppel.float32
    assert not doppel.is_autocast_enabled("cpu")
    assert y.dtype == doppel.bfloat16 and loss.dtype == doppel.float32
    loss.backward()
    assert lin.weight.grad.dtype == doppel.float32
    # bfloat16 keeps 8 bits of mantissa: the product agrees with float32 to about 1%.
    ref = (x.numpy() @ lin.weight.detach().numpy().T + lin.bias.detach().numpy())
    np.testing.assert_allclose(y.float().detach().numpy(), ref, rtol=3e-2, atol=3e-2)


class DTypeProbe(Accuracy):
    seen = []

    def update(self, output, target):
        DTypeProbe.seen.append(output.dtype)
        super().update(output, target)


@pytest.mark.parametrize("compiled", [True, False])
def test_bf16_mixed_trainer(compiled):
    data = synthetic(256, 5)
    model, opt = linear_model(4, doppel.optim.Adam, lr=0.05)
    DTypeProbe.seen = []
    t = doppel.Trainer(optimizer=opt, metrics=[DTypeProbe()], compile=compiled, precision="bf16-mixed")
    t.fit(model, DataLoader(data, batch_size=32, shuffle=True), DataLoader(data, batch_size=64), 4)
    assert set(DTypeProbe.seen) == {doppel.bfloat16}
    assert model.weight.dtype == doppel.float32
    assert t.history[-1]["val_accuracy"] > 0.85
    assert t.predict(model, DataLoader(data, batch_size=64))[0].dtype == doppel.bfloat16
    if compiled:
        assert t.compiled_step.num_graph_runs > 0


def test_progress_bar_epoch_lines():
    data = synthetic(48, 6)
    model, opt = linear_model(0, doppel.optim.SGD, lr=0.1)
    out = io.StringIO()
    t = doppel.Trainer(optimizer=opt, metrics=[Accuracy()],
                       callbacks=[doppel.trainer.ProgressBar(out)])
    t.fit(model, DataLoader(data, batch_size=16), DataLoader(data, batch_size=48), 2)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    for e, line in enumerate(lines):
        assert re.fullmatch(rf"epoch {e}: train_accuracy [0-9.]+ train_loss [0-9.]+ val_accuracy [0-9.]+ "
                            rf"val_loss [0-9.]+ \([0-9.]+ s\)", line), line
        assert f"val_loss {t.history[e]['val_loss']:.4f}" in line
