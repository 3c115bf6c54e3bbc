"""Greedy text generation from a Hugging Face checkpoint directory with doppel.models.

    python examples/hf_generate.py path/to/gpt2 "The quick brown fox" "Hello" --max-new-tokens 32
    python examples/hf_generate.py path/to/model --ids 464,2068,7586 --max-new-tokens 16

The directory holds config.json and model.safetensors (or a sharded index) of a GPT-2 or
Llama-architecture causal LM. Prompts are tokenized with the directory's tokenizer through the
`tokenizers` package (or `transformers`) when installed — doppel does not reimplement
tokenization; without them, pass token ids with --ids. Several prompts form a left-padded batch."""
import argparse
import os
import sys

import numpy as np

import doppel
from doppel import models


def load_tokenizer(path):
    """The directory's tokenizer.json through `tokenizers`, else transformers' AutoTokenizer, else None."""
    try:
        from tokenizers import Tokenizer
        if os.path.exists(os.path.join(path, "tokenizer.json")):
            return Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
    except ImportError:
        pass
    try:
        from transformers import AutoTokenizer
        return AutoTokenizer.from_pretrained(path)
    except (ImportError, OSError):
        return None


def encode(tokenizer, text):
    enc = tokenizer.encode(text)
    return list(enc.ids if hasattr(enc, "ids") else enc)


def left_padded(rows, pad):
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad, np.int64)
    mask = np.zeros((len(rows), width), np.int64)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = r
        mask[i, width - len(r):] = 1
    return doppel.from_numpy(ids), doppel.from_numpy(mask)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a Hugging Face model directory")
    p.add_argument("prompts", nargs="*", help="prompts (need a tokenizer)")
    p.add_argument("--ids", action="append", default=[], help="comma-separated token ids of one prompt")
    p.add_argument("--max-new-tokens", type=int, default=32)
    args = p.parse_args()

    model = models.AutoModelForCausalLM.from_pretrained(args.model)
    tokenizer = load_tokenizer(args.model) if args.prompts else None
    if args.prompts and tokenizer is None:
        sys.exit("no tokenizer: install `tokenizers` (the directory needs tokenizer.json) or pass --ids")
    rows = [encode(tokenizer, t) for t in args.prompts] + [[int(i) for i in s.split(",")] for s in args.ids]
    if not rows:
        sys.exit("give prompts or --ids")
    pad = model.eos_token_id if model.eos_token_id is not None else 0
    ids, mask = left_padded(rows, pad)
    out = model.generate(ids, attention_mask=mask, max_new_tokens=args.max_new_tokens).numpy()
    for row in out[:, ids.shape[1]:]:
        tokens = row.tolist()
        print(tokenizer.decode(tokens) if tokenizer is not None else " ".join(map(str, tokens)))


if __name__ == "__main__":
    main()
