#!/usr/bin/env python3
"""Fashion-MNIST from Python: train with doppel.Trainer, log to TensorBoard, export, run the file.

1. trains an MLP (a Python-defined doppel.nn.Module, Adam, cosine schedule per step) with
   doppel.Trainer for --epochs epochs on Debian's dataset-fashion-mnist, the whole training step
   (zero_grad, forward, loss, backward, Adam step) captured by doppel.compile with a dynamic batch
   dimension (--mode eager runs it eagerly), evaluating on the 10k test images after each epoch;
   the Trainer's TensorBoardLogger writes the run to <--logdir>/version_<N> (default
   runs/fashion_mnist_py; --no-tensorboard: none);
2. exports the inference graph to one model file (parity-checked against eager), loads it with
   doppel.runtime (no eager layer, no autograd) and evaluates the test set with it: the script
   fails unless the runtime's accuracy equals the eager model's.

    PYTHONPATH=build/release/python .venv/bin/python examples/fashion_mnist.py [--epochs 3]
        [--batch 128] [--lr 2e-3] [--limit N] [--mode graph|eager] [--logdir DIR | --no-tensorboard]
        [--out build/fashion_mnist/mlp_py.dpl]
"""
import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np

import doppel
from doppel import nn
from doppel.trainer import Accuracy, LearningRateMonitor, ProgressBar, TensorBoardLogger
from doppel.utils.data import DataLoader, TensorDataset

ROOT = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path):
    """An IDX file (the MNIST format): big-endian magic, dims, then uint8 data."""
    data = gzip.open(path, "rb").read()
    ndim = data[3]
    dims = np.frombuffer(data, ">u4", ndim, 4).astype(np.int64)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split, limit):
    images = read_idx(ROOT / f"{split}-images-idx3-ubyte.gz")[:limit]
    labels = read_idx(ROOT / f"{split}-labels-idx1-ubyte.gz")[:limit]
    x = doppel.from_numpy((images.astype(np.float32) / 255.0 - 0.2860) / 0.3530).reshape(-1, 1, 28, 28)
    return TensorDataset(x, doppel.from_numpy(labels.astype(np.int64)))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        # Hidden sizes differ from every batch size the loader produces (128 and the last, 96):
        # the tracer finds the dynamic batch by its size, and a weight dimension of the same size
        # would be taken for it.
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 100)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(100, 10)

    def forward(self, x):
        h = doppel.relu(self.fc1(self.flatten(x)))
        return self.head(self.drop(doppel.relu(self.fc2(h))))


def accuracy(predict, data, batch):
    correct = total = 0
    for x, y in DataLoader(data, batch_size=batch):
        correct += int((predict(x).argmax(1) == y).sum())
        total += y.shape[0]
    return correct / total


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--limit", type=int, default=None, help="use only the first N images of each split")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", choices=("graph", "eager"), default="graph")
    p.add_argument("--logdir", default="runs/fashion_mnist_py", help="TensorBoard logs: DIR/version_<N>")
    p.add_argument("--no-tensorboard", action="store_true")
    p.add_argument("--out", default="build/fashion_mnist/mlp_py.dpl")
    args = p.parse_args()
    doppel.seed_everything(args.seed)
    train, test = load("train", args.limit), load("t10k", args.limit)
    model = MLP()
    opt = doppel.optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(train, batch_size=args.batch, shuffle=True, seed=args.seed)
    sched = doppel.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * len(loader))
    callbacks = [ProgressBar(sys.stdout), LearningRateMonitor("step")]
    if not args.no_tensorboard:
        logger = TensorBoardLogger(args.logdir, name="", hparams={"batch": args.batch, "epochs": args.epochs,
                                                                  "seed": args.seed, "limit": args.limit or 0})
        print(f"TensorBoard logs: {logger.log_dir} (tensorboard --logdir {args.logdir})")
        callbacks.append(logger)
    trainer = doppel.Trainer(optimizer=opt, scheduler=sched, scheduler_interval="step", metrics=[Accuracy()],
                             callbacks=callbacks, compile=args.mode == "graph")
    t0 = time.perf_counter()
    trainer.fit(model, loader, DataLoader(test, batch_size=1000), max_epochs=args.epochs)
    if args.mode == "graph":
        step = trainer.compiled_step
        print(f"compiled step: {step.num_traces} trace(s), {step.num_graph_runs} graph runs")
    eager_acc = trainer.history[-1]["val_accuracy"]
    model.eval()
    print(f"test accuracy {eager_acc:.4f} after {args.epochs} epochs ({time.perf_counter() - t0:.1f} s)")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doppel.export(model, [doppel.randn(8, 1, 28, 28)], out, dynamic=True, input_names=["image"],
                  output_names=["logits"], metadata={"dataset": "fashion-mnist", "eager_test_accuracy": eager_acc})
    runtime_model = doppel.runtime.load(out)
    runtime_acc = accuracy(lambda x: runtime_model.run(x)[0], test, 1000)
    print(f"exported {out} ({runtime_model!r}): runtime test accuracy {runtime_acc:.4f}")
    if abs(runtime_acc - eager_acc) > 1e-9:
        sys.exit(f"the runtime's accuracy {runtime_acc} differs from eager's {eager_acc}")


if __name__ == "__main__":
    main()
