"""GPT-2-small-shaped decoding on 1 thread: doppel eager, doppel's compiled decode step, the doppel
runtime (an export_decoder file) and transformers' own generate on PyTorch, in one process,
interleaved, medians. See bench/README.md ("Decoding a GPT-2-small-shaped model").

    build/hf-venv/bin/python bench/hf_decode_bench.py [--build-dir build/release] [--rounds 3]
        [--prompt 32] [--new 16] [--batches 1,8]

The model (n_layer 12, n_embd 768, n_head 12, vocab 50257: 124M parameters) is built with
random weights by transformers (seeded) and saved once under build/bench/gpt2-small-random;
nothing is downloaded. Run it under the oracle venv (transformers 4.40.2 on Debian's torch 1.13,
tools/setup.sh), which also imports doppel from the build folder.
"""
import argparse
import os
import pathlib
import statistics
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default=str(REPO / "build/release"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--prompt", type=int, default=32, help="prompt tokens per row")
    p.add_argument("--new", type=int, default=16, help="new tokens per row")
    p.add_argument("--batches", default="1,8")
    return p.parse_args()


def checkpoint(transformers, torch):
    """The random-weight GPT-2-small checkpoint, made once (seeded)."""
    out = REPO / "build/bench/gpt2-small-random"
    if not (out / "model.safetensors").exists():
        torch.manual_seed(0)
        cfg = transformers.GPT2Config(n_layer=12, n_embd=768, n_head=12, vocab_size=50257, n_positions=1024)
        transformers.GPT2LMHeadModel(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    return out


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main():
    a = parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(pathlib.Path(a.build_dir) / "python"))
    import numpy as np
    import torch
    import transformers

    import doppel
    from doppel import models

    torch.set_num_threads(1)
    doppel.set_num_threads(1)
    path = checkpoint(transformers, torch)
    hf = transformers.GPT2LMHeadModel.from_pretrained(str(path)).eval()
    dp = models.AutoModelForCausalLM.from_pretrained(path)
    dpl = REPO / "build/bench/gpt2-small-random.dpl"
    dp.export_decoder(dpl)
    gen = doppel.runtime.Generator.load(dpl)
    n_params = sum(p.numel() for p in hf.parameters())  # the tied lm_head counted once
    weight_bytes = 4 * n_params

    rng = np.random.default_rng(0)
    batches = [int(b) for b in a.batches.split(",")]
    # eos -1 never matches: every row generates exactly n tokens (HF: min_new_tokens).
    def runners(ids, n):
        t_ids = torch.from_numpy(ids)
        d_ids = doppel.from_numpy(ids)
        mask = np.ones_like(ids)
        d_mask, t_mask = doppel.from_numpy(mask), torch.from_numpy(mask)

        def hf_gen():
            with torch.no_grad():
                return hf.generate(t_ids, attention_mask=t_mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                   pad_token_id=0).numpy()

        return {
            "doppel eager": lambda: dp.generate(d_ids, d_mask, max_new_tokens=n, eos_token_id=-1).numpy(),
            "doppel compiled step": lambda: dp.generate(d_ids, d_mask, max_new_tokens=n, eos_token_id=-1,
                                                        compile=True).numpy(),
            "doppel runtime": lambda: gen.generate(d_ids, d_mask, max_new_tokens=n, eos_token_id=-1).numpy(),
            "transformers (torch 1.13)": hf_gen,
        }

    print(f"GPT-2-small shape, {n_params / 1e6:.1f}M parameters ({weight_bytes / 1e6:.0f} MB float32), 1 thread, "
          f"prompt {a.prompt}, {a.new} new tokens, {a.rounds} rounds (medians)", flush=True)
    # Memory bandwidth of this machine on 1 thread: a reduction over 1 GB (read only).
    big = np.ones(1 << 28, np.float32)
    big.sum()
    bw = max((1 << 30) / timed(big.sum)[0] for _ in range(3))
    del big
    print(f"read bandwidth (numpy sum over 1 GB, 1 thread): {bw / 1e9:.1f} GB/s", flush=True)
    rows = []
    for b in batches:
        ids = rng.integers(0, 50257, size=(b, a.prompt), dtype=np.int64)
        full, one = runners(ids, a.new), runners(ids, 1)
        # Warm up (and trace the compiled step at this batch size); all four give the same tokens.
        outs = {k: f() for k, f in runners(ids, 3).items()}
        ref = outs["transformers (torch 1.13)"]
        for k, o in outs.items():
            assert (o == ref).all(), f"{k} generated other tokens than transformers at batch {b}"
        t_full = {k: [] for k in full}
        t_one = {k: [] for k in full}
        for _ in range(a.rounds):
            for k in full:  # interleaved
                t_one[k].append(timed(one[k])[0])
                t_full[k].append(timed(full[k])[0])
        for k in full:
            prefill = statistics.median(t_one[k])
            decode = (statistics.median(t_full[k]) - prefill) / (a.new - 1)  # seconds per decode step
            rows.append((k, b, b * a.prompt / prefill, b / decode, decode))
            print(f"  batch {b} {k}: prompt {b * a.prompt / prefill:8.1f} tok/s, decode {b / decode:7.1f} tok/s",
                  flush=True)
    print()
    print("| variant | batch | prompt tokens/s | decode tokens/s | decode vs transformers | weight GB/s per step "
          "| of read bandwidth |")
    print("|---|---|---|---|---|---|---|")
    hf_decode = {b: r[3] for r in rows if r[0].startswith("transformers") for b in [r[1]]}
    for k, b, prompt_tps, decode_tps, step in rows:
        gbs = weight_bytes / step / 1e9
        print(f"| {k} | {b} | {prompt_tps:.1f} | {decode_tps:.1f} | {decode_tps / hf_decode[b]:.2f}x | {gbs:.2f} "
              f"| {gbs * 1e9 / bw:.0%} |")


if __name__ == "__main__":
    main()
