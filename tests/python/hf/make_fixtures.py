"""The Hugging Face oracle of the doppel.models tests. Runs under build/hf-venv/bin/python
(transformers 4.40.2 on Debian's torch 1.13; tools/setup.sh makes it) and writes, into
OUT (argument 1):

  <name>/                 a tiny random-weight checkpoint (save_pretrained, safetensors; gpt2
                          also sharded and in bf16 and f16)
  <name>/ref/<case>.npy   transformers' outputs on the inputs in <name>/ref/<case>.*.npy
  <name>/ref/grads.safetensors  the gradients of a fine-tuning step's loss (ref/grads.loss.npy)
  sampling/               scores.npy, cases.json ([temperature, top_k, top_p] each) and
                          warped<i>.npy: the logits warpers of generate(do_sample=True)

Nothing is downloaded: the configs are built here. Every model is seeded, so the fixture set
is the same on every run. The doppel side (tests/models/*.cpp, python_bindings/tests/
test_models_hf.py) reads the same files; see models/README.md ("How it is checked")."""
import copy
import json
import os
import sys

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import (BertConfig, BertForMaskedLM, BertForSequenceClassification, GPT2Config,
                          GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM)

VOCAB = 97
MAX_NEW = 32


def save(path, name, array):
    os.makedirs(path, exist_ok=True)
    np.save(os.path.join(path, name + ".npy"), np.ascontiguousarray(array))


def padded_batch(gen, lengths, vocab, left):
    """int64 ids [B, max(lengths)] and their 0/1 mask, padded on the left or the right."""
    width = max(lengths)
    ids = np.zeros((len(lengths), width), np.int64)
    mask = np.zeros((len(lengths), width), np.int64)
    for row, n in enumerate(lengths):
        tokens = torch.randint(1, vocab, (n,), generator=gen).numpy()
        cols = slice(width - n, width) if left else slice(0, n)
        ids[row, cols] = tokens
        mask[row, cols] = 1
    return ids, mask


def logits_cases(model, ref, gen, vocab, shapes, extra=None, inputs_from=None):
    """Forward logits for each (lengths, left) case: ids, mask and position ids as HF's generate
    would build them (cumsum of the mask) for decoders. inputs_from: another model's ref folder
    whose cases' inputs to take (shapes then only counts them)."""
    for i, shape in enumerate(shapes):
        if inputs_from is not None:
            ids = np.load(os.path.join(inputs_from, f"logits{i}.input_ids.npy"))
            mask = np.load(os.path.join(inputs_from, f"logits{i}.attention_mask.npy"))
        else:
            ids, mask = padded_batch(gen, shape[0], vocab, shape[1])
        kwargs = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        if extra is not None:
            kwargs.update(extra(ids, mask))
        with torch.no_grad():
            out = model(**kwargs)
        case = f"logits{i}"
        save(ref, case + ".input_ids", ids)
        save(ref, case + ".attention_mask", mask)
        for k, v in kwargs.items():
            if k not in ("input_ids", "attention_mask"):
                save(ref, f"{case}.{k}", v.numpy())
        save(ref, case, out.logits.float().numpy())


def decoder_positions(ids, mask):
    """Position ids as HF's generate builds them for a left-padded batch."""
    del ids
    pos = mask.cumsum(-1) - 1
    pos[mask == 0] = 1
    return {"position_ids": torch.from_numpy(pos)}


def generation_cases(model, ref, gen, vocab):
    """Greedy generation of MAX_NEW tokens: batch 1, a left-padded batch, and the padded batch
    again with an eos token the model emits along the way (rows stop there and are padded)."""
    cases = [("gen_single", [7]), ("gen_batch", [5, 9, 3])]
    for case, lengths in cases:
        ids, mask = padded_batch(gen, lengths, vocab, left=True)
        with torch.no_grad():
            out = model.generate(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                                 max_new_tokens=MAX_NEW, do_sample=False, eos_token_id=None, pad_token_id=0)
        save(ref, case + ".input_ids", ids)
        save(ref, case + ".attention_mask", mask)
        save(ref, case, out.numpy())
        if case == "gen_batch":  # an eos taken from the second row's 4th new token
            eos = int(out[1, ids.shape[1] + 3])
            with torch.no_grad():
                out = model.generate(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                                     max_new_tokens=MAX_NEW, do_sample=False, eos_token_id=eos, pad_token_id=0)
            save(ref, "gen_eos.input_ids", ids)
            save(ref, "gen_eos.attention_mask", mask)
            save(ref, "gen_eos.eos", np.array([eos], np.int64))
            save(ref, "gen_eos", out.numpy())


def gradient_case(model, ref, ids, mask, labels, **kwargs):
    """The gradients of the loss HF computes from `labels` (a fine-tuning step, dropout off) with
    respect to every parameter, under the parameters' names (a tied weight once, under its first
    name)."""
    model.zero_grad()
    out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                labels=torch.from_numpy(labels), **kwargs)
    out.loss.backward()
    save(ref, "grads.input_ids", ids)
    save(ref, "grads.attention_mask", mask)
    save(ref, "grads.labels", labels)
    for k, v in kwargs.items():
        save(ref, f"grads.{k}", v.numpy())
    save(ref, "grads.loss", np.array([out.loss.item()], np.float32))
    save_file({n: p.grad.contiguous() for n, p in model.named_parameters()}, os.path.join(ref, "grads.safetensors"))
    model.zero_grad()


def decoder_gradients(model, ref):
    """Causal-LM gradients on the left-padded batch of case logits2. Labels: the ids, -100 at padding
    and at each row's first real token, whose prediction would come from the logits of a padding
    position (what a query that may see no key computes is left to each implementation)."""
    ids = np.load(os.path.join(ref, "logits2.input_ids.npy"))
    mask = np.load(os.path.join(ref, "logits2.attention_mask.npy"))
    labels = np.where(mask == 1, ids, -100)
    labels[:, 1:][mask[:, :-1] == 0] = -100
    gradient_case(model, ref, ids, mask, labels, position_ids=decoder_positions(ids, mask)["position_ids"])


DECODER_SHAPES = [([1], True), ([6], True), ([4, 11], True), ([9, 2, 13], True)]


def decoder_fixture(out, name, model, seed):
    """A causal LM's checkpoint and its logits, generation and gradient cases."""
    d = os.path.join(out, name)
    model.save_pretrained(d, safe_serialization=True)
    gen = torch.Generator().manual_seed(seed)
    ref = os.path.join(d, "ref")
    logits_cases(model, ref, gen, VOCAB, DECODER_SHAPES, decoder_positions)
    generation_cases(model, ref, gen, VOCAB)
    decoder_gradients(model, ref)
    return gen


def gpt2(out):
    torch.manual_seed(1)
    cfg = GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=VOCAB, n_positions=64, initializer_range=0.3,
                     bos_token_id=1, eos_token_id=2)
    model = GPT2LMHeadModel(cfg).eval()
    decoder_fixture(out, "gpt2", model, 11)
    # The same weights sharded into 8 files, and in bfloat16 and float16 with transformers' logits
    # of those checkpoints loaded in float32 (its default).
    model.save_pretrained(os.path.join(out, "gpt2_sharded"), safe_serialization=True, max_shard_size="20KB")
    for name, dtype in (("gpt2_bf16", torch.bfloat16), ("gpt2_f16", torch.float16)):
        d = os.path.join(out, name)
        copy.deepcopy(model).to(dtype).save_pretrained(d, safe_serialization=True)
        logits_cases(GPT2LMHeadModel.from_pretrained(d).eval(), os.path.join(d, "ref"), None, VOCAB,
                     [None] * len(DECODER_SHAPES), decoder_positions, inputs_from=os.path.join(out, "gpt2", "ref"))


def llama(out):
    torch.manual_seed(2)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      rope_theta=500.0, initializer_range=0.3, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2)
    gen = decoder_fixture(out, "llama", LlamaForCausalLM(cfg).eval(), 12)
    # Tied input and output embeddings (lm_head.weight is not in the file).
    torch.manual_seed(3)
    cfg.tie_word_embeddings = True
    tied = LlamaForCausalLM(cfg).eval()
    d = os.path.join(out, "llama_tied")
    tied.save_pretrained(d, safe_serialization=True)
    logits_cases(tied, os.path.join(d, "ref"), gen, VOCAB, DECODER_SHAPES[2:3], decoder_positions)


def llama_variants(out):
    """Mistral with a sliding window shorter than the cases (4: each token sees itself and the 4
    before) and Qwen2 (biased q/k/v projections, tied embeddings)."""
    common = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, initializer_range=0.3, bos_token_id=1,
                  eos_token_id=2)
    torch.manual_seed(6)
    decoder_fixture(out, "mistral", MistralForCausalLM(MistralConfig(sliding_window=4, **common)).eval(), 14)
    torch.manual_seed(7)
    decoder_fixture(out, "qwen2", Qwen2ForCausalLM(Qwen2Config(tie_word_embeddings=True, rope_theta=1000.0,
                                                               **common)).eval(), 15)


def bert(out):
    torch.manual_seed(4)
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, type_vocab_size=2, num_labels=3,
                     initializer_range=0.3)
    gen = torch.Generator().manual_seed(13)

    def token_types(ids, mask):
        del mask
        tt = np.zeros_like(ids)
        tt[:, ids.shape[1] // 2:] = 1
        return {"token_type_ids": torch.from_numpy(tt)}

    shapes = [([5], False), ([4, 11], False), ([9, 2, 13], False)]
    mlm = BertForMaskedLM(cfg).eval()
    d = os.path.join(out, "bert_mlm")
    mlm.save_pretrained(d, safe_serialization=True)
    logits_cases(mlm, os.path.join(d, "ref"), gen, VOCAB, shapes, token_types)

    torch.manual_seed(5)
    cls = BertForSequenceClassification(cfg).eval()
    d = os.path.join(out, "bert_cls")
    cls.save_pretrained(d, safe_serialization=True)
    ref = os.path.join(d, "ref")
    logits_cases(cls, ref, gen, VOCAB, shapes, token_types)
    # The pooler output of the base model on the last case's inputs.
    ids = np.load(os.path.join(ref, "logits2.input_ids.npy"))
    mask = np.load(os.path.join(ref, "logits2.attention_mask.npy"))
    tt = np.load(os.path.join(ref, "logits2.token_type_ids.npy"))
    with torch.no_grad():
        o = cls.bert(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                     token_type_ids=torch.from_numpy(tt))
    save(ref, "pooler2", o.pooler_output.numpy())
    save(ref, "hidden2", o.last_hidden_state.numpy())
    gradient_case(cls, ref, ids, mask, np.array([2, 0, 1], np.int64), token_type_ids=torch.from_numpy(tt))


# [temperature, top_k, top_p]: HF's defaults, each warper alone, combined, top_k past the vocab,
# top_p 0 (the best token only).
SAMPLING_CASES = [[1.0, 50, 1.0], [0.7, 0, 1.0], [1.0, 5, 1.0], [1.0, 0, 0.9], [0.8, 10, 0.95],
                  [1.3, 200, 0.5], [1.0, 0, 0.0]]


def sampling(out):
    """The warpers HF's generate(do_sample=True) builds (model._get_logits_warper) applied to seeded
    scores [4, VOCAB], one row with a six-way tie near the top."""
    ref = os.path.join(out, "sampling")
    gen = torch.Generator().manual_seed(11)
    scores = torch.randn(4, VOCAB, generator=gen) * 3
    scores[1, :6] = scores[1].sort(descending=True).values[4]  # six-way tie near the top
    save(ref, "scores", scores.numpy())
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=VOCAB))
    for i, (temperature, top_k, top_p) in enumerate(SAMPLING_CASES):
        config = transformers.GenerationConfig(do_sample=True, temperature=temperature, top_k=top_k, top_p=top_p)
        save(ref, f"warped{i}", model._get_logits_warper(config)(None, scores.clone()).numpy())
    with open(os.path.join(ref, "cases.json"), "w") as f:
        json.dump(SAMPLING_CASES, f)


def main():
    out = sys.argv[1]
    torch.set_num_threads(1)
    gpt2(out)
    llama(out)
    llama_variants(out)
    bert(out)
    sampling(out)
    with open(os.path.join(out, "versions.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, "torch": torch.__version__}, f)


if __name__ == "__main__":
    main()
