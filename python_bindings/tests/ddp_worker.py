"""The per-rank program of test_ddp.py (run under mpirun): DistributedDataParallel from Python
against single-process training of the whole batch, computed on every rank as the oracle; the
compiled DDP step against the eager one; no_sync; the unused-parameter error. Exits
non-zero (an AssertionError, which ends the job naming the rank) when a check fails."""
import sys

import numpy as np

import doppel
import doppel.distributed as dist
from doppel import nn
from doppel.nn.parallel import DistributedDataParallel as DDP

RTOL, ATOL = 1e-4, 1e-5  # float32 after several steps, sums over ranks in another order


def net(seed):
    doppel.manual_seed(seed)
    return nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 5))


def batch(step, n):
    rng = np.random.default_rng(100 + step)
    return (doppel.tensor(rng.standard_normal((n, 20)).astype(np.float32)),
            doppel.tensor(rng.standard_normal((n, 5)).astype(np.float32)))


def close(a, b, what):
    a, b = a.detach().numpy(), b.detach().numpy()
    if not np.allclose(a, b, rtol=RTOL, atol=ATOL):
        raise AssertionError(f"{what}: max difference {np.abs(a - b).max()}")


def same_parameters(got, want, what):
    for (name, p), q in zip(got.named_parameters(), want.parameters()):
        close(p, q, f"{what}: {name}")


def training(rank, world, per_rank=4, steps=10):
    ddp = DDP(net(1 + rank), bucket_cap_mb=0.01)  # rank 0's initialisation must win
    oracle = net(1)
    same_parameters(ddp.module, oracle, "after construction")
    assert len(ddp.bucket_indices) > 1
    opt = doppel.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    oracle_opt = doppel.optim.SGD(oracle.parameters(), lr=0.05, momentum=0.9)
    for step in range(steps):
        x, y = batch(step, world * per_rank)
        mine = slice(rank * per_rank, (rank + 1) * per_rank)
        opt.zero_grad()
        nn.functional.mse_loss(ddp(x[mine]), y[mine]).backward()
        opt.step()
        oracle_opt.zero_grad()
        nn.functional.mse_loss(oracle(x), y).backward()
        oracle_opt.step()
    same_parameters(ddp.module, oracle, "after training")


def no_sync(rank, world, per_rank=3):
    ddp, oracle = DDP(net(2)), net(2)
    for micro in range(3):
        x, y = batch(50 + micro, world * per_rank)
        mine = slice(rank * per_rank, (rank + 1) * per_rank)
        if micro < 2:
            with ddp.no_sync():
                nn.functional.mse_loss(ddp(x[mine]), y[mine]).backward()
        else:
            nn.functional.mse_loss(ddp(x[mine]), y[mine]).backward()
        nn.functional.mse_loss(oracle(x), y).backward()
    for p, q in zip(ddp.parameters(), oracle.parameters()):
        close(p.grad, q.grad, "no_sync gradients")


def compiled_step(rank, world, per_rank=4):
    """doppel.compile of a training step through DDP replays its bucketed all-reduces: the same
    losses and parameters as the eager DDP step."""
    def make():
        model = DDP(net(3), bucket_cap_mb=0.01)
        return model, doppel.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step(model, opt):
        def train_step(x, y):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return train_step

    eager_model, eager_opt = make()
    compiled_model, compiled_opt = make()
    eager = step(eager_model, eager_opt)
    compiled = doppel.compile(step(compiled_model, compiled_opt), state=compiled_model)
    for s in range(4):
        x, y = batch(200 + s, world * per_rank)
        mine = slice(rank * per_rank, (rank + 1) * per_rank)
        close(compiled(x[mine], y[mine]), eager(x[mine], y[mine]), f"compiled step {s} loss")
    assert compiled.num_graph_runs >= 2, compiled.num_graph_runs
    same_parameters(compiled_model, eager_model, "compiled step")


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.used = nn.Linear(4, 4)
        self.head = nn.Linear(4, 4)

    def forward(self, x):
        return self.used(x)


def unused_parameter(rank):
    ddp = DDP(TwoHeads())
    x = doppel.ones([2, 4])
    ddp(x).sum().backward()
    try:
        ddp(x)
    except ValueError as e:
        message = str(e)
        assert "Expected to have finished reduction in the prior iteration" in message, message
        assert f"Parameters which did not receive grad for rank {rank}: head.weight, head.bias" in message, message
    else:
        raise AssertionError("a DDP forward after a backward that left parameters without gradient did not raise")
    tolerant = DDP(TwoHeads(), find_unused_parameters=True)
    for _ in range(2):
        tolerant(x).sum().backward()
    assert tolerant.module.head.weight.grad is None


def main():
    dist.init_process_group("mpi", timeout=60)
    rank, world = dist.get_rank(), dist.get_world_size()
    training(rank, world)
    no_sync(rank, world)
    compiled_step(rank, world)
    unused_parameter(rank)
    dist.barrier()
    if rank == 0:
        print(f"ddp_worker: all checks passed on {world} ranks")
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
