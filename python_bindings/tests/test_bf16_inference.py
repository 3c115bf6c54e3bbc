"""bf16 inference (issue 18, item 3): doppel.compile / doppel.export(..., precision="bf16") run
convolutions and matmuls in bfloat16 where the CPU has native bf16, store their weights in bf16
(the file about half the float32 one), return float32; doppel-run runs the file unchanged; a CPU
without native bf16 (oneDNN's ISA capped with ONEDNN_MAX_CPU_ISA) keeps float32 and says so.
Accuracy, with stated bounds: the main job's CNN trained briefly on Fashion-MNIST (bf16 test
accuracy within 0.5 points of float32 on the 10k test images) and ResNet-18's relative output
error (<= 2%). Numbers are in docs/bf16.md."""
import gzip
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import doppel
from doppel import nn

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("DOPPEL_BUILD_DIR", REPO / "build/release"))
FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist")


def small_cnn():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(16 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, 10))


def native_bf16():
    doppel.manual_seed(0)
    f = doppel.compile(nn.Linear(4, 4).eval(), inference=True, precision="bf16")
    x = doppel.ones(2, 4)
    for _ in range(3):
        f(x)
    return "convolutions and matmuls in bf16" in f._c.explain()


pytestmark = pytest.mark.skipif(not native_bf16(), reason="this CPU has no native bf16 (oneDNN ISA below AVX512-BF16)")


def test_compile_bf16_lowers_the_graph_and_returns_float32():
    doppel.manual_seed(1)
    model = small_cnn().eval()
    x = doppel.rand(4, 1, 28, 28)
    f = doppel.compile(model, inference=True, precision="bf16")
    for _ in range(3):
        y = f(x)
    text = str(f.graph(x))
    # The activations stay channels-last ([N, 1, H, W, C]) between the convolutions; the first
    # (one input channel: no AMX kernel) stays float32, its pooled result is cast to bf16.
    assert "float32[4, 1, 28, 28, 8] = blocked_conv2d(" in text, text
    assert "bfloat16[4, 1, 14, 14, 8] = cast(" in text, text
    assert "bfloat16[4, 1, 14, 14, 16] = blocked_conv2d(" in text, text
    assert "bfloat16[4, 10] = linear(" in text, text
    assert y.dtype == doppel.float32
    with doppel.no_grad():
        want = model(x).numpy()
    err = np.abs(y.numpy() - want).max()
    assert 0 < err <= 0.03 * np.abs(want).max(), err
    assert "precision bf16: convolutions and matmuls in bf16 (oneDNN ISA " in f._c.explain()
    with pytest.raises(doppel.ValueError, match='precision must be "float32" or "bf16"'):
        doppel.compile(model, inference=True, precision="fp8")(x)


def test_export_bf16_halves_the_file_and_doppel_run_runs_it(tmp_path):
    doppel.manual_seed(2)
    model = small_cnn()
    x = doppel.rand(3, 1, 28, 28)
    f32_path, bf16_path = tmp_path / "f32.dpl", tmp_path / "bf16.dpl"
    doppel.export(model, [x], f32_path, dynamic=True)
    doppel.export(model, [x], bf16_path, dynamic=True, precision="bf16")  # parity-checked at bf16 rounding
    ratio = bf16_path.stat().st_size / f32_path.stat().st_size
    assert 0.45 <= ratio <= 0.55, ratio
    m32, m16 = doppel.runtime.load(f32_path), doppel.runtime.load(bf16_path)
    assert m16.metadata["format_version"] == 3
    text = m16.graph()
    assert len(re.findall(r"bfloat16\[[^\]]*\] = blocked_conv2d\(", text)) == 1, text  # channels-last
    assert len(re.findall(r"float32\[[^\]]*\] = blocked_conv2d\(", text)) == 1, text  # one input channel
    # The float32 convolution and linear weights are not stored, only their bf16 copies. A float32
    # file stores the first convolution's and its batch norm's weights folded into constants only,
    # and the first linear's with its columns permuted to the channels-last flatten's order
    # (blocked_flatten), the module's own too with keep_unread_weights (for load_weights_into).
    assert {"4.weight", "10.weight"} <= set(m32.weights())
    assert not {"0.weight", "1.running_var", "8.weight"} & set(m32.weights())
    assert m16.weights() == {}
    kept_path = tmp_path / "kept.dpl"
    doppel.export(model, [x], kept_path, dynamic=True, keep_unread_weights=True)
    assert {"0.weight", "1.running_var", "4.weight", "8.weight"} <= set(doppel.runtime.load(kept_path).weights())
    assert kept_path.stat().st_size > f32_path.stat().st_size
    xb = doppel.rand(5, 1, 28, 28)
    y32, y16 = m32.run(xb)[0].numpy(), m16.run(xb)[0].numpy()
    assert y16.dtype == np.float32 and y16.shape == (5, 10)
    assert 0 < np.abs(y16 - y32).max() <= 0.03 * np.abs(y32).max()
    # doppel-run runs the bf16 file as any other: the same answer as the runtime, bit for bit.
    np.save(tmp_path / "x.npy", xb.numpy())
    r = subprocess.run([str(BUILD / "serve" / "doppel-run"), str(bf16_path), "--input", str(tmp_path / "x.npy"),
                        "--output", str(tmp_path / "y.npy")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), y16)
    # A CompiledFunction is exported at its own precision.
    f = doppel.compile(model, inference=True)
    with pytest.raises(doppel.ValueError, match="compiled with precision='float32', not 'bf16'"):
        doppel.export(f, [x], tmp_path / "no.dpl", precision="bf16")


def test_without_native_bf16_the_graph_stays_float32():
    code = ("import doppel; from doppel import nn; doppel.manual_seed(0)\n"
            "f = doppel.compile(nn.Linear(4, 4).eval(), inference=True, precision='bf16')\n"
            "x = doppel.ones(2, 4)\n"
            "for _ in range(3): f(x)\n"
            "print(f._c.explain()); print(f.graph(x))\n")
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", PYTHONPATH=str(BUILD / "python"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "precision bf16: kept float32: this CPU has no native bf16 (oneDNN ISA avx2)" in r.stdout, r.stdout
    assert "bfloat16" not in r.stdout.split("precision bf16")[1].split("\n", 1)[1], r.stdout


def resnet18():
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import peers_models
    finally:
        sys.path.pop(0)
    return peers_models.resnet18(doppel)


def test_resnet18_relative_output_error():
    """Stated bound: ||bf16 - f32|| / ||f32|| <= 2% over the 1000 logits (measured: docs/bf16.md)."""
    doppel.manual_seed(3)
    model = resnet18().eval()
    x = doppel.randn(2, 3, 224, 224)
    f32 = doppel.compile(model, inference=True)
    bf16 = doppel.compile(model, inference=True, precision="bf16")
    for _ in range(2):
        f32(x), bf16(x)
    a, b = f32(x).numpy().astype(np.float64), bf16(x).numpy().astype(np.float64)
    rel = np.linalg.norm(b - a) / np.linalg.norm(a)
    print(f"ResNet-18 bf16 relative output error {rel:.4f}")
    assert 0 < rel <= 0.02, rel


def read_idx(path):
    data = gzip.open(path, "rb").read()
    ndim = data[3]
    dims = np.frombuffer(data, ">u4", ndim, 4).astype(np.int64)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion(split, limit=None):
    images = read_idx(FASHION / f"{split}-images-idx3-ubyte.gz")[:limit]
    labels = read_idx(FASHION / f"{split}-labels-idx1-ubyte.gz")[:limit]
    return ((images.astype(np.float32) / 255.0 - 0.2860) / 0.3530).reshape(-1, 1, 28, 28), labels.astype(np.int64)


@pytest.mark.skipif(not FASHION.exists(), reason="dataset-fashion-mnist missing")
def test_main_job_cnn_bf16_accuracy_within_half_a_point_of_float32(tmp_path):
    """The main job's CNN (examples/fashion_mnist_cnn.h) trained on 8000 images (one pass),
    exported float32 and bf16, both evaluated on the 10k test images by the runtime."""
    doppel.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25),
                          nn.Linear(128, 10))
    xs, ys = fashion("train", 8000)
    opt = doppel.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for i in range(0, len(xs), 100):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(doppel.from_numpy(xs[i:i + 100])), doppel.from_numpy(ys[i:i + 100]))
        loss.backward()
        opt.step()
    xt, yt = fashion("t10k")
    accuracy = {}
    for precision in ("float32", "bf16"):
        path = tmp_path / f"{precision}.dpl"
        doppel.export(model, [doppel.from_numpy(xt[:10])], path, dynamic=True, precision=precision)
        m = doppel.runtime.load(path)
        correct = sum(int((m.run(doppel.from_numpy(xt[i:i + 500]))[0].numpy().argmax(1) == yt[i:i + 500]).sum())
                      for i in range(0, len(xt), 500))
        accuracy[precision] = 100.0 * correct / len(xt)
    print(f"Fashion-MNIST test accuracy: float32 {accuracy['float32']:.2f}%, bf16 {accuracy['bf16']:.2f}%")
    assert accuracy["float32"] >= 80.0, accuracy
    assert abs(accuracy["bf16"] - accuracy["float32"]) <= 0.5, accuracy
