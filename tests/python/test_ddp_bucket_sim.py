"""bench/ddp_bucket_sim.py: the bucket rule, the cost model and the schedule, against hand-worked
answers (docs/distributed.md's table comes from it)."""
import importlib.util
import math
import pathlib

import pytest

PATH = pathlib.Path(__file__).resolve().parents[2] / "bench" / "ddp_bucket_sim.py"
spec = importlib.util.spec_from_file_location("ddp_bucket_sim", PATH)
sim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sim)

NET = sim.Network(ranks_per_node=8, alpha_intra=3e-6, beta_intra=150e9, alpha_inter=10e-6,
                  beta_inter=25e9)


def test_resnet50_matches_torchvision_parameter_count():
    layers = sim.resnet50_layers()
    assert sum(layer.params for layer in layers) == 25_557_032  # torchvision resnet50()
    assert len([layer for layer in layers if ".conv" in layer.name or "downsample.0" in layer.name
                or layer.name == "conv1"]) == 53  # 1 stem + 16 blocks x 3 + 4 downsample convs
    # ~4.1 G multiply-adds per 224x224 image (the published figure)
    assert 4.0e9 < sum(layer.flops for layer in layers) / 2 < 4.2e9


@pytest.mark.parametrize("cap_mib", [0.25, 1, 5, 25])
def test_buckets_follow_pytorchs_size_rule(cap_mib):
    layers = sim.resnet50_layers()
    cap = cap_mib * 2**20
    got = sim.buckets(layers, cap)
    flat = [i for bucket in got for i in bucket]
    assert flat == list(reversed(range(len(layers))))  # reverse registration order, each once
    for k, bucket in enumerate(got[:-1]):
        limit = min(sim.FIRST_BUCKET_BYTES, cap) if k == 0 else cap
        sizes = [layers[i].params * sim.FLOAT_BYTES for i in bucket]
        assert sum(sizes) >= limit > sum(sizes[:-1])  # closed by the tensor that crossed it


def test_one_bucket_when_the_cap_is_infinite():
    assert len(sim.buckets(sim.resnet50_layers(), math.inf)) == 1


def test_ring_allreduce_cost():
    assert sim.ring_allreduce(1e6, 1, 1e-5, 1e9) == 0
    assert sim.ring_allreduce(1e6, 2, 0.0, 1e9) == pytest.approx(1e-3)  # 2(p-1)/p n/beta
    assert sim.ring_allreduce(0.0, 4, 1e-5, 1e9) == pytest.approx(6e-5)  # 2(p-1) alpha


def test_hierarchical_is_intra_ring_phases_plus_inter_node_ring():
    n = 8e6
    want = 2 * (7 * 3e-6 + 7 / 8 * n / 150e9) + (2 * 1 * 10e-6 + 2 * 1 / 2 * n / 25e9)
    assert sim.allreduce_time(n, 16, NET, hierarchical=True) == pytest.approx(want)
    assert sim.allreduce_time(n, 16, NET, hierarchical=False) == pytest.approx(
        sim.ring_allreduce(n, 16, 10e-6, 25e9))
    assert sim.allreduce_time(n, 8, NET, hierarchical=True) == pytest.approx(
        sim.ring_allreduce(n, 8, 3e-6, 150e9))  # one node: the intra-node ring


def test_schedule():
    layers = sim.resnet50_layers()
    flops = 3 * sum(layer.flops for layer in layers) * 1400
    free = sim.Network(8, 0.0, math.inf, 0.0, math.inf)
    step = sim.simulate(layers, 64, flops, 64, free, 25 * 2**20, hierarchical=True)
    assert step.end == pytest.approx(step.backward)  # free communication hides completely
    one = sim.simulate(layers, 64, flops, 64, NET, math.inf, hierarchical=False)
    assert one.events[0][2] == pytest.approx(one.backward)  # starts when backward ends
    assert one.end == pytest.approx(one.backward + one.comm)
    step = sim.simulate(layers, 64, flops, 64, NET, 25 * 2**20, hierarchical=False)
    for (_, ready, start, finish), prev in zip(step.events, [None] + step.events[:-1]):
        assert start >= ready and finish > start  # never before its gradients
        if prev:
            assert start >= prev[3]  # one stream: FIFO
    assert step.end < one.end  # bucketing hides communication behind the backward pass
