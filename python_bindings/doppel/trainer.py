"""doppel.Trainer: the training loop (Lightning's Trainer, Keras' fit) for Python models, with the
semantics of the C++ doppel::Trainer (eager/include/doppel/trainer/trainer.h):

    trainer = doppel.Trainer(optimizer=opt, scheduler=sched, metrics=[Accuracy()],
                             callbacks=[EarlyStopping("val_loss"), ModelCheckpoint("ckpts", monitor="val_loss")])
    trainer.fit(model, train_loader, val_loader, max_epochs=10)
    trainer.test(model, test_loader)  # {"test_loss": ..., "test_accuracy": ...}

Loaders yield (input, target) pairs (doppel.utils.data.DataLoader over a TensorDataset, say).
The training step is zero_grad, forward, loss (default cross entropy, or `training_step(model,
batch)` returning the loss or (loss, output)), backward, clipping and optimizer.step(), captured
whole by doppel.compile (dynamic batch; graph_passes=False by default, see __init__) unless
compile=False. The tracer tells the batch dimension apart from others by its size: choose a
batch size that no weight dimension has (the last, smaller batch too). With
accumulate_grad_batches=n the step stops after the backward of loss / n; the gradients are summed
outside it and the window's last batch sets them and steps. precision="bf16-mixed" runs forward
and loss under doppel.autocast("cpu") (bfloat16). Logged names, checkpoint contents and resume
are the C++ ones: save_checkpoint holds the model, optimizer, scheduler, position and the RNG
state, and fit(..., ckpt_path=) continues bit-identically (DataLoader order depends only on
(seed, epoch)).
"""
import contextlib
import math
import os
import sys
import time

from . import _C
from .amp import autocast
from .autograd import no_grad
from .serialization import load as _load, save as _save

__all__ = ["Trainer", "Callback", "Metric", "Accuracy", "TopKAccuracy", "EarlyStopping", "ModelCheckpoint",
           "LearningRateMonitor", "ProgressBar", "TensorBoardLogger", "seed_everything"]


def seed_everything(seed):
    """Seeds doppel's default generator, Python's `random` and numpy's global generator."""
    import random

    import numpy as np

    _C.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    return seed


class Metric:
    """Running state: update(output, target) per batch, compute() over all since reset()."""
    name = "metric"

    def update(self, output, target):
        raise NotImplementedError(f"{type(self).__name__} must implement update")

    def compute(self):
        raise NotImplementedError(f"{type(self).__name__} must implement compute")

    def reset(self):
        raise NotImplementedError(f"{type(self).__name__} must implement reset")

    def clone(self):
        """A metric of the same configuration with fresh state."""
        m = type(self).__new__(type(self))
        m.__dict__.update(self.__dict__)
        m.reset()
        return m


class TopKAccuracy(Metric):
    """A sample counts when fewer than k classes score strictly higher than its target."""

    def __init__(self, k=5):
        if k < 1:
            raise _C.ValueError(f"TopKAccuracy: k must be >= 1, got {k}")
        self.k = k
        self.name = f"top{k}_accuracy"
        self.reset()

    def update(self, output, target):
        if output.dim() != 2 or target.dim() != 1 or output.shape[0] != target.shape[0]:
            raise _C.ShapeError(f"{self.name}.update: expected output [N, C] and target [N], got output "
                                f"{list(output.shape)} and target {list(target.shape)}")
        with no_grad():
            scores = output.detach()
            higher = (scores > scores.gather(1, target.unsqueeze(1))).sum(1)
            self.correct += int((higher < self.k).sum())
        self.total += target.shape[0]

    def compute(self):
        if self.total == 0:
            raise _C.ValueError(f"{self.name}.compute: no batch was added since the last reset()")
        return self.correct / self.total

    def reset(self):
        self.correct = self.total = 0


class Accuracy(TopKAccuracy):
    def __init__(self):
        super().__init__(1)
        self.name = "accuracy"


class Callback:
    """Hooks called by Trainer.fit in the C++ Trainer's order; every hook does nothing by default."""

    def on_fit_start(self, trainer): pass
    def on_fit_end(self, trainer): pass
    def on_train_epoch_start(self, trainer): pass
    def on_train_epoch_end(self, trainer): pass
    def on_train_batch_start(self, trainer, batch, index): pass
    def on_train_batch_end(self, trainer, batch, index): pass
    def on_validation_start(self, trainer): pass
    def on_validation_end(self, trainer): pass
    def on_log(self, trainer, values, step): pass
    def on_save_checkpoint(self, trainer, checkpoint): pass
    def on_load_checkpoint(self, trainer, checkpoint): pass


def _improves(current, reference, mode, min_delta=0.0):
    if math.isnan(current):
        return False
    if math.isnan(reference):
        return True
    return current < reference - min_delta if mode == "min" else current > reference + min_delta


def _monitored(trainer, monitor, who):
    if monitor not in trainer.callback_metrics:
        raise _C.ValueError(f"{who}: the monitored metric '{monitor}' was not logged; logged: "
                            f"{sorted(trainer.callback_metrics)}")
    return trainer.callback_metrics[monitor]


class _EpochResultCallback(Callback):
    """Calls _on_epoch_result after each validation, or after each training epoch when fit() has
    no validation loader (EarlyStopping's and ModelCheckpoint's moment)."""

    def on_train_epoch_end(self, trainer):
        if not trainer.has_validation:
            self._on_epoch_result(trainer)

    def on_validation_end(self, trainer):
        if trainer.fitting:
            self._on_epoch_result(trainer)


class EarlyStopping(_EpochResultCallback):
    """Stops when `monitor` has not improved by more than min_delta for `patience` checks."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=3, mode="min", check_finite=True):
        if mode not in ("min", "max"):
            raise _C.ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.min_delta, self.patience, self.mode = monitor, min_delta, patience, mode
        self.check_finite = check_finite
        self.best_score, self.wait_count, self.stopped_epoch = math.nan, 0, -1

    def _on_epoch_result(self, trainer):
        v = _monitored(trainer, self.monitor, "EarlyStopping")
        if self.check_finite and not math.isfinite(v):
            trainer.should_stop = True
        elif _improves(v, self.best_score, self.mode, self.min_delta):
            self.best_score, self.wait_count = v, 0
        else:
            self.wait_count += 1
            if self.wait_count >= self.patience:
                trainer.should_stop = True
        if trainer.should_stop and self.stopped_epoch < 0:
            self.stopped_epoch = trainer.current_epoch

    def on_save_checkpoint(self, trainer, checkpoint):
        checkpoint["metadata"][f"EarlyStopping.{self.monitor}"] = \
            f"{self.best_score!r} {self.wait_count} {self.stopped_epoch}"

    def on_load_checkpoint(self, trainer, checkpoint):
        saved = checkpoint["metadata"].get(f"EarlyStopping.{self.monitor}")
        if saved is None:  # written without this callback: start afresh
            return
        best, wait, stopped = saved.split()
        self.best_score, self.wait_count, self.stopped_epoch = float(best), int(wait), int(stopped)


class ModelCheckpoint(_EpochResultCallback):
    """Writes full checkpoints to dirpath/filename.ckpt after each validation (each epoch without
    one) and keeps the best save_top_k by `monitor` (the latest without one); save_last also
    writes last.ckpt. filename may use {epoch}, {step} and logged metrics ({val_loss:.4f} style)."""

    def __init__(self, dirpath, filename="epoch={epoch}-step={step}", monitor=None, mode="min", save_top_k=1,
                 save_last=False, every_n_epochs=1):
        if mode not in ("min", "max"):
            raise _C.ValueError(f"ModelCheckpoint: mode must be 'min' or 'max', got {mode!r}")
        self.dirpath, self.filename, self.monitor, self.mode = str(dirpath), filename, monitor, mode
        self.save_top_k, self.save_last, self.every_n_epochs = save_top_k, save_last, every_n_epochs
        self.best_k_models = []  # (path, score), best first
        self.last_model_path = ""

    @property
    def best_model_path(self):
        return self.best_k_models[0][0] if self.best_k_models else ""

    @property
    def best_model_score(self):
        return self.best_k_models[0][1] if self.best_k_models else math.nan

    def format_path(self, trainer):
        values = dict(trainer.callback_metrics, epoch=trainer.current_epoch, step=trainer.global_step)
        return os.path.join(self.dirpath, self.filename.format(**values) + ".ckpt")

    def _on_epoch_result(self, trainer):
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        os.makedirs(self.dirpath, exist_ok=True)
        mode = self.mode if self.monitor else "max"
        score = _monitored(trainer, self.monitor, "ModelCheckpoint") if self.monitor else float(trainer.global_step)
        if self.save_top_k != 0:
            path = self.format_path(trainer)
            self.best_k_models = [e for e in self.best_k_models if e[0] != path]
            full = 0 < self.save_top_k <= len(self.best_k_models)
            if not full or _improves(score, self.best_k_models[-1][1], mode):
                if full:  # a file listed by a resumed checkpoint may be gone already
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(self.best_k_models.pop()[0])
                at = next((i for i, e in enumerate(self.best_k_models) if _improves(score, e[1], mode)),
                          len(self.best_k_models))
                self.best_k_models.insert(at, (path, score))
                trainer.save_checkpoint(path)
                self.last_model_path = path
        if self.save_last:
            self.last_model_path = os.path.join(self.dirpath, "last.ckpt")
            trainer.save_checkpoint(self.last_model_path)

    def on_save_checkpoint(self, trainer, checkpoint):
        checkpoint["metadata"][f"ModelCheckpoint.{self.monitor or ''}.best_k"] = \
            "".join(f"{s!r}\t{p}\n" for p, s in self.best_k_models)

    def on_load_checkpoint(self, trainer, checkpoint):
        lines = checkpoint["metadata"].get(f"ModelCheckpoint.{self.monitor or ''}.best_k")
        if lines is not None:
            self.best_k_models = [(p, float(s)) for s, p in (ln.split("\t", 1) for ln in lines.splitlines())]


class LearningRateMonitor(Callback):
    """Logs "lr-<Optimizer>" ("lr-<Optimizer>/pg<g>" per group when several) each epoch or step."""

    def __init__(self, logging_interval="epoch"):
        if logging_interval not in ("epoch", "step"):
            raise _C.ValueError(f"LearningRateMonitor: logging_interval must be 'epoch' or 'step', "
                                f"got {logging_interval!r}")
        self.logging_interval = logging_interval

    def _log(self, trainer):
        opt = trainer.optimizer
        base = f"lr-{type(opt).__name__}"
        n = opt.num_param_groups
        trainer.log({base if n == 1 else f"{base}/pg{g + 1}": opt.get_lr(g) for g in range(n)})

    def on_train_epoch_start(self, trainer):
        if self.logging_interval == "epoch":
            self._log(trainer)

    def on_train_batch_start(self, trainer, batch, index):
        if self.logging_interval == "step" and index % trainer.accumulate_grad_batches == 0:
            self._log(trainer)


def _epoch_level(name):
    """train_* and val_* values other than the per-step *_step ones (logged once per epoch)."""
    return name.startswith(("train_", "val_")) and not name.endswith("_step")


class TensorBoardLogger(Callback):
    """What the Trainer logs, as TensorBoard event files (doppel.utils.tensorboard.SummaryWriter), in
    Lightning's folder <save_dir>/<name>/version_<N> (<save_dir>/version_<N> with name ""; N the
    given version or one more than the largest there, chosen at the writer's first use), as the C++
    callbacks::TensorBoardLogger (eager/include/doppel/trainer/tensorboard_logger.h):

    - every logged value as a scalar: train_*/val_* epoch values at step = the epoch, the rest
      (*_step values, "epoch", LearningRateMonitor's lr-*, test_*, your own) at the global step;
    - the graph once, after the first training batch: the compiled training step's graph, or with
      compile=False the model's forward traced on that batch in eval mode without autograd;
    - at the end of fit(), the Trainer's options and `hparams` (yours win on a clash) as an hparams
      session of the run, with the last epoch's values as the metrics "hparams/<name>".
    writer_kwargs go to the SummaryWriter (max_queue, flush_secs, filename_suffix)."""

    def __init__(self, save_dir=".", name="lightning_logs", version=None, log_graph=True, hparams=None,
                 **writer_kwargs):
        if version is not None and version < 0:
            raise _C.ValueError(f"TensorBoardLogger: version must be >= 0, got {version}")
        self.save_dir, self.name, self._version, self.log_graph = str(save_dir), name, version, log_graph
        self.hparams = dict(hparams or {})
        self._writer_kwargs, self._writer, self._graph_logged, self._fit_hparams = writer_kwargs, None, False, {}

    @property
    def version(self):
        if self._version is None:
            root = os.path.join(self.save_dir, self.name)
            found = [int(d[8:]) for d in (os.listdir(root) if os.path.isdir(root) else [])
                     if d.startswith("version_") and d[8:].isdigit() and os.path.isdir(os.path.join(root, d))]
            self._version = max(found) + 1 if found else 0
        return self._version

    @property
    def log_dir(self):
        return os.path.join(self.save_dir, self.name, f"version_{self.version}")

    @property
    def experiment(self):
        """The SummaryWriter (Lightning's name), made on first use."""
        if self._writer is None:
            from .utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(self.log_dir, **self._writer_kwargs)
        return self._writer

    def on_fit_start(self, trainer):
        opt, sched = trainer.optimizer, trainer.scheduler
        self._fit_hparams = {
            "optimizer": type(opt).__name__, "lr": opt.get_lr(0),
            "scheduler": "none" if sched is None else type(sched).__name__,
            "scheduler_interval": trainer.scheduler_interval, "compile": trainer.compile,
            "graph_passes": trainer.graph_passes, "accumulate_grad_batches": trainer.accumulate_grad_batches,
            "gradient_clip_val": trainer.gradient_clip_val, "gradient_clip_algorithm": trainer.gradient_clip_algorithm,
            "precision": trainer.precision, "limit_train_batches": trainer.limit_train_batches or 0,
            "limit_eval_batches": trainer.limit_eval_batches or 0, "log_every_n_steps": trainer.log_every_n_steps}
        self._fit_hparams.update(self.hparams)

    def on_train_batch_end(self, trainer, batch, index):
        if not self.log_graph or self._graph_logged:
            return
        x, y = batch
        if trainer.compile:
            try:  # the compiled step traces on its second call: until then there is no graph
                graph = trainer.compiled_step.graph(x, y)
            except _C.ValueError:
                return
            self.experiment.add_graph(graph)
        else:
            model = trainer.model
            was_training = model.training
            model.eval()
            try:
                with no_grad():
                    self.experiment.add_graph(model, x)
            finally:
                model.train(was_training)
        self._graph_logged = True

    def on_train_epoch_end(self, trainer):
        self.experiment.flush()

    def on_validation_end(self, trainer):
        self.experiment.flush()

    def on_log(self, trainer, values, step):
        for k, v in values.items():
            self.experiment.add_scalar(k, v, trainer.current_epoch if _epoch_level(k) else step)
        if not trainer.fitting:
            self.experiment.flush()

    def on_fit_end(self, trainer):
        last = trainer.history[-1] if trainer.history else {}
        # run_name ".": the session is this run (its folder), as Lightning's logger writes it.
        self.experiment.add_hparams(self._fit_hparams, {f"hparams/{k}": v for k, v in last.items() if _epoch_level(k)},
                                    run_name=".")
        self.experiment.flush()


class ProgressBar(_EpochResultCallback):
    """The batch count and running `*_step` values, redrawn in place on a terminal, and one line
    per epoch with its train and validation values and duration."""

    def __init__(self, file=None):
        self.file = file if file is not None else sys.stderr
        self._start = time.perf_counter()

    def on_train_epoch_start(self, trainer):
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, batch, index):
        if self.file.isatty():
            fields = " ".join(f"{k} {v:.4f}" for k, v in sorted(trainer.callback_metrics.items()) if k.endswith("_step"))
            print(f"\repoch {trainer.current_epoch}: {index + 1}/{trainer.num_training_batches} {fields}", end="",
                  file=self.file, flush=True)

    def on_train_epoch_end(self, trainer):
        if self.file.isatty():
            print(file=self.file)
        super().on_train_epoch_end(trainer)

    def _on_epoch_result(self, trainer):
        fields = " ".join(f"{k} {v:.4f}" for k, v in sorted(trainer.callback_metrics.items())
                          if _epoch_level(k))
        print(f"epoch {trainer.current_epoch}: {fields} ({time.perf_counter() - self._start:.1f} s)", file=self.file,
              flush=True)


def _cross_entropy(output, target):
    from .nn import functional as F

    return F.cross_entropy(output, target)


class Trainer:
    def __init__(self, optimizer=None, scheduler=None, scheduler_interval="epoch", loss=None, training_step=None,
                 metrics=(), callbacks=(), compile=True, accumulate_grad_batches=1, gradient_clip_val=0.0,
                 gradient_clip_algorithm="norm", precision="32", limit_train_batches=None, limit_eval_batches=None,
                 log_every_n_steps=1, graph_passes=False):
        if accumulate_grad_batches < 1:
            raise _C.ValueError(f"Trainer: accumulate_grad_batches must be >= 1, got {accumulate_grad_batches}")
        if gradient_clip_algorithm not in ("norm", "value"):
            raise _C.ValueError(f"Trainer: gradient_clip_algorithm must be 'norm' or 'value', "
                                f"got {gradient_clip_algorithm!r}")
        if precision not in ("32", "bf16-mixed"):
            raise _C.ValueError(f"Trainer: precision must be '32' or 'bf16-mixed', got {precision!r}")
        self.precision = precision
        if scheduler_interval not in ("epoch", "step"):
            raise _C.ValueError(f"Trainer: scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        self.optimizer, self.scheduler, self.scheduler_interval = optimizer, scheduler, scheduler_interval
        self.loss = loss or _cross_entropy
        self.training_step = training_step
        self.metrics = list(metrics)
        # Checkpoint callbacks last, as in the C++ Trainer and Lightning.
        self.callbacks = sorted(callbacks, key=lambda c: isinstance(c, ModelCheckpoint))
        # graph_passes=False by default, unlike C++: the passes' rewrites of a Python step (seen with
        # Linear/ReLU/cross_entropy) differ from eager in the last bits, and a resumed fit runs its
        # first two steps eagerly (compile's warm-up and trace) where the uninterrupted fit replayed
        # the graph, so with them the resume would not be bit-identical.
        self.compile, self.graph_passes = compile, graph_passes
        self.accumulate_grad_batches = accumulate_grad_batches
        self.gradient_clip_val, self.gradient_clip_algorithm = gradient_clip_val, gradient_clip_algorithm
        self.limit_train_batches, self.limit_eval_batches = limit_train_batches, limit_eval_batches
        self.log_every_n_steps = log_every_n_steps
        self.callback_metrics, self.history = {}, []
        self.should_stop, self.fitting, self.has_validation = False, False, False
        self.current_epoch = self.global_step = self._num_batches = 0
        self._model = None

    @property
    def model(self):
        """The model being fitted (only during fit())."""
        if self._model is None:
            raise _C.ValueError("Trainer.model: only available during fit()")
        return self._model

    @property
    def num_training_batches(self):
        """Batches per epoch of the current fit (limit_train_batches applied)."""
        return self._num_batches

    # ---- logging
    def log(self, values):
        self.callback_metrics.update(values)
        for c in self.callbacks:
            c.on_log(self, dict(values), self.global_step)

    # ---- steps
    def _forward_loss(self, model, x, y):
        if self.precision == "bf16-mixed":
            with autocast("cpu", _C.bfloat16):
                return self._forward_loss_as_is(model, x, y)
        return self._forward_loss_as_is(model, x, y)

    def _forward_loss_as_is(self, model, x, y):
        if self.training_step is not None:
            r = self.training_step(model, (x, y))
            return r if isinstance(r, tuple) else (r, None)
        out = model(x)
        return self.loss(out, y), out

    def _optimizer_step(self):
        if self.gradient_clip_val > 0:
            clip = _C.optim.clip_grad_norm_ if self.gradient_clip_algorithm == "norm" else _C.optim.clip_grad_value_
            clip(self.optimizer.parameters(), self.gradient_clip_val)
        self.optimizer.step()

    def _train_micro(self, x, y):
        self.optimizer.zero_grad()
        loss, out = self._forward_loss(self._model, x, y)
        n = self.accumulate_grad_batches
        (loss / n if n > 1 else loss).backward()
        if n == 1:
            self._optimizer_step()
        with no_grad():
            return (loss.detach(),) if out is None else (loss.detach(), out.detach())

    def _accumulate(self, first, last):
        params = self.optimizer.parameters()
        if first:
            self._grad_sums = [None] * len(params)
        with no_grad():
            for k, p in enumerate(params):
                if p.grad is None:
                    continue
                if self._grad_sums[k] is None:
                    self._grad_sums[k] = p.grad.clone()  # a replayed graph may reuse the buffer
                else:
                    self._grad_sums[k].add_(p.grad)
        if last:
            for p, g in zip(params, self._grad_sums):
                p.grad = g
            self._optimizer_step()

    # ---- fit
    def fit(self, model, train_loader, val_loader=None, max_epochs=1, ckpt_path=None):
        if self.optimizer is None:
            raise _C.ValueError("Trainer.fit: no optimizer; pass Trainer(optimizer=...)")
        self._model, self.fitting, self.has_validation = model, True, val_loader is not None
        self.should_stop, self.history = False, []
        self.global_step, self._next_epoch, self._next_batch = 0, 0, 0
        self._num_batches = len(train_loader) if self.limit_train_batches is None else \
            min(len(train_loader), self.limit_train_batches)
        try:
            if ckpt_path:
                self._restore(ckpt_path)
            step = self.compiled_step = self._train_micro
            if self.compile:
                from .graph import compile as _compile

                step = self.compiled_step = _compile(self._train_micro, dynamic=True, state=model,
                                                     optimize=self.graph_passes)
            for c in self.callbacks:
                c.on_fit_start(self)
            was_training = model.training
            model.train()
            self.current_epoch = self._next_epoch
            while self.current_epoch < max_epochs and not self.should_stop:
                ran = self._train_epoch(train_loader, step)
                if self._next_batch < self._num_batches:
                    break
                if self.scheduler is not None and self.scheduler_interval == "epoch":
                    self.scheduler.step()
                self._next_epoch, self._next_batch = self.current_epoch + 1, 0
                epoch = {"epoch": float(self.current_epoch)}
                if ran:
                    epoch["train_loss"] = self._loss_sum / self._loss_n
                    epoch.update({"train_" + m.name: m.compute() for m in self.metrics})
                self.log(epoch)
                for c in self.callbacks:
                    c.on_train_epoch_end(self)
                if val_loader is not None:
                    for c in self.callbacks:
                        c.on_validation_start(self)
                    v = self._evaluate(model, val_loader, "val")
                    self.log(v)
                    epoch.update(v)
                    for c in self.callbacks:
                        c.on_validation_end(self)
                self.history.append(epoch)
                self.current_epoch += 1
            model.train(was_training)
            for c in self.callbacks:
                c.on_fit_end(self)
        finally:
            self.fitting, self._model = False, None

    def _train_epoch(self, loader, step):
        n = self.accumulate_grad_batches
        self._loss_sum, self._loss_n, ran = 0.0, 0, 0
        for m in self.metrics:
            m.reset()
        for c in self.callbacks:
            c.on_train_epoch_start(self)
        loader.epoch = self.current_epoch
        for i, (x, y) in enumerate(loader):
            if i >= self._num_batches or self.should_stop:
                break
            if i < self._next_batch:  # run before the checkpoint this fit resumed from
                continue
            for c in self.callbacks:
                c.on_train_batch_start(self, (x, y), i)
            first, last = i % n == 0, i % n == n - 1 or i + 1 == self._num_batches
            out = step(x, y)
            out = out if isinstance(out, (tuple, list)) else (out,)
            if n > 1:
                self._accumulate(first, last)
            if last:
                self.global_step += 1
                if self.scheduler is not None and self.scheduler_interval == "step":
                    self.scheduler.step()
            self._loss_sum += out[0].item() * x.shape[0]
            self._loss_n += x.shape[0]
            if self.metrics:
                if len(out) < 2:
                    raise _C.ValueError("Trainer: metrics need the model's output; return (loss, output) "
                                        "from training_step")
                for m in self.metrics:
                    m.update(out[1], y)
            self._next_batch, ran = i + 1, ran + 1
            if last and self.global_step % self.log_every_n_steps == 0:
                values = {"train_loss_step": self._loss_sum / self._loss_n}
                values.update({f"train_{m.name}_step": m.compute() for m in self.metrics})
                self.log(values)
            for c in self.callbacks:
                c.on_train_batch_end(self, (x, y), i)
        return ran

    # ---- evaluation
    def _evaluate(self, model, loader, stage):
        was_training = model.training
        model.eval()
        metrics = [m.clone() for m in self.metrics]
        total = count = batches = 0
        try:
            for x, y in loader:
                if self.limit_eval_batches is not None and batches >= self.limit_eval_batches:
                    break
                with no_grad():
                    loss, out = self._forward_loss(model, x, y)
                total += loss.item() * x.shape[0]
                count += x.shape[0]
                batches += 1
                for m in metrics:
                    m.update(out, y)
        finally:
            model.train(was_training)
        if batches == 0:
            raise _C.ValueError(f"Trainer.{stage}: the data loader yielded no batch")
        r = {f"{stage}_loss": total / count}
        r.update({f"{stage}_{m.name}": m.compute() for m in metrics})
        return r

    def validate(self, model, loader):
        r = self._evaluate(model, loader, "val")
        self.log(r)
        return r

    def test(self, model, loader):
        r = self._evaluate(model, loader, "test")
        self.log(r)
        return r

    def predict(self, model, loader):
        was_training = model.training
        model.eval()
        try:
            with no_grad(), autocast("cpu", _C.bfloat16, enabled=self.precision == "bf16-mixed"):
                return [model(b[0] if isinstance(b, (tuple, list)) else b) for b in loader]
        finally:
            model.train(was_training)

    # ---- checkpoints
    def save_checkpoint(self, path):
        if not self.fitting:
            raise _C.ValueError("Trainer.save_checkpoint: only during fit()")
        seed, offset = _C.get_rng_state()
        tensors = {f"model/{k}": v for k, v in self._model.state_dict().items()}
        tensors.update({f"optimizer/{k}": v for k, v in self.optimizer.state_dict().items()})
        if self.scheduler is not None:
            tensors.update({f"scheduler/{k}": v for k, v in self.scheduler.state_dict().items()})
        checkpoint = {"tensors": tensors, "metadata": {
            "trainer.position": f"{self._next_epoch} {self._next_batch} {self.global_step} {seed} {offset}"}}
        for c in self.callbacks:
            c.on_save_checkpoint(self, checkpoint)
        _save(checkpoint["tensors"], path, metadata=checkpoint["metadata"])

    def _restore(self, path):
        tensors, metadata = _load(path, with_metadata=True)
        checkpoint = {"tensors": tensors, "metadata": metadata}

        def part(name):
            return {k[len(name) + 1:]: v for k, v in tensors.items() if k.startswith(name + "/")}

        if "trainer.position" not in metadata:
            raise _C.ValueError(f"Trainer: {path} is not a Trainer checkpoint (no 'trainer.position' metadata)")
        self._model.load_state_dict(part("model"))
        self.optimizer.load_state_dict(part("optimizer"))
        if self.scheduler is not None:
            self.scheduler.load_state_dict(part("scheduler"))
        epoch, batch, step, seed, offset = (int(v) for v in metadata["trainer.position"].split())
        self._next_epoch, self._next_batch, self.global_step = epoch, batch, step
        _C.set_rng_state((seed, offset))
        for c in self.callbacks:
            c.on_load_checkpoint(self, checkpoint)
