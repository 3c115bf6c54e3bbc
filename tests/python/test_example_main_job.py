"""The main job (examples/fashion_mnist.cpp) on a slice of Fashion-MNIST: it trains through
doppel::Trainer and writes TensorBoard logs by default (read back with the tensorboard package's
EventAccumulator: the epoch's loss and accuracy as printed, the step values, the learning rate, the
graph, the hparams session); --no-tensorboard writes none.

The binary is taken from $DOPPEL_BUILD_DIR/examples (default build/release; tools/test.sh builds it).
"""
import re
import subprocess
from pathlib import Path

import pytest
from serve_util import BUILD
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

pytestmark = pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").exists(),
                                reason="dataset-fashion-mnist missing")


def main_job(*args):
    binary = BUILD / "examples" / "fashion_mnist"
    if not binary.is_file():
        pytest.fail(f"{binary} is not built: run tools/build.sh release (or set DOPPEL_BUILD_DIR)")
    r = subprocess.run([str(binary), "--epochs", "1", "--threads", "2", *map(str, args)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_main_job_writes_tensorboard_logs(tmp_path):
    out = main_job("--limit", 640, "--checkpoint", tmp_path / "cnn.safetensors", "--logdir", tmp_path / "runs")
    run = tmp_path / "runs" / "version_0"
    assert f"TensorBoard logs: {run}" in out
    assert (tmp_path / "cnn.safetensors").is_file()
    line = re.search(r"epoch 0: train_accuracy (\S+) train_loss (\S+) val_accuracy (\S+) val_loss (\S+)", out)
    assert line, out
    ea = EventAccumulator(str(run), size_guidance={"scalars": 0})
    ea.Reload()
    for tag, printed in zip(("train_accuracy", "train_loss", "val_accuracy", "val_loss"), line.groups()):
        events = ea.Scalars(tag)
        assert [e.step for e in events] == [0], tag
        assert f"{events[0].value:.4f}" == printed, tag
    # 640 samples, batch 64: 10 optimizer steps, the cosine schedule's lr before each.
    assert [e.step for e in ea.Scalars("train_loss_step")] == list(range(1, 11))
    lrs = [e.value for e in ea.Scalars("lr-Adam")]
    assert len(lrs) == 10 and lrs[0] == pytest.approx(1e-3) and lrs == sorted(lrs, reverse=True)
    nodes = {n.name: n.op for n in ea.Graph().node}
    assert nodes["0/weight"] == "Parameter" and "input/in0" in nodes  # the CNN's first convolution
    assert "_hparams_/session_start_info" in ea.PluginTagToContent("hparams")
    # A second run in the same folder is the next version.
    assert f"TensorBoard logs: {tmp_path / 'runs' / 'version_1'}" in main_job(
        "--limit", 64, "--checkpoint", tmp_path / "cnn2.safetensors", "--logdir", tmp_path / "runs")


def test_main_job_without_tensorboard(tmp_path):
    out = main_job("--limit", 64, "--checkpoint", tmp_path / "cnn.safetensors", "--logdir", tmp_path / "runs",
                   "--no-tensorboard")
    assert "TensorBoard" not in out and "test accuracy" in out
    assert not (tmp_path / "runs").exists()
