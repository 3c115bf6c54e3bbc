"""doppel.distributed: the multi-process checks run under mpirun (distributed_worker.py, launched
through distributed/mpirun.sh with 2 and 3 ranks, bounded in time), and the DistributedSampler's
index lists against PyTorch's (Debian's torch under /usr/bin/python3)."""
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

import doppel
import doppel.distributed as dist
from doppel.utils.data import DistributedSampler

REPO = pathlib.Path(__file__).resolve().parents[2]
MPIRUN = REPO / "distributed" / "mpirun.sh"
WORKER = pathlib.Path(__file__).with_name("distributed_worker.py")
TORCH_PYTHON = os.environ.get("DOPPEL_TORCH_PYTHON", "/usr/bin/python3")


def run_job(np_, mode, timeout=240):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), DOPPEL_MPIRUN_TIMEOUT=str(timeout - 10))
    return subprocess.run([str(MPIRUN), "-np", str(np_), sys.executable, str(WORKER), mode], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("np_", [2, 3])
def test_collectives_under_mpirun(np_):
    r = run_job(np_, "collectives")
    assert r.returncode == 0, r.stdout + r.stderr
    for rank in range(np_):
        assert f"rank {rank} ok" in r.stdout, r.stdout + r.stderr


def test_a_rank_that_raises_ends_the_job_naming_it():
    r = run_job(3, "raise", timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "rank 1 failed: uncaught RuntimeError: rank 1 gives up" in out, out


def test_a_killed_rank_ends_the_job_naming_it():
    r = run_job(3, "kill", timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "rank 1" in out and "signal 9" in out, out


def test_a_rank_that_never_joins_times_the_collective_out():
    start = time.monotonic()
    r = run_job(2, "timeout", timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "rank 1 failed: uncaught Error: all_reduce on group 0 (ranks 0, 1) timed out after 2000 ms" in out, out
    assert time.monotonic() - start < 30  # the timeout ended it, not rank 0's sleep


def _torch_indices(cases):
    code = ("import json, sys, torch\n"
            "from torch.utils.data import DistributedSampler\n"
            "out = []\n"
            "for n, k, r, shuffle, seed, epoch, drop_last in json.load(sys.stdin):\n"
            "    s = DistributedSampler(range(n), num_replicas=k, rank=r, shuffle=shuffle, seed=seed,\n"
            "                           drop_last=drop_last)\n"
            "    s.set_epoch(epoch)\n"
            "    out.append([list(s), len(s)])\n"
            "print(json.dumps(out))\n")
    r = subprocess.run([TORCH_PYTHON, "-c", code], input=json.dumps(cases), capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0 and "No module named 'torch'" in r.stderr:
        pytest.skip(f"no torch under {TORCH_PYTHON}")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_distributed_sampler_matches_pytorch():
    cases = [[n, k, r, shuffle, seed, epoch, drop_last]
             for n in (0, 1, 2, 10, 11, 64, 1001)
             for k in (1, 2, 3, 4)
             for r in sorted({0, k - 1})
             for shuffle in (True, False)
             for seed, epoch in ((0, 0), (7, 3), (2**33 + 5, 1))
             for drop_last in (False, True)]
    want = _torch_indices(cases)
    for case, (indices, length) in zip(cases, want):
        n, k, r, shuffle, seed, epoch, drop_last = case
        s = DistributedSampler(range(n), num_replicas=k, rank=r, shuffle=shuffle, seed=seed, drop_last=drop_last)
        s.set_epoch(epoch)
        assert list(s) == indices, case
        assert len(s) == length, case


def test_distributed_sampler_shards_cover_the_data_once():
    for n, k in ((12, 3), (10, 3), (5, 4)):
        shards = []
        for r in range(k):
            s = DistributedSampler(range(n), num_replicas=k, rank=r, seed=3)
            s.set_epoch(2)
            shards.append(list(s))
        flat = [i for sh in shards for i in sh]
        assert sorted(set(flat)) == list(range(n))
        assert len(flat) == -(-n // k) * k  # padding only fills the last round
        kept = [list(DistributedSampler(range(n), num_replicas=k, rank=r, seed=3, drop_last=True)) for r in range(k)]
        flat = [i for sh in kept for i in sh]
        assert len(flat) == len(set(flat)) == n // k * k  # disjoint, nothing repeated


def test_distributed_sampler_errors_and_loader():
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        DistributedSampler(range(5), num_replicas=3, rank=3)
    with pytest.raises(ValueError, match="init_process_group"):
        DistributedSampler(range(5))
    data = doppel.utils.data.TensorDataset(doppel.arange(10))
    s = DistributedSampler(data, num_replicas=2, rank=1, shuffle=False)
    batches = [b[0].tolist() for b in doppel.utils.data.DataLoader(data, batch_size=2, sampler=s)]
    assert batches == [[1, 3], [5, 7], [9]]


def test_collectives_need_a_process_group():
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="init_process_group"):
        dist.all_reduce(doppel.ones(2))
    with pytest.raises(ValueError, match="unknown backend"):
        dist.init_process_group("gloo")
    assert not dist.is_initialized()
