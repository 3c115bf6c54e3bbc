#!/usr/bin/env python3
"""Simulates DistributedDataParallel's gradient bucketing for ResNet-50 on 8-64 ranks.

The backward pass produces ResNet-50's gradients in reverse registration order; DDP packs them
into buckets (1 MiB first bucket, then `--bucket-mib`, in reverse registration order as PyTorch
and doppel do) and all-reduces each bucket on one communication stream as soon as all its
gradients are ready. The simulation replays that schedule against an alpha-beta cost model of
the all-reduce (flat ring, or hierarchical: reduce-scatter inside a node, ring between nodes,
all-gather inside the node) and reports the step time, the communication left exposed after the
backward pass, and the scaling efficiency. docs/distributed.md explains the model and its inputs.

    python3 bench/ddp_bucket_sim.py                       # the table of docs/distributed.md
    python3 bench/ddp_bucket_sim.py --svg docs/images/ddp_buckets.svg --ranks 64 --bucket-mib 25
    python3 bench/ddp_bucket_sim.py --alpha-us 12 --inter-gbs 12.5 --images-per-s 1400

Standard library only (runs under any python3)."""
import argparse
import dataclasses
import math
import sys

FIRST_BUCKET_BYTES = 1 << 20  # PyTorch's and doppel's first bucket: 1 MiB
FLOAT_BYTES = 4
RESNET50_PARAMETERS = 25_557_032  # torchvision.models.resnet50(): checked below


@dataclasses.dataclass
class Layer:
    name: str
    params: int  # parameter count (weight + bias / BN affine)
    flops: float  # forward FLOPs per image (2 per multiply-add)


def resnet50_layers():
    """ResNet-50 (torchvision) in registration order: one entry per conv/BN/fc module."""
    layers = []
    size = 112  # after the stride-2 stem convolution on 224x224

    def conv(name, cin, cout, k, out_hw):
        layers.append(Layer(name, cin * cout * k * k, 2.0 * cin * cout * k * k * out_hw * out_hw))

    def bn(name, c, hw):
        layers.append(Layer(name, 2 * c, 4.0 * c * hw * hw))  # memory bound: a token cost

    conv("conv1", 3, 64, 7, size)
    bn("bn1", 64, size)
    size //= 2  # max pool
    cin = 64
    for stage, (planes, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2),
                                                      (512, 3, 2)), start=1):
        for b in range(blocks):
            s = stride if b == 0 else 1
            out = size // s
            pre = f"layer{stage}.{b}"
            conv(f"{pre}.conv1", cin, planes, 1, size)
            bn(f"{pre}.bn1", planes, size)
            conv(f"{pre}.conv2", planes, planes, 3, out)
            bn(f"{pre}.bn2", planes, out)
            conv(f"{pre}.conv3", planes, planes * 4, 1, out)
            bn(f"{pre}.bn3", planes * 4, out)
            if b == 0:
                conv(f"{pre}.downsample.0", cin, planes * 4, 1, out)
                bn(f"{pre}.downsample.1", planes * 4, out)
            cin = planes * 4
            size = out
    layers.append(Layer("fc", 2048 * 1000 + 1000, 2.0 * 2048 * 1000))
    total = sum(layer.params for layer in layers)
    if total != RESNET50_PARAMETERS:
        sys.exit(f"ddp_bucket_sim: ResNet-50 has {total} parameters here, expected "
                 f"{RESNET50_PARAMETERS}")
    return layers


@dataclasses.dataclass
class Network:
    ranks_per_node: int  # GPUs (or processes) sharing a node's fast interconnect
    alpha_intra: float  # seconds per message inside a node
    beta_intra: float  # bytes/s per link inside a node
    alpha_inter: float  # seconds per message between nodes
    beta_inter: float  # bytes/s per node between nodes


def ring_allreduce(n_bytes, p, alpha, beta):
    """Bandwidth-optimal ring: 2(p-1) steps, each moving n/p bytes."""
    if p <= 1:
        return 0.0
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * n_bytes / beta


def allreduce_time(n_bytes, p, net, hierarchical):
    g = min(net.ranks_per_node, p)
    nodes = math.ceil(p / g)
    if nodes == 1:
        return ring_allreduce(n_bytes, p, net.alpha_intra, net.beta_intra)
    if not hierarchical:  # one flat ring: every step waits for the slowest (inter-node) link
        return ring_allreduce(n_bytes, p, net.alpha_inter, net.beta_inter)
    # reduce-scatter inside the node, then g concurrent rings between nodes (one per 1/g shard,
    # all sharing the node's inter-node bandwidth), then all-gather inside the node.
    intra = 2 * ((g - 1) * net.alpha_intra + (g - 1) / g * n_bytes / net.beta_intra)
    return intra + ring_allreduce(n_bytes, nodes, net.alpha_inter, net.beta_inter)


def buckets(layers, cap_bytes):
    """Parameter indices per bucket, reverse registration order, PyTorch's size rule (an
    infinite cap: one bucket, all-reduced after the whole backward pass)."""
    out, current, size, limit = [], [], 0, (cap_bytes if math.isinf(cap_bytes) else
                                              min(FIRST_BUCKET_BYTES, cap_bytes))
    for i in reversed(range(len(layers))):
        current.append(i)
        size += layers[i].params * FLOAT_BYTES
        if size >= limit:
            out.append(current)
            current, size, limit = [], 0, cap_bytes
    if current:
        out.append(current)
    return out


@dataclasses.dataclass
class Step:
    backward: float  # seconds of backward compute
    end: float  # when the last all-reduce finished (or the backward, if later)
    comm: float  # seconds the communication stream was busy
    events: list  # (bucket bytes, ready, start, finish)


def simulate(layers, per_rank_batch, flops_per_s, p, net, cap_bytes, hierarchical):
    # Backward ~ 2x the forward FLOPs; a layer's gradients are ready when its backward ends.
    ready, t = [0.0] * len(layers), 0.0
    for i in reversed(range(len(layers))):
        t += 2 * layers[i].flops * per_rank_batch / flops_per_s
        ready[i] = t
    stream, comm, events = 0.0, 0.0, []
    for bucket in buckets(layers, cap_bytes):
        n_bytes = sum(layers[i].params for i in bucket) * FLOAT_BYTES
        start = max(max(ready[i] for i in bucket), stream)
        duration = allreduce_time(n_bytes, p, net, hierarchical)
        stream = start + duration
        comm += duration
        events.append((n_bytes, max(ready[i] for i in bucket), start, stream))
    return Step(t, max(t, stream), comm, events)


def forward_seconds(layers, per_rank_batch, flops_per_s):
    return sum(layer.flops for layer in layers) * per_rank_batch / flops_per_s


def table(args, layers, net):
    fwd = forward_seconds(layers, args.batch, args.flops)
    caps = [float(c) for c in args.bucket_mib.split(",")]
    rows = ["| ranks | all-reduce | bucket | buckets | comm busy ms | exposed ms | hidden | step ms |"
            " efficiency |", "|---|---|---|---|---|---|---|---|---|"]
    for p in [int(r) for r in args.ranks.split(",")]:
        for hierarchical in (False, True):
            if hierarchical and (p <= net.ranks_per_node or net.ranks_per_node == 1):
                continue
            for cap in caps:
                cap_bytes = math.inf if cap == 0 else cap * (1 << 20)
                step = simulate(layers, args.batch, args.flops, p, net, cap_bytes, hierarchical)
                exposed = step.end - step.backward
                hidden = max(0.0, 1 - exposed / step.comm) if step.comm else 1.0
                total = fwd + step.end
                rows.append(
                    f"| {p} | {'hierarchical' if hierarchical else 'flat ring'} | "
                    f"{'one' if cap == 0 else f'{cap:g} MiB'} | {len(step.events)} | "
                    f"{step.comm * 1e3:.1f} | {exposed * 1e3:.1f} | {hidden:.0%} | "
                    f"{total * 1e3:.1f} | {(fwd + step.backward) / total:.0%} |")
    return "\n".join(rows)


def svg(step, fwd, path, title):
    """A timeline: the backward pass on top, the all-reduce stream below it."""
    width, scale = 900, 800 / (fwd + step.end)  # x = 50 + seconds * scale
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="150" '
             'font-family="DejaVu Sans, sans-serif" font-size="12">',
             f'<text x="10" y="18">{title}</text>',
             f'<rect x="50" y="40" width="{fwd * scale:.1f}" height="28" fill="#9ecae1"/>',
             f'<rect x="{50 + fwd * scale:.1f}" y="40" width="{step.backward * scale:.1f}" '
             'height="28" fill="#3182bd"/>',
             '<text x="56" y="59">forward</text>',
             f'<text x="{56 + fwd * scale:.1f}" y="59" fill="white">backward</text>',
             '<text x="4" y="59">rank</text>', '<text x="4" y="99">comm</text>']
    for k, (n_bytes, _ready, start, finish) in enumerate(step.events):
        x = 50 + (fwd + start) * scale
        colour = "#e6550d" if k % 2 else "#fd8d3c"
        parts.append(f'<rect x="{x:.1f}" y="80" width="{max((finish - start) * scale, 1):.1f}" '
                     f'height="28" fill="{colour}"><title>{n_bytes / 2**20:.1f} MiB</title></rect>')
    end = 50 + (fwd + step.end) * scale
    parts.append(f'<line x1="{end:.1f}" y1="32" x2="{end:.1f}" y2="116" stroke="black"/>')
    parts.append(f'<text x="50" y="136">0 ms</text><text x="{end - 40:.1f}" y="136">'
                 f'{(fwd + step.end) * 1e3:.1f} ms</text></svg>')
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(parts) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ranks", default="8,16,32,64")
    ap.add_argument("--bucket-mib", default="0,1,5,25,100",
                    help="bucket caps in MiB; 0 = one bucket after the backward pass")
    ap.add_argument("--batch", type=int, default=64, help="images per rank")
    ap.add_argument("--flops", type=float, default=None,
                    help="sustained training FLOP/s per rank (default: from --images-per-s)")
    ap.add_argument("--images-per-s", type=float, default=1400.0,
                    help="single-rank training throughput the compute time is scaled to")
    ap.add_argument("--ranks-per-node", type=int, default=8)
    ap.add_argument("--alpha-us", type=float, default=10.0, help="inter-node latency")
    ap.add_argument("--inter-gbs", type=float, default=25.0, help="inter-node GB/s per node")
    ap.add_argument("--intra-alpha-us", type=float, default=3.0)
    ap.add_argument("--intra-gbs", type=float, default=150.0)
    ap.add_argument("--svg", help="write the timeline of the first --ranks/--bucket-mib here")
    args = ap.parse_args()
    layers = resnet50_layers()
    if args.flops is None:  # 3x forward FLOPs per image (forward + backward) at the given rate
        args.flops = 3 * sum(layer.flops for layer in layers) * args.images_per_s
    net = Network(args.ranks_per_node, args.intra_alpha_us * 1e-6, args.intra_gbs * 1e9,
                  args.alpha_us * 1e-6, args.inter_gbs * 1e9)
    if args.svg:
        p = int(args.ranks.split(",")[0])
        cap = float(args.bucket_mib.split(",")[0])
        step = simulate(layers, args.batch, args.flops, p, net,
                        math.inf if cap == 0 else cap * (1 << 20), p > args.ranks_per_node)
        fwd = forward_seconds(layers, args.batch, args.flops)
        svg(step, fwd, args.svg, f"ResNet-50, {p} ranks, batch {args.batch}/rank, "
            f"{'one bucket' if cap == 0 else f'{cap:g} MiB buckets'}")
        print(f"wrote {args.svg}")
        return
    print(f"ResNet-50: {RESNET50_PARAMETERS / 1e6:.1f} M parameters, "
          f"{RESNET50_PARAMETERS * FLOAT_BYTES / 2**20:.1f} MiB of float32 gradients; "
          f"{args.batch} images/rank at {args.flops / 1e12:.2f} TFLOP/s per rank "
          f"(forward {forward_seconds(layers, args.batch, args.flops) * 1e3:.1f} ms)\n")
    print(table(args, layers, net))


if __name__ == "__main__":
    main()
