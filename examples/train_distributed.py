#!/usr/bin/env python3
"""Data-parallel training from Python: one process per rank, launched by mpirun.

Each rank trains DistributedDataParallel(MLP) (the MLP of examples/fashion_mnist.py) on its
DistributedSampler shard of Fashion-MNIST (reshuffled per epoch from --seed), the epoch's loss and
accuracies are summed across the ranks, and rank 0 prints them and saves the model (doppel.save
writes atomically; the other ranks wait at a barrier).

    mpirun -np 2 python examples/train_distributed.py [--epochs 2] [--batch 64] [--limit N]
    # the repository's build: PYTHONPATH=build/release/python, --allow-run-as-root as root:
    PYTHONPATH=build/release/python distributed/mpirun.sh -np 2 .venv/bin/python examples/train_distributed.py
"""
import argparse
import pathlib

import doppel
import doppel.distributed as dist
from doppel import nn
from doppel.nn.parallel import DistributedDataParallel
from doppel.utils.data import DataLoader, DistributedSampler
from fashion_mnist import MLP, load


def summed(*values):
    """values summed over the ranks (float64)."""
    t = doppel.tensor(list(values), dtype=doppel.float64)
    dist.all_reduce(t)
    return t.tolist()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=64, help="per rank: the global batch is ranks x batch")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="only the first N training images")
    p.add_argument("--out", default="build/fashion_mnist/mlp_ddp.safetensors")
    args = p.parse_args()

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    doppel.manual_seed(args.seed)
    train, test = load("train", args.limit), load("t10k", None)
    model = DistributedDataParallel(MLP())  # every rank starts from rank 0's parameters
    opt = doppel.optim.Adam(model.parameters(), lr=args.lr)
    sampler = DistributedSampler(train, seed=args.seed)
    test_shard = DistributedSampler(test, shuffle=False)
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        model.train()
        loss_sum = correct = seen = 0.0
        for x, y in DataLoader(train, batch_size=args.batch, sampler=sampler):
            opt.zero_grad()
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, y)
            loss.backward()
            opt.step()
            loss_sum += float(loss) * y.shape[0]
            correct += int((logits.detach().argmax(1) == y).sum())
            seen += y.shape[0]
        model.eval()
        test_correct = test_seen = 0.0
        with doppel.no_grad():
            for x, y in DataLoader(test, batch_size=1000, sampler=test_shard):
                test_correct += int((model(x).argmax(1) == y).sum())
                test_seen += y.shape[0]
        loss_sum, correct, seen, test_correct, test_seen = summed(loss_sum, correct, seen, test_correct, test_seen)
        if rank == 0:
            print(f"epoch {epoch + 1}/{args.epochs} on {world} ranks: train loss {loss_sum / seen:.4f}, "
                  f"train accuracy {correct / seen:.4f}, test accuracy {test_correct / test_seen:.4f}", flush=True)
    if rank == 0:
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        doppel.save(model.module, args.out, metadata={"epochs": args.epochs, "world_size": world})
        print(f"saved {args.out}")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
