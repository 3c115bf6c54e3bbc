# doppel.trainer.TensorBoardLogger: the events a fit writes, read back with the tensorboard
# package's EventAccumulator and hparams protos — per-epoch scalars equal trainer.history, *_step
# values and the learning rate at the global step, one graph, the hparams session — the folder
# versions, and an eager fit's parameters unchanged by the logger's trace of the forward.
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

import doppel
from doppel import nn
from doppel.trainer import Accuracy, LearningRateMonitor, TensorBoardLogger
from doppel.utils.data import DataLoader, TensorDataset


def three_classes(seed):
    """48 samples of 4 features; the class is the largest of the first three."""
    x = np.random.default_rng(seed).standard_normal((48, 4)).astype(np.float32)
    return TensorDataset(doppel.from_numpy(x), doppel.from_numpy(x[:, :3].argmax(1).astype(np.int64)))


def read(log_dir):
    ea = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    return ea


@pytest.mark.parametrize("compiled", [True, False])
def test_events_of_a_fit(tmp_path, compiled):
    doppel.manual_seed(3)
    model = nn.Linear(4, 3)
    opt = doppel.optim.SGD(model.parameters(), lr=0.2)
    logger = TensorBoardLogger(tmp_path, name="exp", hparams={"batch": 8, "lr": 0.5})
    loader = DataLoader(three_classes(1), batch_size=8)  # 6 batches per epoch
    trainer = doppel.Trainer(optimizer=opt, scheduler=doppel.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5),
                             scheduler_interval="step", metrics=[Accuracy()],
                             callbacks=[logger, LearningRateMonitor("step")], compile=compiled)
    trainer.fit(model, loader, loader, max_epochs=3)
    run = tmp_path / "exp" / "version_0"
    assert logger.log_dir == str(run)
    ea = read(run)

    # Epoch values at step = epoch, equal to trainer.history (float32: simple_value's type).
    assert len(trainer.history) == 3
    for tag in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        events = ea.Scalars(tag)
        assert [e.step for e in events] == [0, 1, 2], tag
        assert [e.value for e in events] == [np.float32(h[tag]) for h in trainer.history], tag
    # Per optimizer step: the running loss at steps 1..18, the lr before each step (0..17).
    assert [e.step for e in ea.Scalars("train_loss_step")] == list(range(1, 19))
    assert ea.Scalars("train_loss_step")[5].value == np.float32(trainer.history[0]["train_loss"])
    lrs = ea.Scalars("lr-SGD")
    assert [e.step for e in lrs] == list(range(18))
    assert [e.value for e in lrs] == [np.float32(0.2 * 0.5 ** (k // 4)) for k in range(18)]
    assert [(e.step, e.value) for e in ea.Scalars("epoch")] == [(6, 0.0), (12, 1.0), (18, 2.0)]

    # One graph: state named by the model's parameters; with compile the whole training step.
    nodes = {n.name: n.op for n in ea.Graph().node}
    assert nodes["weight"] == "Parameter" and nodes["bias"] == "Parameter"
    ops = [op for op in nodes.values() if op not in ("Parameter", "IO Node", "Constant")]
    assert (len(ops) > 6) if compiled else (len(ops) <= 3), ops

    # The hparams session: the Trainer's options and the user's (whose lr wins), the last epoch's
    # values as the metrics.
    content = ea.PluginTagToContent("hparams")
    assert set(content) == {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"}
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["optimizer"].string_value == "SGD"
    assert start.hparams["scheduler"].string_value == "StepLR"
    assert start.hparams["compile"].number_value == float(compiled)  # bools are numbers, as PyTorch writes them
    assert start.hparams["batch"].number_value == 8 and start.hparams["lr"].number_value == 0.5
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert sorted(m.name.tag for m in experiment.metric_infos) == [
        "hparams/train_accuracy", "hparams/train_loss", "hparams/val_accuracy", "hparams/val_loss"]
    assert ea.Scalars("hparams/val_loss")[0].value == np.float32(trainer.history[-1]["val_loss"])

    # test() after fit: written and flushed at the global step.
    t = trainer.test(model, loader)
    assert [(e.step, e.value) for e in read(run).Scalars("test_accuracy")] == [(18, np.float32(t["test_accuracy"]))]

    # The next logger there takes the next version; name "" puts versions in save_dir itself.
    assert TensorBoardLogger(tmp_path, name="exp").version == 1
    assert TensorBoardLogger(tmp_path, name="", version=7).log_dir == str(tmp_path / "version_7")


def test_eager_graph_trace_leaves_the_fit_unchanged(tmp_path):
    data = three_classes(2)

    def fit(callbacks):
        doppel.manual_seed(5)
        model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Dropout(0.5), nn.Linear(5, 3))
        trainer = doppel.Trainer(optimizer=doppel.optim.SGD(model.parameters(), lr=0.1), callbacks=callbacks,
                                 compile=False)
        trainer.fit(model, DataLoader(data, batch_size=8, shuffle=True, seed=1), max_epochs=2)
        return {k: v.numpy().copy() for k, v in model.state_dict().items()}

    plain, logged = fit([]), fit([TensorBoardLogger(tmp_path)])
    assert plain.keys() == logged.keys()
    for k in plain:
        assert np.array_equal(plain[k], logged[k]), k
    # The forward in eval mode: no dropout, the batch norm reads its running statistics.
    nodes = {n.name: n.op for n in read(tmp_path / "lightning_logs" / "version_0").Graph().node}
    assert "1/running_mean" in nodes
    assert not any("dropout" in op for op in nodes.values())
