"""doppel.models against Hugging Face transformers 4.40.2: the fixtures (tiny random-weight
checkpoints and transformers' outputs) come from tests/python/hf/make_fixtures.py run under the
oracle venv build/hf-venv (tools/setup.sh; $DOPPEL_HF_PYTHON names another interpreter).
The C++ side of the same checks: tests/models/test_hf_models.cpp."""
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import doppel
from doppel import models

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests/python/hf/make_fixtures.py"
F32_TOL = 2e-5  # relative to 1 + |logit|


@pytest.fixture(scope="module")
def fx():
    """The fixture folder, made once per script version under build/hf-fixtures/py-<sha256>."""
    digest = hashlib.sha256(SCRIPT.read_bytes()).hexdigest()[:16]
    out = REPO / "build/hf-fixtures" / f"py-{digest}"
    if not (out / "versions.json").exists():
        python = os.environ.get("DOPPEL_HF_PYTHON", str(REPO / "build/hf-venv/bin/python"))
        assert os.path.exists(python), f"the Hugging Face oracle {python} is missing: run tools/setup.sh"
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        subprocess.run([python, str(SCRIPT), str(tmp)], check=True, capture_output=True)
        try:
            tmp.rename(out)
        except OSError:  # another session made it meanwhile
            shutil.rmtree(tmp)
    return out


def ref(fx, model, name):
    return np.load(fx / model / "ref" / f"{name}.npy")


def t(a):
    return doppel.from_numpy(np.ascontiguousarray(a))


def rel_diff(got, want, mask=None):
    d = np.abs(np.asarray(got) - want) / (1 + np.abs(want))
    if mask is not None:
        d = d * mask[..., None]
    return float(d.max())


def decoder_logits(model, fx, name, case):
    ids, mask, pos = (ref(fx, name, f"{case}.{k}") for k in ("input_ids", "attention_mask", "position_ids"))
    with doppel.no_grad():
        got = model(t(ids), t(mask), t(pos)).numpy()
    return got, ref(fx, name, case), mask


@pytest.mark.parametrize("name,cls", [("gpt2", models.GPT2LMHeadModel), ("llama", models.LlamaForCausalLM),
                                      ("mistral", models.MistralForCausalLM), ("qwen2", models.Qwen2ForCausalLM)])
def test_decoder_logits_match_transformers(fx, name, cls):
    model = cls.from_pretrained(fx / name)
    assert not model.training
    for case in ("logits0", "logits1", "logits2", "logits3"):
        got, want, mask = decoder_logits(model, fx, name, case)
        assert rel_diff(got, want, mask) < F32_TOL, case


@pytest.mark.parametrize("name", ["gpt2", "llama", "mistral", "qwen2"])
def test_greedy_generation_matches_transformers(fx, name):
    model = models.AutoModelForCausalLM.from_pretrained(fx / name)
    for case in ("gen_single", "gen_batch", "gen_eos"):
        eos = int(ref(fx, name, "gen_eos.eos")[0]) if case == "gen_eos" else None
        out = model.generate(t(ref(fx, name, f"{case}.input_ids")), t(ref(fx, name, f"{case}.attention_mask")),
                             max_new_tokens=32, eos_token_id=eos, pad_token_id=0)
        np.testing.assert_array_equal(out.numpy(), ref(fx, name, case), err_msg=case)


@pytest.mark.parametrize("name", ["gpt2", "mistral"])
def test_compiled_decode_step_generates_the_same_tokens(fx, name):
    model = models.AutoModelForCausalLM.from_pretrained(fx / name)
    for case in ("gen_batch", "gen_eos"):
        eos = int(ref(fx, name, "gen_eos.eos")[0]) if case == "gen_eos" else None
        out = model.generate(t(ref(fx, name, f"{case}.input_ids")), t(ref(fx, name, f"{case}.attention_mask")),
                             max_new_tokens=32, eos_token_id=eos, pad_token_id=0, compile=True)
        np.testing.assert_array_equal(out.numpy(), ref(fx, name, case), err_msg=case)
    assert model.decode_traces == 1


def test_bert_heads_and_pooler_match_transformers(fx):
    mlm = models.AutoModelForMaskedLM.from_pretrained(fx / "bert_mlm")
    cls = models.AutoModelForSequenceClassification.from_pretrained(fx / "bert_cls")
    assert isinstance(mlm, models.BertForMaskedLM) and isinstance(cls, models.BertForSequenceClassification)
    for case in ("logits0", "logits1", "logits2"):
        for name, model in (("bert_mlm", mlm), ("bert_cls", cls)):
            ids, mask, types = (ref(fx, name, f"{case}.{k}") for k in ("input_ids", "attention_mask", "token_type_ids"))
            with doppel.no_grad():
                got = model(t(ids), attention_mask=t(mask), token_type_ids=t(types)).numpy()
            want = ref(fx, name, case)
            assert rel_diff(got, want, mask if got.ndim == 3 else None) < F32_TOL, (name, case)
    base = models.AutoModel.from_pretrained(fx / "bert_cls")
    assert isinstance(base, models.BertModel)
    ids, mask, types = (ref(fx, "bert_cls", f"logits2.{k}") for k in ("input_ids", "attention_mask", "token_type_ids"))
    with doppel.no_grad():
        hidden, pooled = base(t(ids), t(mask), t(types))
    assert rel_diff(pooled.numpy(), ref(fx, "bert_cls", "pooler2")) < F32_TOL
    assert rel_diff(hidden.numpy(), ref(fx, "bert_cls", "hidden2"), mask) < F32_TOL


def test_tied_embeddings_share_storage_and_names_are_hf(fx):
    model = models.GPT2LMHeadModel.from_pretrained(fx / "gpt2")
    sd = model.state_dict()
    assert tuple(sd["transformer.h.1.attn.c_attn.weight"].shape) == (32, 96)  # HF's Conv1D: [in, out]
    assert "lm_head.weight" not in sd  # the tied weight is listed once, as HF's file stores it
    with doppel.no_grad():
        sd["transformer.wte.weight"][5] = 0.0  # the lm_head's row 5 too: logit 5 becomes 0
        logits = model(t(ref(fx, "gpt2", "logits1.input_ids"))).numpy()
    assert np.all(logits[..., 5] == 0) and np.all(logits[..., 4] != 0)


def test_bf16_f16_and_sharded_checkpoints_load(fx):
    f32 = models.AutoModelForCausalLM.from_pretrained(fx / "gpt2")
    sharded = models.AutoModelForCausalLM.from_pretrained(fx / "gpt2_sharded")
    assert len(list(fx.joinpath("gpt2_sharded").glob("model-*.safetensors"))) > 1
    for (k, a), (k2, b) in zip(f32.state_dict().items(), sharded.state_dict().items()):
        assert k == k2 and np.array_equal(a.numpy(), b.numpy()), k
    for name in ("gpt2_bf16", "gpt2_f16"):
        half = models.AutoModelForCausalLM.from_pretrained(fx / name)
        got, want, mask = decoder_logits(half, fx, name, "logits2")
        assert rel_diff(got, want, mask) < F32_TOL, name  # transformers on the same checkpoint
        assert rel_diff(got, ref(fx, "gpt2", "logits2"), mask) < 1e-1, name  # the float32 weights' logits
    in_bf16 = models.GPT2LMHeadModel.from_pretrained(fx / "gpt2", dtype=doppel.bfloat16)
    assert in_bf16.state_dict()["transformer.wte.weight"].dtype == doppel.bfloat16


def test_compiled_forward_equals_eager(fx):
    for name in ("gpt2", "llama"):
        model = models.AutoModelForCausalLM.from_pretrained(fx / name)
        ids, mask, pos = (t(ref(fx, name, f"logits2.{k}")) for k in ("input_ids", "attention_mask", "position_ids"))
        compiled = doppel.compile(model)
        with doppel.no_grad():
            eager = model(ids, mask, pos).numpy()
            np.testing.assert_allclose(compiled(ids, mask, pos).numpy(), eager, rtol=1e-5, atol=1e-5)


def test_errors_name_the_key_and_shapes(fx, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5", "architectures": ["T5Model"]}))
    with pytest.raises(doppel.ValueError, match="'model_type' = 't5'"):
        models.AutoModel.from_pretrained(tmp_path)
    config = json.loads((fx / "gpt2/config.json").read_text())
    config["n_embd"] = 16
    config["n_head"] = 2
    (tmp_path / "config.json").write_text(json.dumps(config))
    shutil.copy(fx / "gpt2/model.safetensors", tmp_path / "model.safetensors")
    with pytest.raises(doppel.ShapeError, match=r"'transformer.wte.weight': checkpoint \[97, 32\] vs model \[97, 16\]"):
        models.GPT2LMHeadModel.from_pretrained(tmp_path)
    from safetensors.numpy import load_file, save_file
    tensors = load_file(str(fx / "llama/model.safetensors"))
    del tensors["model.layers.1.mlp.up_proj.weight"]
    save_file(tensors, str(tmp_path / "model.safetensors"))
    shutil.copy(fx / "llama/config.json", tmp_path / "config.json")
    with pytest.raises(doppel.ValueError, match=r"'model.layers.1.mlp.up_proj.weight' \[64, 32\]"):
        models.AutoModelForCausalLM.from_pretrained(tmp_path)
    with pytest.raises(TypeError):
        models.AutoModel()


def test_fine_tuning_gradients_match_transformers(fx):
    from safetensors.numpy import load_file
    F = doppel.nn.functional
    for name in ("gpt2", "llama", "mistral", "qwen2", "bert_cls"):
        ids, mask, labels = (t(ref(fx, name, f"grads.{k}")) for k in ("input_ids", "attention_mask", "labels"))
        if name == "bert_cls":
            model = models.BertForSequenceClassification.from_pretrained(fx / name)
            loss = F.cross_entropy(model(ids, mask, t(ref(fx, name, "grads.token_type_ids"))), labels)
        else:
            model = models.AutoModelForCausalLM.from_pretrained(fx / name)
            logits = model(ids, mask, t(ref(fx, name, "grads.position_ids")))
            vocab = logits.shape[-1]
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), labels[:, 1:].reshape(-1))
        assert abs(loss.item() - float(ref(fx, name, "grads.loss")[0])) < 1e-5
        loss.backward()
        params = dict(model.named_parameters())
        want = load_file(str(fx / name / "ref/grads.safetensors"))
        assert len(want) > 10
        for key, g in want.items():
            got = params[key].grad.numpy()
            assert np.abs(got - g).max() <= 1e-4 * np.abs(g).max() + 1e-7, (name, key)


def test_example_generates_what_transformers_does(fx):
    """examples/hf_generate.py with token ids (no tokenizer needed) prints HF's greedy tokens."""
    prompt = ref(fx, "llama", "gen_single.input_ids")[0]
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(doppel.__file__).parents[1]))
    out = subprocess.run([sys.executable, str(REPO / "examples/hf_generate.py"), str(fx / "llama"), "--ids",
                          ",".join(map(str, prompt)), "--max-new-tokens", "32"],
                         check=True, capture_output=True, text=True, env=env).stdout
    assert [int(x) for x in out.split()] == ref(fx, "llama", "gen_single")[0, len(prompt):].tolist()


def test_logits_warpers_match_transformers(fx):
    """temperature, top-k (ties with the k-th best stay), top-p: the tokens HF's warpers drop and
    the scores they keep. Where the top-p cut falls inside a group of equal scores, which of them
    go depends on the sort's order of ties (torch's is unspecified; doppel drops lower indices
    first): there the same number must go, and everything else must agree exactly."""
    scores = np.load(fx / "sampling" / "scores.npy")
    cases = json.loads((fx / "sampling" / "cases.json").read_text())
    for i, (temperature, top_k, top_p) in enumerate(cases):
        want = np.load(fx / "sampling" / f"warped{i}.npy")
        got = models.warp_logits(t(scores), temperature=temperature, top_k=top_k, top_p=top_p).numpy()
        for row in range(scores.shape[0]):
            dropped_got, dropped_want = np.isneginf(got[row]), np.isneginf(want[row])
            split = np.zeros_like(dropped_want)  # the members of a tie group the cut divides
            for value in np.unique(scores[row]):
                group = scores[row] == value
                if dropped_want[group].any() and not dropped_want[group].all():
                    split |= group
            assert (dropped_got[split].sum() == dropped_want[split].sum()), (cases[i], row)
            np.testing.assert_array_equal(dropped_got[~split], dropped_want[~split], err_msg=f"{cases[i]} {row}")
            keep = ~dropped_want & ~dropped_got
            np.testing.assert_allclose(got[row][keep], want[row][keep], rtol=1e-6, err_msg=str(cases[i]))
        if top_p == 1.0:  # top-k alone: ties with the k-th score stay, so no group is ever split
            np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want), err_msg=str(cases[i]))
    with pytest.raises(ValueError, match="temperature"):
        models.warp_logits(t(scores), temperature=0.0)
    with pytest.raises(ValueError, match="top_p"):
        models.warp_logits(t(scores), top_p=1.5)


def test_sampled_generation_is_seeded_and_stays_in_the_top_k(fx):
    model = models.AutoModelForCausalLM.from_pretrained(fx / "gpt2")
    ids, mask = ref(fx, "gpt2", "gen_batch.input_ids"), ref(fx, "gpt2", "gen_batch.attention_mask")

    def sample(seed, **kwargs):
        doppel.manual_seed(seed)
        return model.generate(t(ids), t(mask), max_new_tokens=12, pad_token_id=0, do_sample=True, **kwargs).numpy()

    a = sample(3, top_k=4)
    np.testing.assert_array_equal(a, sample(3, top_k=4))  # one seed, one answer
    assert not all(np.array_equal(a, sample(s, top_k=4)) for s in (4, 5, 6))  # it does sample
    # Every drawn token is among the 4 best of the model's logits given what came before it.
    T = ids.shape[1]
    full_mask = np.concatenate([mask, np.ones((ids.shape[0], a.shape[1] - T), np.int64)], 1)
    pos = np.maximum(np.cumsum(full_mask, 1) - 1, 0)
    with doppel.no_grad():
        logits = model(t(a), t(full_mask), t(pos)).numpy()
    for j in range(T, a.shape[1]):
        best4 = np.argsort(-logits[:, j - 1], axis=-1, kind="stable")[:, :4]
        assert all(a[r, j] in best4[r] for r in range(a.shape[0])), j
    # top_k=1 leaves one token: sampling is greedy decoding.
    greedy = model.generate(t(ids), t(mask), max_new_tokens=12, pad_token_id=0).numpy()
    np.testing.assert_array_equal(sample(9, top_k=1), greedy)
