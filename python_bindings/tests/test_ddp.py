"""doppel.nn.parallel.DistributedDataParallel: the per-rank checks of ddp_worker.py under mpirun
with 2 and 3 ranks, and the bucket rule against bench/ddp_bucket_sim.py's."""
import importlib.util
import math
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import doppel

REPO = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not hasattr(doppel._C, "_distributed") or shutil.which("mpirun") is None,
                                reason="doppel built without distributed/ or no mpirun")


def _sim():
    spec = importlib.util.spec_from_file_location("ddp_bucket_sim", REPO / "bench" / "ddp_bucket_sim.py")
    sim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sim)
    return sim


@pytest.mark.parametrize("cap_mib", [0.25, 1, 5, 25])
def test_bucket_assignment_matches_the_simulation(cap_mib):
    sim = _sim()
    layers = sim.resnet50_layers()
    cap = int(cap_mib * 2**20)
    reversed_bytes = [layer.params * 4 for layer in reversed(layers)]
    got = doppel._C._distributed.compute_bucket_assignment_by_size(
        reversed_bytes, [doppel.float32] * len(layers), [min(sim.FIRST_BUCKET_BYTES, cap), cap])
    got = [[len(layers) - 1 - i for i in bucket] for bucket in got]
    want = sim.buckets(layers, cap)
    assert got == want
    assert len(want) > 1 and sum(len(b) for b in want) == len(layers) and not math.isinf(cap)


def test_bucket_assignment_keeps_dtypes_apart():
    f32, f64 = doppel.float32, doppel.float64
    # float32: 4 + 4 reaches the first limit (8); float64: 8 closes its first bucket, 8 < 16 stays
    # open; buckets ordered by their first tensor.
    got = doppel._C._distributed.compute_bucket_assignment_by_size([4, 8, 4, 8], [f32, f64, f32, f64], [8, 16])
    assert got == [[0, 2], [1], [3]]


def _mpirun(ranks, script, *args):
    build = pathlib.Path(os.environ.get("DOPPEL_BUILD_DIR", REPO / "build" / "release"))
    env = dict(os.environ, PYTHONPATH=str((REPO / build).resolve() / "python"), DOPPEL_MPIRUN_TIMEOUT="120",
               OMP_NUM_THREADS="1")
    result = subprocess.run([str(REPO / "distributed" / "mpirun.sh"), "-np", str(ranks), sys.executable, str(script),
                             *args], env=env, capture_output=True, text=True, timeout=150)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("ranks", [2, 3])
def test_ddp_training_no_sync_and_unused_parameters_under_mpirun(ranks):
    out = _mpirun(ranks, pathlib.Path(__file__).with_name("ddp_worker.py"))
    assert f"ddp_worker: all checks passed on {ranks} ranks" in out


@pytest.mark.skipif(not pathlib.Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="no Fashion-MNIST")
def test_the_python_data_parallel_example_trains_on_2_ranks(tmp_path):
    out = _mpirun(2, REPO / "examples" / "train_distributed.py", "--epochs", "1", "--limit", "1024",
                  "--out", str(tmp_path / "mlp.safetensors"))
    accuracy = float(out.split("test accuracy ")[1].split()[0])
    assert "epoch 1/1 on 2 ranks" in out and 0.5 < accuracy <= 1.0, out
    assert (tmp_path / "mlp.safetensors").is_file()
