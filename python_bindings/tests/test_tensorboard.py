"""doppel.utils.tensorboard.SummaryWriter: the event files read back by the tensorboard package
itself (EventAccumulator, its event file loader, its plugins' protos, its HTTP server), with
values checked against numpy computations written here, and against PyTorch 1.13's own
SummaryWriter (Debian's torch, when /usr/bin/python3 has it) writing the same sequence."""
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import plugin_data_pb2 as hparams_pb2
from tensorboard.util import tensor_util

import doppel
from doppel.utils.tensorboard import SummaryWriter


def accumulator(folder):
    ea = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0})
    ea.Reload()
    return ea


def events(folder):
    """Every Event of the (one) event file directly in `folder` (the loader checks the CRCs)."""
    files = sorted(pathlib.Path(folder).glob("events.out.tfevents.*"))
    assert len(files) == 1, files
    return list(EventFileLoader(str(files[0])).Load())


def png_pixels(encoded):
    return np.asarray(Image.open(io.BytesIO(encoded)))


# ---- scalars


def test_scalars_read_back_with_steps_and_walltimes(tmp_path):
    values = [1.0, 0.5, 1 / 3, -2.25e-7, 3.4e38]
    with SummaryWriter(tmp_path) as w:
        for i, v in enumerate(values):
            w.add_scalar("loss/train", v, i * 10, walltime=1000.0 + i)
        w.add_scalar("t", doppel.tensor([2.5]), np.int64(7))  # a one-element Tensor, a numpy step
        w.add_scalar("nostep", 4.0)
    ea = accumulator(tmp_path)
    got = ea.Scalars("loss/train")
    assert [e.step for e in got] == [0, 10, 20, 30, 40]
    assert [e.wall_time for e in got] == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]
    assert [e.value for e in got] == [float(np.float32(v)) for v in values]  # simple_value is a float32
    assert [(e.step, e.value) for e in ea.Scalars("t")] == [(7, 2.5)]
    assert [(e.step, e.value) for e in ea.Scalars("nostep")] == [(0, 4.0)]
    now = time.time()
    assert abs(ea.Scalars("nostep")[0].wall_time - now) < 60


def test_new_style_scalars_are_scalar_tensors_of_the_scalars_plugin(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_scalar("f", 0.1, 1, new_style=True)
        w.add_scalar("d", 0.1, 2, new_style=True, double_precision=True)
    ea = accumulator(tmp_path)
    f, d = ea.Tensors("f")[0], ea.Tensors("d")[0]
    assert tensor_util.make_ndarray(f.tensor_proto) == np.float32(0.1) and f.step == 1
    assert tensor_util.make_ndarray(d.tensor_proto).dtype == np.float64
    assert tensor_util.make_ndarray(d.tensor_proto) == 0.1
    assert ea.SummaryMetadata("f").plugin_data.plugin_name == "scalars"


def test_add_scalars_writes_one_run_per_key(tmp_path):
    with SummaryWriter(tmp_path) as w:
        for step in range(3):
            w.add_scalars("run/loss", {"train": 1.0 / (step + 1), "val": 2.0 + step}, step)
    runs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert runs == ["run_loss_train", "run_loss_val"]
    train = accumulator(tmp_path / "run_loss_train").Scalars("run/loss")
    val = accumulator(tmp_path / "run_loss_val").Scalars("run/loss")
    assert [(e.step, e.value) for e in train] == [(0, 1.0), (1, 0.5), (2, float(np.float32(1 / 3)))]
    assert [(e.step, e.value) for e in val] == [(0, 2.0), (1, 3.0), (2, 4.0)]


# ---- histograms


def tensorflow_bins():
    v, pos = 1e-12, []
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    return [-x for x in reversed(pos)] + [0] + pos


def expected_histogram(values, bins, max_bins=None):
    """PyTorch 1.13's make_histogram, restated with numpy."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    counts, limits = np.histogram(values, bins=bins)
    if max_bins is not None and len(counts) > max_bins:
        sub = len(counts) // max_bins
        if len(counts) % sub:
            counts = np.pad(counts, [0, sub - len(counts) % sub])
        counts = counts.reshape(-1, sub).sum(axis=-1)
        limits = np.concatenate([limits[:-1:sub], limits[-1:]])
    nonzero = np.flatnonzero(counts)
    start, end = nonzero[0], nonzero[-1] + 1
    counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
    limits = limits[start:end + 1]
    return dict(min=values.min(), max=values.max(), num=len(values), sum=values.sum(),
                sum_squares=values.dot(values), bucket_limit=limits.tolist(), bucket=counts.tolist())


@pytest.mark.parametrize("bins, max_bins", [
    ("tensorflow", None), (10, None), (1, None), ([-3.0, -1.0, 0.0, 0.5, 2.0], None), ("auto", None),
    ("tensorflow", 17), (64, 7), ("fd", 3)])
def test_histograms_are_numpy_histograms_trimmed_as_pytorch(tmp_path, bins, max_bins):
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(size=500), [0.0, -0.0, 5e-13, 1e-300, 40.0, -7.5]])
    with SummaryWriter(tmp_path) as w:
        w.add_histogram("float64", values, 3, bins=bins, max_bins=max_bins)
        w.add_histogram("float32_tensor", doppel.tensor(values.astype(np.float32)), 4, bins=bins, max_bins=max_bins)
    ea = accumulator(tmp_path)
    for tag, vals in [("float64", values), ("float32_tensor", values.astype(np.float32))]:
        h = ea.Histograms(tag)[0].histogram_value
        edges = tensorflow_bins() if bins == "tensorflow" else bins
        want = expected_histogram(vals, edges, max_bins)
        assert list(h.bucket_limit) == pytest.approx(want["bucket_limit"], rel=1e-12, abs=0)
        assert list(h.bucket) == want["bucket"]
        assert (h.min, h.max, h.num) == (want["min"], want["max"], want["num"])
        assert h.sum == pytest.approx(want["sum"], rel=1e-12, abs=1e-12)
        assert h.sum_squares == pytest.approx(want["sum_squares"], rel=1e-12)


def test_histogram_of_constant_values_and_values_outside_the_edges(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_histogram("const", np.full(5, 2.0), 0, bins=4)  # numpy widens to [1.5, 2.5]
        w.add_histogram("outside", np.array([-10.0, 0.5, 0.7, 99.0, np.nan]), 0, bins=[0.0, 1.0, 2.0])
    ea = accumulator(tmp_path)
    const = ea.Histograms("const")[0].histogram_value
    assert list(const.bucket_limit) == [2.0, 2.25] and list(const.bucket) == [0.0, 5.0]
    out = ea.Histograms("outside")[0].histogram_value
    assert list(out.bucket_limit) == [0.0, 1.0] and list(out.bucket) == [0.0, 2.0]
    assert out.num == 5 and np.isnan(out.min) and np.isnan(out.sum)


# ---- images


def grid(batch_nchw):
    """PyTorch's make_grid: up to 8 images a row, black where the last row is short."""
    n, c, h, w = batch_nchw.shape
    cols = min(n, 8)
    rows = -(-n // cols)
    canvas = np.zeros((rows * h, cols * w, c), batch_nchw.dtype)
    for i in range(n):
        y, x = (i // cols) * h, (i % cols) * w
        canvas[y:y + h, x:x + w] = batch_nchw[i].transpose(1, 2, 0)
    return canvas


def test_images_decode_to_the_written_pixels(tmp_path):
    rng = np.random.default_rng(1)
    chw = rng.random((3, 5, 7)).astype(np.float32)
    chw[0, 0, :4] = [-0.5, 1.5, np.float32(0.5), np.float32(1 / 255)]  # clipped; 127.5 and 0.99.. truncate
    hwc_u8 = rng.integers(0, 256, (6, 4, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (2, 3, 4), dtype=np.uint8)
    gray = rng.random((1, 4, 4))  # float64
    hw = rng.random((3, 2)).astype(np.float32)
    batch = rng.random((10, 3, 4, 5)).astype(np.float32)
    nhwc_gray = rng.integers(0, 256, (3, 4, 2, 1), dtype=np.uint8)
    with SummaryWriter(tmp_path) as w:
        w.add_image("chw", doppel.tensor(chw), 0)
        w.add_image("hwc_u8", hwc_u8, 1, dataformats="HWC")
        w.add_image("rgba", rgba, 1, dataformats="HWC")
        w.add_image("gray", gray, 2)
        w.add_image("hw", hw, 3, dataformats="HW")
        w.add_images("batch", batch, 4)
        w.add_images("nhwc_gray", nhwc_gray, 5, dataformats="NHWC")

    def to_u8(x):  # PyTorch: x * 255 (uint8: * 1) in float32, clipped, truncated
        scale = 1 if x.dtype == np.uint8 else 255
        return (x.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)

    want = {
        "chw": to_u8(chw).transpose(1, 2, 0),
        "hwc_u8": hwc_u8,
        "rgba": rgba,
        "gray": np.repeat(to_u8(gray).transpose(1, 2, 0), 3, axis=2),
        "hw": np.repeat(to_u8(hw)[:, :, None], 3, axis=2),
        "batch": grid(to_u8(batch)),
        "nhwc_gray": grid(np.repeat(nhwc_gray.transpose(0, 3, 1, 2), 3, axis=1)),
    }
    assert want["chw"][0, 0, 0] == 0 and want["chw"][0, 1, 0] == 255 and want["chw"][0, 2, 0] == 127
    ea = accumulator(tmp_path)
    for tag, expected in want.items():
        img = ea.Images(tag)[0]
        assert (img.height, img.width) == expected.shape[:2], tag
        np.testing.assert_array_equal(png_pixels(img.encoded_image_string), expected, err_msg=tag)
    assert want["batch"].shape == (8, 40, 3)  # 10 images: 2 rows of 8 columns


def test_bad_images_and_histograms_are_typed_errors(tmp_path):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(doppel.ValueError, match="CHW"):
            w.add_image("x", np.zeros((4, 4)))  # 2-D needs dataformats="HW"
        with pytest.raises(doppel.ShapeError, match="2 channels"):
            w.add_image("x", np.zeros((2, 4, 4)))
        with pytest.raises(doppel.ValueError, match="no element"):
            w.add_histogram("x", np.zeros((0,)))
        with pytest.raises(doppel.ValueError, match="not finite"):
            w.add_histogram("x", np.array([1.0, np.inf]), bins=3)
        with pytest.raises(ValueError, match="one element"):
            w.add_scalar("x", np.ones(2))


# ---- text, hparams


def test_text_is_a_string_tensor_of_the_text_plugin(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_text("notes", "**bold** and ünïcode", 2)
    ea = accumulator(tmp_path)
    t = ea.Tensors("notes/text_summary")[0]
    assert t.step == 2
    assert tensor_util.make_ndarray(t.tensor_proto).tolist() == ["**bold** and ünïcode".encode()]
    assert ea.SummaryMetadata("notes/text_summary").plugin_data.plugin_name == "text"


def hparams_content(ea, tag):
    md = ea.SummaryMetadata(tag).plugin_data
    assert md.plugin_name == "hparams"
    return hparams_pb2.HParamsPluginData.FromString(md.content)


def test_hparams_as_pytorch_writes_them(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_hparams({"lr": 0.01, "layers": 3, "opt": "adam", "bn": True, "skip": None, "t": doppel.tensor([0.5])},
                      {"hparam/accuracy": 0.875, "hparam/loss": doppel.tensor(0.25)},
                      hparam_domain_discrete={"opt": ["adam", "sgd"], "layers": [2, 3]}, run_name="trial1")
    ea = accumulator(tmp_path / "trial1")
    exp = hparams_content(ea, "_hparams_/experiment").experiment
    infos = {i.name: i for i in exp.hparam_infos}
    assert list(infos) == ["lr", "layers", "opt", "bn", "t"]  # None left out, order kept
    assert infos["opt"].type == api_pb2.DATA_TYPE_STRING
    assert infos["bn"].type == api_pb2.DATA_TYPE_FLOAT64  # PyTorch: a bool is an int
    assert [v.string_value for v in infos["opt"].domain_discrete.values] == ["adam", "sgd"]
    assert [v.number_value for v in infos["layers"].domain_discrete.values] == [2.0, 3.0]
    assert [m.name.tag for m in exp.metric_infos] == ["hparam/accuracy", "hparam/loss"]
    start = hparams_content(ea, "_hparams_/session_start_info").session_start_info
    assert start.hparams["lr"].number_value == 0.01 and start.hparams["opt"].string_value == "adam"
    assert start.hparams["bn"].number_value == 1.0 and start.hparams["t"].number_value == 0.5
    end = hparams_content(ea, "_hparams_/session_end_info").session_end_info
    assert end.status == api_pb2.STATUS_SUCCESS
    assert [(e.step, e.value) for e in ea.Scalars("hparam/accuracy")] == [(0, 0.875)]
    assert [(e.step, e.value) for e in ea.Scalars("hparam/loss")] == [(0, 0.25)]
    with SummaryWriter(tmp_path / "w") as w:
        with pytest.raises(TypeError, match="hparam_domain_discrete"):
            w.add_hparams({"opt": "adam"}, {}, hparam_domain_discrete={"opt": [1, 2]})
        with pytest.raises(TypeError):
            w.add_hparams([("lr", 1)], {})
        w.add_hparams({"lr": 1}, {"m": 1.0})  # run name: the time now, as PyTorch
    (run,) = [p for p in (tmp_path / "w").iterdir() if p.is_dir()]
    assert abs(float(run.name) - time.time()) < 60


# ---- graphs


class Net(doppel.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = doppel.nn.Conv2d(1, 2, 3, padding=1)
        self.fc = doppel.nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(doppel.flatten(doppel.relu(self.conv(x)), 1))


def test_graph_has_a_node_per_op_with_edges_shapes_dtypes_and_module_scopes(tmp_path):
    net = Net()
    x = doppel.randn(5, 1, 4, 4)
    traced = doppel.trace(net, x).graph
    with SummaryWriter(tmp_path) as w:
        w.add_graph(net, x)
    g = accumulator(tmp_path).Graph()
    nodes = {n.name: n for n in g.node}
    ops = [n for n in g.node if n.op not in ("IO Node", "Parameter", "Constant")]
    assert [n.op for n in ops] == traced.op_names()
    assert len(ops) == traced.num_nodes
    # Every edge names an existing node; the parameters are grouped under their module.
    for n in g.node:
        for i in n.input:
            assert i.split(":")[0] in nodes, (n.name, i)
    assert {"conv/weight", "conv/bias", "fc/weight", "fc/bias"} <= set(nodes)
    conv = next(n for n in ops if n.op.startswith("conv"))
    assert conv.name.startswith("conv/") and "conv/weight" in conv.input
    assert [d.size for d in conv.attr["_output_shapes"].list.shape[0].dim] == [5, 2, 4, 4]
    assert conv.attr["dtype"].type == 1  # DT_FLOAT
    assert re.search(r"test_tensorboard\.py:\d+", conv.attr["call_site"].s.decode())
    fc = next(n for n in ops if n.name.startswith("fc/"))
    assert [d.size for d in fc.attr["_output_shapes"].list.shape[0].dim] == [5, 3]
    (inp,) = [n for n in g.node if n.name.startswith("input/")]
    (out,) = [n for n in g.node if n.name.startswith("output/")]
    assert inp.op == out.op == "IO Node" and list(out.input) == [ops[-1].name]


def test_graph_of_a_compiled_function_has_dynamic_dims_as_minus_one(tmp_path):
    lin = doppel.nn.Linear(4, 2)
    f = doppel.compile(lambda x: doppel.relu(lin(x)) * 2.0, dynamic=True, state=lin)
    x = doppel.randn(3, 4)
    with SummaryWriter(tmp_path) as w:
        w.add_graph(f, x)
    g = accumulator(tmp_path).Graph()
    (out,) = [n for n in g.node if n.name.startswith("output/")]
    assert [d.size for d in out.attr["_output_shapes"].list.shape[0].dim] == [-1, 2]
    assert [n.op for n in g.node if n.op not in ("IO Node", "Parameter", "Constant")] == f.graph(x).op_names()


# ---- the writer


def test_file_names_default_log_dir_purge_step_and_flush_thread(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_exp", flush_secs=0.05, max_queue=1000, filename_suffix=".x")
    host = re.escape(__import__("socket").gethostname())
    assert re.fullmatch(rf"runs/[A-Z][a-z]{{2}}\d{{2}}_\d{{2}}-\d{{2}}-\d{{2}}_{host}_exp", w.get_logdir())
    (f,) = (tmp_path / w.get_logdir()).iterdir()
    assert re.fullmatch(rf"events\.out\.tfevents\.\d{{10}}\.{host}\.{os.getpid()}\.\d+\.x", f.name)
    w.add_scalar("a", 1.0, 0)
    deadline = time.time() + 10
    while len(events(tmp_path / w.get_logdir())) < 2 and time.time() < deadline:
        time.sleep(0.02)
    assert len(events(tmp_path / w.get_logdir())) == 2  # written by the flush thread, no flush() call
    w.close()

    with SummaryWriter(tmp_path / "p", purge_step=40) as w:
        w.add_scalar("a", 1.0, 40)
    ev = events(tmp_path / "p")
    assert ev[0].file_version == "brain.Event:2"
    assert ev[1].step == 40 and ev[1].file_version == "brain.Event:2"
    assert ev[2].step == 40 and ev[2].session_log.status == event_pb2.SessionLog.START


def test_an_unwritable_log_dir_is_a_value_error_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(doppel.ValueError, match=re.escape(str(blocker / "logs"))):
        SummaryWriter(blocker / "logs")


# ---- PyTorch 1.13's writer as the oracle

TORCH_SEQUENCE = r'''
import sys, numpy as np
W = __import__(sys.argv[1], fromlist=["SummaryWriter"]).SummaryWriter
rng = np.random.default_rng(5)
w = W(sys.argv[2])
for i in range(3):
    w.add_scalar("loss", 1.0 / (i + 1), i, walltime=100.0 + i)
w.add_scalar("new", 0.25, 1, walltime=5.0, new_style=True)
w.add_scalars("all", {"a": 1.0, "b": 2.0}, 4, walltime=6.0)
w.add_text("note", "hello *md*", 3, walltime=7.0)
w.add_image("img", rng.random((3, 4, 5)).astype(np.float32), 2, walltime=8.0)
w.add_images("imgs", rng.integers(0, 256, (3, 4, 5, 3), dtype=np.uint8), 2, walltime=9.0, dataformats="NHWC")
w.add_hparams({"lr": 0.1, "opt": "sgd", "bn": False}, {"acc": 0.5}, hparam_domain_discrete={"opt": ["sgd", "adam"]},
              run_name="hp")
T = __import__("torch").from_numpy if sys.argv[1].startswith("torch") else (lambda a: a)  # torch's wants tensors
w.add_embedding(T(rng.normal(size=(4, 3))), metadata=["a", "b", "c", "d"], label_img=T(rng.random((4, 3, 2, 2))),
                global_step=3, tag="e/x")
w.add_embedding(T(rng.normal(size=(2, 2)).astype(np.float32)), metadata=[[1, "u"], [2, "v"]],
                metadata_header=["i", "s"])
w.close()
'''


def torch_python():
    """/usr/bin/python3 with Debian's torch and, from the venv, tensorboard and its protobuf."""
    if not pathlib.Path("/usr/bin/python3").exists():
        return None
    probe = subprocess.run(["/usr/bin/python3", "-c", "import torch"], capture_output=True)
    return "/usr/bin/python3" if probe.returncode == 0 else None


@pytest.mark.skipif(torch_python() is None, reason="Debian's torch (/usr/bin/python3 -c 'import torch') is absent")
def test_the_same_sequence_as_pytorch_gives_the_same_events(tmp_path):
    site = pathlib.Path(np.__file__).parents[1]
    shim = tmp_path / "shim"
    shim.mkdir()
    for pkg in ("tensorboard", "google", "absl", "PIL"):  # only these: Debian's torch keeps Debian's numpy
        (shim / pkg).symlink_to(site / pkg)
    script = tmp_path / "seq.py"
    script.write_text(TORCH_SEQUENCE)
    subprocess.run(["/usr/bin/python3", script, "torch.utils.tensorboard", tmp_path / "torch"], check=True,
                   env={"PYTHONPATH": str(shim), "PATH": os.environ["PATH"]}, timeout=300)
    subprocess.run([sys.executable, script, "doppel.utils.tensorboard", tmp_path / "doppel"], check=True,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, timeout=300)

    def summaries(folder):
        out = []
        for e in events(folder)[1:]:  # after the file_version record
            for v in e.summary.value:
                if v.metadata.plugin_data.plugin_name == "images":  # [width, height, PNG...] (the loader's
                    pngs = list(v.tensor.string_val)[2:]           # form): PNG encoders differ, the pixels not
                    del v.tensor.string_val[2:]
                    v.tensor.string_val.extend(png_pixels(p).tobytes() for p in pngs)
                if v.metadata.plugin_data.plugin_name == "hparams":  # map entries: any order
                    content = hparams_pb2.HParamsPluginData.FromString(v.metadata.plugin_data.content)
                    v.metadata.plugin_data.content = content.SerializeToString(deterministic=True)
                out.append((e.step, e.wall_time, v))
        return out

    for run in (".", "all_a", "all_b"):
        assert summaries(tmp_path / "doppel" / run) == summaries(tmp_path / "torch" / run), run
    # add_hparams' run: the same records but for the wall times (both "now").
    d, t = summaries(tmp_path / "doppel/hp"), summaries(tmp_path / "torch/hp")
    assert [(s, v) for s, _, v in d] == [(s, v) for s, _, v in t]
    assert [v.tag for _, _, v in d][:3] == ["_hparams_/experiment", "_hparams_/session_start_info",
                                            "_hparams_/session_end_info"]
    # add_embedding's files: the same text, the same sprite pixels.
    for name in ("projector_config.pbtxt", "00003/e%2fx/tensors.tsv", "00003/e%2fx/metadata.tsv",
                 "00000/default/tensors.tsv", "00000/default/metadata.tsv"):
        assert (tmp_path / "doppel" / name).read_text() == (tmp_path / "torch" / name).read_text(), name
    sprite = "00003/e%2fx/sprite.png"
    np.testing.assert_array_equal(png_pixels((tmp_path / "doppel" / sprite).read_bytes()),
                                  png_pixels((tmp_path / "torch" / sprite).read_bytes()))


# ---- TensorBoard itself


def test_tensorboard_serves_the_scalars_and_the_graph(tmp_path):
    with SummaryWriter(tmp_path / "run1") as w:
        for step in range(4):
            w.add_scalar("loss", 2.0 - step * 0.5, step)
        w.add_graph(Net(), doppel.randn(2, 1, 4, 4))
    exe = shutil.which("tensorboard", path=str(pathlib.Path(sys.executable).parent))
    assert exe, "the venv's tensorboard program"
    proc = subprocess.Popen([exe, "--logdir", str(tmp_path), "--host", "127.0.0.1", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url, banner, deadline = None, "", time.time() + 120
        while url is None and time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            banner += line
            m = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
            url = m and m.group(1)
        assert url, banner

        def get(path):
            while True:  # the logdir is loaded in the background: retry until the run is there
                try:
                    with urllib.request.urlopen(url + path, timeout=10) as r:
                        body = r.read()
                    if body.strip() not in (b"[]", b"{}", b""):
                        return body
                except urllib.error.HTTPError as e:
                    if time.time() > deadline:
                        raise AssertionError(f"{path}: {e}") from e
                assert time.time() < deadline, f"{path}: no data within the time limit"
                time.sleep(0.5)

        scalars = json.loads(get("/data/plugin/scalars/scalars?run=run1&tag=loss"))
        assert [(s, v) for _, s, v in scalars] == [(0, 2.0), (1, 1.5), (2, 1.0), (3, 0.5)]
        graph = get("/data/plugin/graphs/graph?run=run1").decode()
        assert 'name: "conv/weight"' in graph and re.search(r'op: "conv', graph), graph[:2000]
    finally:
        proc.kill()
        proc.wait(timeout=30)


# ---- embeddings (the projector plugin's files)


def test_embeddings_write_the_projector_files_as_pytorch(tmp_path):
    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2

    rng = np.random.default_rng(3)
    mat = rng.normal(size=(5, 3)).astype(np.float32)
    mat[0] = [1.0, -0.0, 1e16]
    labels = np.random.default_rng(4).random((5, 1, 3, 2)).astype(np.float32)
    with SummaryWriter(tmp_path) as w:
        w.add_embedding(mat, metadata=["a", "b", 3, "d", "e"], label_img=labels, global_step=7, tag="emb/1")
        w.add_embedding(doppel.tensor([[1, 2], [3, 4]]), metadata=[["x", 1], ["y", 2]], metadata_header=["name", "n"])
    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(),
                               projector_config_pb2.ProjectorConfig())
    first, second = config.embeddings
    assert first.tensor_name == "emb/1:00007" and first.tensor_path == "00007/emb%2f1/tensors.tsv"
    assert first.metadata_path == "00007/emb%2f1/metadata.tsv"
    assert first.sprite.image_path == "00007/emb%2f1/sprite.png" and list(first.sprite.single_image_dim) == [2, 3]
    assert second.tensor_name == "default:00000" and not second.sprite.image_path
    sub = tmp_path / "00007" / "emb%2f1"
    # PyTorch: "\t".join(str(x.item()) ...) per row: Python's str of each float32 as a float
    assert (sub / "tensors.tsv").read_text() == "".join("\t".join(str(float(v)) for v in row) + "\n" for row in mat)
    assert (sub / "metadata.tsv").read_text() == "a\nb\n3\nd\ne\n"
    assert (tmp_path / "00000/default/tensors.tsv").read_text() == "1\t2\n3\t4\n"
    assert (tmp_path / "00000/default/metadata.tsv").read_text() == "name\tn\nx\t1\ny\t2\n"
    # The sprite: 3 images a row (ceil(sqrt(5))), padded to a square of the grid's width, x 255.
    grey = (labels * 255).clip(0, 255).astype(np.uint8)[:, 0]
    want = np.zeros((6, 6, 3), np.uint8)
    for i in range(5):
        want[(i // 3) * 3:(i // 3 + 1) * 3, (i % 3) * 2:(i % 3 + 1) * 2] = grey[i][:, :, None]
    np.testing.assert_array_equal(png_pixels((sub / "sprite.png").read_bytes()), want)
    with SummaryWriter(tmp_path / "bad") as w:
        with pytest.raises(doppel.ValueError, match="2 metadata rows for 3 points"):
            w.add_embedding(np.zeros((3, 2)), metadata=["a", "b"])
        with pytest.raises(doppel.ShapeError, match="matrix"):
            w.add_embedding(np.zeros(3))
