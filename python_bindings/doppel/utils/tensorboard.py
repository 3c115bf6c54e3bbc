"""doppel.utils.tensorboard: TensorBoard event files with torch.utils.tensorboard's API.

    from doppel.utils.tensorboard import SummaryWriter

    writer = SummaryWriter()                    # runs/Dec06_20-35-07_<host>
    for step in range(100):
        writer.add_scalar("loss/train", loss.item(), step)
    writer.add_histogram("fc1.weight", model.fc1.weight, step)
    writer.add_graph(model, x)                  # the traced doppel graph
    writer.close()

then `tensorboard --logdir runs`. The names, arguments and semantics are PyTorch 1.13's; the
records are written by the C++ doppel::tensorboard::SummaryWriter (tensorboard/README.md).
Values may be doppel Tensors, numpy arrays or Python numbers.
"""
import time

import numpy as np

from .. import _C

__all__ = ["SummaryWriter"]


def _array(x):
    """`x` as a numpy array (doppel Tensors through their numpy view)."""
    if isinstance(x, _C.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _tensor(x, what):
    """`x` as a doppel Tensor (numpy arrays and sequences copied in)."""
    if isinstance(x, _C.Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected a doppel Tensor, a numpy array or numbers, got {type(x).__name__}")
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    return _C.from_numpy(np.ascontiguousarray(arr))


def _scalar(x, what):
    """A Python float from a number, a one-element array or a one-element Tensor."""
    arr = _array(x)
    if arr.size != 1:
        raise ValueError(f"{what}: a scalar must have one element, got shape {tuple(arr.shape)}")
    return float(arr.reshape(()))


def _captured_graph(compiled, inputs):
    """The graph `compiled` replays for `inputs`, calling it until it has traced one."""
    for _ in range(3):
        try:
            return compiled.graph(*inputs)
        except _C.ValueError:
            compiled(*inputs)
    return compiled.graph(*inputs)


def _step(global_step):
    return None if global_step is None else int(global_step)


class SummaryWriter:
    """Writes TensorBoard event files into log_dir (default runs/<Mon><day>_<HH-MM-SS>_<host><comment>).

    Events are queued (max_queue) and written by a thread that flushes every flush_secs;
    flush() writes now, close() closes the files (a later add_* opens a new one). purge_step:
    TensorBoard drops this run's events at steps >= purge_step (resuming after a crash)."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120, filename_suffix=""):
        self._w = _C.tensorboard.SummaryWriter(
            "" if log_dir is None else str(log_dir), str(comment), None if purge_step is None else int(purge_step),
            int(max_queue), float(flush_secs), str(filename_suffix))
        self.log_dir = self._w.log_dir
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix

    def get_logdir(self):
        """The folder the event files are written to."""
        return self.log_dir

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False, double_precision=False):
        self._w.add_scalar(tag, _scalar(scalar_value, "add_scalar"), _step(global_step), walltime, new_style,
                           double_precision)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Several scalars in one chart: each key is a run <log_dir>/<main_tag>_<key>."""
        values = [(str(k), _scalar(v, "add_scalars")) for k, v in tag_scalar_dict.items()]
        self._w.add_scalars(main_tag, values, _step(global_step), walltime)

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None, max_bins=None):
        """bins: 'tensorflow' (TensorFlow's default buckets), an int, a sequence of edges, or any
        numpy.histogram bin rule ('auto', 'fd', 'sturges', ...)."""
        if isinstance(bins, str) and bins == "tensorflow":
            edges = None
        elif isinstance(bins, str):
            edges = [float(e) for e in np.histogram_bin_edges(_array(values).astype(float).reshape(-1), bins)]
        elif isinstance(bins, (int, np.integer)):
            edges = int(bins)
        else:
            edges = [float(e) for e in _array(bins).reshape(-1)]
        self._w.add_histogram(tag, _tensor(values, "add_histogram"), _step(global_step), edges, walltime,
                              None if max_bins is None else int(max_bins))

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """A PNG image: float values in [0, 1] (scaled by 255) or uint8; dataformats CHW, HWC or HW."""
        self._w.add_image(tag, _tensor(img_tensor, "add_image"), _step(global_step), walltime, dataformats)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        """A batch of images as one grid (8 per row); dataformats NCHW, NHWC, ..."""
        self._w.add_images(tag, _tensor(img_tensor, "add_images"), _step(global_step), walltime, dataformats)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        self._w.add_text(tag, str(text_string), _step(global_step), walltime)

    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None):
        """One hparams session in the run folder <log_dir>/<run_name> (default: the time now).

        As PyTorch 1.13: ints, floats and bools are numbers, one-element Tensors too; None values
        are left out."""
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        hparam_domain_discrete = hparam_domain_discrete or {}
        if not isinstance(hparam_domain_discrete, dict):
            raise TypeError("parameter: hparam_domain_discrete should be a dictionary, nothing logged.")
        for k, v in hparam_domain_discrete.items():
            same_type = isinstance(v, list) and all(isinstance(d, type(hparam_dict.get(k))) for d in v)
            if k not in hparam_dict or not same_type:
                raise TypeError(f"parameter: hparam_domain_discrete[{k}] should be a list of same type as "
                                f"hparam_dict[{k}].")

        def value(v):
            if isinstance(v, (int, float, np.integer, np.floating)):  # bool is an int, as in PyTorch
                return float(v)
            if isinstance(v, str):
                return v
            if isinstance(v, _C.Tensor):
                return float(_array(v).reshape(-1)[0])
            raise ValueError("value should be one of int, float, str, bool, or torch.Tensor")

        hparams = [(str(k), value(v)) for k, v in hparam_dict.items() if v is not None]
        domains = {str(k): [value(d) for d in v] for k, v in hparam_domain_discrete.items()}
        metrics = [(str(k), _scalar(v, "add_hparams")) for k, v in metric_dict.items()]
        self._w.add_hparams(hparams, metrics, domains, run_name or str(time.time()))

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        """The graph of `model` for TensorBoard's Graphs dashboard: a Module or function traced
        on input_to_model (a Tensor or a tuple of them), a doppel.compile'd function (its
        optimized graph for those inputs; called until it has captured one: its first call
        runs eagerly, the second traces), or a captured Graph (doppel.trace(...).graph).
        verbose and use_strict_trace are PyTorch's tracer options; doppel's tracer has none."""
        from .. import graph as _graph

        if isinstance(model, _C.Graph):
            g = model
        else:
            if input_to_model is None:
                raise ValueError("add_graph: pass input_to_model, the example inputs to trace the model on")
            inputs = tuple(input_to_model) if isinstance(input_to_model, (tuple, list)) else (input_to_model,)
            if isinstance(model, _graph.CompiledFunction):
                g = _captured_graph(model, inputs)
            else:
                g = _graph.trace(model, *inputs).graph
        self._w.add_graph(g, None)

    def add_embedding(self, mat, metadata=None, label_img=None, global_step=None, tag="default",
                      metadata_header=None):
        """Points for the Projector: mat [N, D]; metadata a label per point (or, with
        metadata_header, a list of columns per point); label_img [N, C, H, W] in [0, 1]."""
        rows = None
        if metadata is not None:
            if isinstance(metadata, _C.Tensor):
                metadata = metadata.tolist()
            rows = [[str(e) for e in row] for row in metadata] if metadata_header else [[str(x)] for x in metadata]
        label = None if label_img is None else _tensor(label_img, "add_embedding")
        self._w.add_embedding(_tensor(mat, "add_embedding"), rows, [str(h) for h in metadata_header or []], label,
                              _step(global_step), tag)

    def flush(self):
        self._w.flush()

    def close(self):
        self._w.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()
