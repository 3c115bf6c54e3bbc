# The Python example end to end on a slice of Fashion-MNIST: training through doppel.Trainer with
# the compiled step, TensorBoard logs (the epoch's loss read back with EventAccumulator), export and
# the runtime's evaluation (the script fails unless the accuracies agree).
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").exists(), reason="dataset-fashion-mnist missing")
def test_fashion_mnist_example(tmp_path):
    out = tmp_path / "mlp.dpl"
    r = subprocess.run([sys.executable, str(REPO / "examples" / "fashion_mnist.py"), "--epochs", "1", "--limit", "3000",
                        "--out", str(out), "--logdir", str(tmp_path / "runs")], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, PYTHONPATH=":".join(sys.path)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "compiled step: 1 trace(s)" in r.stdout and "runtime test accuracy" in r.stdout
    assert out.stat().st_size > 0
    loss = re.search(r"epoch 0: .*train_loss (\S+)", r.stdout)
    assert loss, r.stdout
    ea = EventAccumulator(str(tmp_path / "runs" / "version_0"))
    ea.Reload()
    assert [(e.step, f"{e.value:.4f}") for e in ea.Scalars("train_loss")] == [(0, loss.group(1))]
    assert ea.Graph().node  # the compiled training step
