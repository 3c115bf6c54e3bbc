"""doppel.runtime.load(..., batch_tiling=...) and doppel.compile(..., batch_tiling=...): the executor's
batch tiling (graph/src/runtime/batch_tiling.h) calls the small CNN's convolutions and pools 8 images
at a time at batch 64 and not at batch 4; batch_tiling=False runs every step on the whole batch. Both
give the same bits, equal to eager."""
import re

import numpy as np

import doppel
import doppel.nn as nn


def small_cnn():
    doppel.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def test_runtime_batch_tiling_switch(tmp_path):
    model = small_cnn()
    model.eval()
    path = tmp_path / "cnn.dpl"
    doppel.export(model, [doppel.randn(8, 1, 28, 28)], path, dynamic=True)
    tiled = doppel.runtime.load(path)
    untiled = doppel.runtime.load(path, batch_tiling=False)
    for batch, tiles in ((64, True), (4, False)):
        x = doppel.randn(batch, 1, 28, 28)
        # The run: every step before the two linears (the first one's 1.6 MB weight ends it):
        # conv, pool, conv, pool and, nChw16c, the from_blocked of the pool's output.
        steps = untiled.plan_info(x)["steps"]
        assert tiled.plan_info(x)["tiled"] == ([(0, steps - 3, 64, 8)] if tiles else [])
        assert untiled.plan_info(x)["tiled"] == []
        assert tiled.plan_info(x)["arena_bytes"] <= untiled.plan_info(x)["arena_bytes"]
        got = tiled.run(x)[0].numpy()
        np.testing.assert_array_equal(got, untiled.run(x)[0].numpy())
        with doppel.no_grad():
            want = model(x).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def arena_mib(report):
    return float(re.search(r"arena ([0-9.]+) MiB", report).group(1))


def test_compile_batch_tiling_switch():
    model = small_cnn()
    x = doppel.randn(64, 1, 28, 28)
    with doppel.no_grad():
        want = model.eval()(x).numpy()
    outs, arenas = [], []
    for tiling in (True, False):
        f = doppel.compile(model, inference=True, batch_tiling=tiling)
        for _ in range(3):  # eager warm-up, trace, replay
            out = f(x)
        outs.append(out.numpy())
        arenas.append(arena_mib(f.memory_report(x)))
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[0], want, rtol=1e-4, atol=1e-5)
    # The first convolution's 6.4 MB output exists 8 images at a time when tiled (next to, on AVX2,
    # the second convolution's Winograd temporaries: ~0.6 MiB of transformed tiles and products).
    assert arenas[0] < 3.0 < 7.0 < arenas[1]
