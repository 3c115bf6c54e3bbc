"""One rank of the multi-process Python tests (test_distributed.py launches it under mpirun):
  python distributed_worker.py collectives   every collective vs numpy, async, sub-groups,
                                             autograd, a compiled step vs eager, mismatches
  python distributed_worker.py raise         rank 1 raises while the others wait
  python distributed_worker.py kill          rank 1 dies by SIGKILL while the others wait
  python distributed_worker.py timeout       rank 0 never joins; rank 1's all_reduce times out (2 s)
Prints "rank R ok" at the end; any failure raises (and so ends the job naming the rank)."""
import os
import signal
import sys
import time

import numpy as np

import doppel
import doppel.distributed as dist
import doppel.distributed.nn.functional as F
from doppel.distributed import ReduceOp

NP_DTYPES = {doppel.float32: np.float32, doppel.float64: np.float64, doppel.int32: np.int32,
             doppel.int64: np.int64, doppel.int8: np.int8, doppel.uint8: np.uint8}


def values(rank, n, np_dtype):
    """Small integers, different per rank (exact in every dtype; sums of 3 ranks fit int8)."""
    v = (rank * 7 + np.arange(n) * 3) % 11
    return (v if np_dtype == np.uint8 else v - 5).astype(np_dtype)


def t(a):
    return doppel.from_numpy(np.ascontiguousarray(a)).clone()


def close(got, want, exact=True):
    got = got.detach().numpy() if isinstance(got, doppel.Tensor) else got
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def reduce(stack, op):
    if op == ReduceOp.SUM:
        return stack.sum(0).astype(stack.dtype)
    if op == ReduceOp.AVG:
        return (stack.astype(np.float64).mean(0)).astype(stack.dtype)
    return stack.max(0) if op == ReduceOp.MAX else stack.min(0)


def collectives(rank, world):
    for dt, npd in NP_DTYPES.items():
        for n in (0, 1, 7, 1000, 1 << 17):
            stack = np.stack([values(r, n, npd) for r in range(world)])
            for op in (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.MAX, ReduceOp.MIN):
                if op == ReduceOp.AVG and not np.issubdtype(npd, np.floating):
                    continue
                x = t(values(rank, n, npd))
                dist.all_reduce(x, op=op)
                close(x, reduce(stack, op), exact=op != ReduceOp.AVG)
                close(F.all_reduce(t(values(rank, n, npd)), op), reduce(stack, op), exact=op != ReduceOp.AVG)
            for src in range(world):
                x = t(values(rank, n, npd))
                assert dist.broadcast(x, src) is None
                close(x, stack[src])
            outs = [doppel.empty(n, dtype=dt) for _ in range(world)]
            dist.all_gather(outs, t(values(rank, n, npd)))
            for r in range(world):
                close(outs[r], stack[r])
            out = doppel.empty(world * n, dtype=dt)
            dist.all_gather_into_tensor(out, t(values(rank, n, npd)))
            close(out, stack.reshape(-1))
            # reduce_scatter / all_to_all: n rows per rank.
            big = np.stack([values(r, world * n, npd) for r in range(world)])
            out = doppel.empty(n, dtype=dt)
            dist.reduce_scatter_tensor(out, t(big[rank]), op=ReduceOp.SUM)
            close(out, big.sum(0).astype(npd)[rank * n:(rank + 1) * n])
            out = doppel.empty(world * n, dtype=dt)
            dist.all_to_all_single(out, t(big[rank]))
            close(out, np.concatenate([big[r][rank * n:(rank + 1) * n] for r in range(world)]))
            close(F.all_to_all_single(t(big[rank])), out.numpy())


def async_and_groups(rank, world):
    xs = [t(values(rank, 4096, np.float32) + k) for k in range(3)]
    works = [dist.all_reduce(x, async_op=True) for x in xs]
    for k, w in enumerate(works):
        assert w.wait() is True
        assert w.is_completed()
        close(xs[k], np.stack([values(r, 4096, np.float32) + k for r in range(world)]).sum(0))
    members = [0, world - 1]
    g = dist.new_group(members)
    assert g.ranks == members and g.size() == 2
    if rank in members:
        x = t(values(rank, 5, np.int64))
        dist.all_reduce(x, group=g)
        close(x, values(0, 5, np.int64) + values(world - 1, 5, np.int64))
        assert dist.get_rank(g) == members.index(rank)
    else:
        assert dist.get_rank(g) == -1
        try:
            dist.all_reduce(t(values(rank, 5, np.int64)), group=g)
            raise AssertionError("a non-member's collective on a sub-group must fail")
        except doppel.Error as e:
            assert "is not in process group" in str(e), e
    dist.barrier()


def autograd(rank, world):
    n = 5
    c = [values(r + 20, n, np.float64) for r in range(world)]
    x = t(values(rank, n, np.float64)).requires_grad_()
    (F.all_reduce(x * float(rank + 1)) * t(c[rank])).sum().backward()
    close(x.grad, (rank + 1) * np.sum(c, 0), exact=False)
    x = t(values(rank, n, np.float64)).requires_grad_()
    cg = [values(r + 30, n * world, np.float64) for r in range(world)]
    y = doppel.cat(list(F.all_gather(x)))
    (y * t(cg[rank])).sum().backward()
    close(x.grad, np.sum([cg[j][rank * n:(rank + 1) * n] for j in range(world)], 0), exact=False)


def compiled_step(rank, world):
    def build():
        doppel.manual_seed(4)
        return doppel.nn.Linear(4, 3)

    def make_step(model, opt):
        def step(x, y):
            opt.zero_grad()
            loss = doppel.nn.functional.mse_loss(model(x), y)
            loss.backward()
            for p in model.parameters():
                dist.all_reduce(p.grad, op=ReduceOp.AVG)
            opt.step()
            return F.all_reduce(loss.detach(), ReduceOp.AVG)
        return step

    eager_model, compiled_model = build(), build()
    eager = make_step(eager_model, doppel.optim.SGD(eager_model.parameters(), lr=0.1))
    compiled = doppel.compile(make_step(compiled_model, doppel.optim.SGD(compiled_model.parameters(), lr=0.1)),
                              state=compiled_model)
    for s in range(4):
        x = t(values(rank + s, 20, np.float32).reshape(5, 4) * 0.1)
        y = t(values(rank + 2 * s, 15, np.float32).reshape(5, 3) * 0.1)
        close(compiled(x, y), eager(x, y).numpy(), exact=False)
    assert compiled.num_graph_runs >= 2
    for pe, pc in zip(eager_model.parameters(), compiled_model.parameters()):
        close(pc, pe.detach().numpy(), exact=False)


def data_parallel(rank, world):
    """DistributedDataParallel: 5 steps at batch 4 per rank equal one process at batch 4 * world."""
    def build(seed):
        doppel.manual_seed(seed)
        return doppel.nn.Sequential(doppel.nn.Linear(6, 8), doppel.nn.Tanh(), doppel.nn.Linear(8, 2)).to(doppel.float64)

    def rows(r, s, width):
        return values(r * 31 + s, 4 * width, np.float64).reshape(4, width) * 0.1

    ddp = doppel.nn.parallel.DistributedDataParallel(build(10 + rank))  # rank 0's parameters everywhere
    reference = build(10)
    opt = doppel.optim.SGD(ddp.parameters(), lr=0.1)
    ref_opt = doppel.optim.SGD(reference.parameters(), lr=0.1)
    mse = doppel.nn.functional.mse_loss
    for s in range(5):
        opt.zero_grad()
        mse(ddp(t(rows(rank, s, 6))), t(rows(rank, s + 50, 2))).backward()
        opt.step()
        ref_opt.zero_grad()
        x = np.concatenate([rows(r, s, 6) for r in range(world)])
        y = np.concatenate([rows(r, s + 50, 2) for r in range(world)])
        mse(reference(t(x)), t(y)).backward()
        ref_opt.step()
    for p, q in zip(ddp.module.parameters(), reference.parameters()):
        close(p, q.detach().numpy(), exact=False)
    with ddp.no_sync():
        mse(ddp(t(rows(rank, 0, 6))), t(rows(rank, 1, 2))).backward()
    grads = [p.grad.detach().numpy().copy() for p in ddp.module.parameters()]
    others = [F.all_gather(doppel.from_numpy(g)) for g in grads]
    assert any(not np.allclose(o[0].numpy(), o[-1].numpy()) for o in others)  # local, not averaged


def mismatch(rank, world):
    x = doppel.zeros(4 if rank == 0 else 5)
    try:
        dist.all_reduce(x)
        raise AssertionError("mismatched shapes must raise")
    except ValueError as e:  # doppel.ShapeError is a ValueError
        assert "rank 0: all_reduce(sum) float32[4]" in str(e) and "rank 1: all_reduce(sum) float32[5]" in str(e), e
    ok = doppel.ones(3)
    dist.all_reduce(ok)
    close(ok, np.full(3, world, np.float32))


def main():
    mode = sys.argv[1]
    dist.init_process_group("mpi", timeout=2 if mode == "timeout" else 60)
    rank, world = dist.get_rank(), dist.get_world_size()
    if mode in ("raise", "kill", "timeout"):
        if rank == 1 and mode == "raise":
            raise RuntimeError("rank 1 gives up")
        if rank == 1 and mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if rank == 0 and mode == "timeout":
            time.sleep(30)
        dist.all_reduce(doppel.ones(2))
    else:
        collectives(rank, world)
        async_and_groups(rank, world)
        autograd(rank, world)
        compiled_step(rank, world)
        data_parallel(rank, world)
        mismatch(rank, world)
    dist.destroy_process_group()
    print(f"rank {rank} ok", flush=True)


if __name__ == "__main__":
    main()
