# The Python example end to end on a slice of Fashion-MNIST: eager training, compiled training
# step, export and the runtime's evaluation (the script fails unless the accuracies agree).
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").exists(), reason="dataset-fashion-mnist missing")
def test_fashion_mnist_example(tmp_path):
    out = tmp_path / "mlp.dpl"
    r = subprocess.run([sys.executable, str(REPO / "examples" / "fashion_mnist.py"), "--epochs", "1", "--limit", "3000",
                        "--out", str(out)], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=":".join(sys.path)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "compiled step, 1 trace(s)" in r.stdout and "runtime test accuracy" in r.stdout
    assert out.stat().st_size > 0
