"""Decoder files (doppel.models ... export_decoder, graph/FORMAT.md "Decoder files"): greedy
generation from the file alone by doppel.runtime.Generator, doppel-run --generate and
doppel-serve's :generate (real HTTP), against transformers' tokens (the fixtures of
test_models_hf.py) and doppel's eager generate. The C++ side: tests/models/test_export_decoder.cpp."""
import subprocess
import sys

import numpy as np
import pytest
from test_models_hf import REPO, fx, ref, t  # noqa: F401  (fx is a fixture)

import doppel
from doppel import models

sys.path.insert(0, str(REPO / "tests/python"))
from serve_util import ServeProcess, serve_binary  # noqa: E402

# Prompts of different lengths (ids < the fixtures' vocabulary of 97).
PROMPTS = [[5, 17, 42, 8, 3, 60, 11], [71, 2, 9], [13, 14, 15, 16, 17, 18, 19, 20, 21]]


@pytest.fixture(scope="module")
def gpt2_file(fx, tmp_path_factory):  # noqa: F811
    model = models.AutoModelForCausalLM.from_pretrained(fx / "gpt2")
    path = tmp_path_factory.mktemp("decoder") / "gpt2.dpl"
    model.export_decoder(path, metadata=[("source", "test")])
    return model, path


def eager_new_tokens(model, prompt, n):
    out = model.generate(t(np.array([prompt], np.int64)), max_new_tokens=n).numpy()[0]
    return out[len(prompt):].tolist()


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_runtime_generator_matches_transformers(fx, name, tmp_path):  # noqa: F811
    model = models.AutoModelForCausalLM.from_pretrained(fx / name)
    model.export_decoder(tmp_path / "m.dpl")
    gen = doppel.runtime.Generator.load(tmp_path / "m.dpl")
    assert gen.eos_token_id == 2  # config.json's
    for case in ("gen_single", "gen_batch", "gen_eos"):
        eos = int(ref(fx, name, "gen_eos.eos")[0]) if case == "gen_eos" else None
        out = gen.generate(t(ref(fx, name, f"{case}.input_ids")), t(ref(fx, name, f"{case}.attention_mask")),
                           max_new_tokens=32, eos_token_id=eos, pad_token_id=0)
        np.testing.assert_array_equal(out.numpy(), ref(fx, name, case), err_msg=case)
    got = gen.generate_ids(PROMPTS, max_new_tokens=6)
    assert got == [eager_new_tokens(model, p, 6) for p in PROMPTS]


def test_doppel_run_generates_from_token_ids(gpt2_file):
    model, path = gpt2_file
    args = [serve_binary("doppel-run"), str(path), "--generate", "--max-new-tokens", "8"]
    for p in PROMPTS:
        args += ["--ids", ",".join(map(str, p))]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = [list(map(int, line.split(","))) for line in r.stdout.strip().splitlines()]
    assert rows == [eager_new_tokens(model, p, 8) for p in PROMPTS]
    # A malformed id list is a usage error (exit status 2) naming the flag.
    r = subprocess.run([serve_binary("doppel-run"), str(path), "--generate", "--ids", "1,x"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "--ids" in r.stderr
    # The prefill graph is the file's default graph: --signature shows it and the decode graph.
    r = subprocess.run([serve_binary("doppel-run"), str(path), "--signature"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "graphs: inference, decode" in r.stdout and "metadata doppel.decoder: 2" in r.stdout


def test_serve_generate_endpoint(gpt2_file, fx, tmp_path):  # noqa: F811
    model, path = gpt2_file
    s = ServeProcess([path, "--model-name", "gpt2"])
    try:
        status, body = s.request("POST", "/v1/models/gpt2:generate", {"input_ids": PROMPTS, "max_new_tokens": 5})
        assert status == 200, body
        assert body == {"output_ids": [eager_new_tokens(model, p, 5) for p in PROMPTS]}
        # eos: a row stops at (and includes) it.
        first = eager_new_tokens(model, PROMPTS[0], 5)
        status, body = s.request("POST", "/v1/models/gpt2/versions/1:generate",
                                 {"input_ids": [PROMPTS[0]], "max_new_tokens": 5, "eos_token_id": first[2]})
        assert status == 200 and body == {"output_ids": [first[:first.index(first[2]) + 1]]}
        # :predict runs the prefill graph: transformers' logits of a left-padded batch.
        ids, mask, pos = (ref(fx, "gpt2", f"logits3.{k}") for k in ("input_ids", "attention_mask", "position_ids"))
        status, body = s.request("POST", "/v1/models/gpt2:predict", {"inputs": {
            "input_ids": ids.tolist(), "attention_mask": mask.tolist(), "position_ids": pos.tolist()}})
        assert status == 200, body
        logits, want = np.array(body["outputs"]["logits"]), ref(fx, "gpt2", "logits3")
        assert float((np.abs(logits - want) / (1 + np.abs(want)) * mask[..., None]).max()) < 2e-5
        bad = [({"input_ids": [1, 2]}, "input_ids[0] must be a non-empty list"),
               ({"input_ids": [[1], []]}, "input_ids[1] must be a non-empty list"),
               ({"input_ids": []}, "non-empty list of prompts"),
               ({"input_ids": [[1, -3]]}, "input_ids[0][1] must be a whole number"),
               ({"input_ids": [[1, "a"]]}, "input_ids[0][1] must be a whole number"),
               ({"input_ids": [[1]], "max_new_tokens": 2.5}, "max_new_tokens must be a whole number"),
               ({"input_ids": [[1]], "temperature": 1}, "unknown key \"temperature\""),
               ({"prompt": "hello"}, "unknown key \"prompt\""),
               ({"input_ids": [[1, 5000]]}, "5000")]  # outside the vocabulary of 97: the embedding's error
        for req, message in bad:
            status, body = s.request("POST", "/v1/models/gpt2:generate", req)
            assert status == 400 and message in body["error"], (req, body)
        status, body = s.request("POST", "/v1/models/gpt2:generate", raw=b"{not json")
        assert status == 400
        assert s.request("GET", "/v1/models/gpt2:generate")[0] == 405
        assert s.alive()
    finally:
        s.stop()
    # A model that is not a decoder file answers :generate with 400.
    subprocess.run([serve_binary("doppel-make-test-model"), str(tmp_path)], check=True, capture_output=True)
    s = ServeProcess([tmp_path / "mlp.dpl"])
    try:
        status, body = s.request("POST", "/v1/models/mlp:generate", {"input_ids": [[1]]})
        assert status == 400 and "not a decoder file" in body["error"]
    finally:
        s.stop()


def test_gpt2_forward_exports_to_onnx_with_symbolic_batch_and_sequence(fx, tmp_path):  # noqa: F811
    ort = pytest.importorskip("onnxruntime")
    model = models.AutoModelForCausalLM.from_pretrained(fx / "gpt2")
    ids = np.array([[0, 0, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7], [0, 9, 8, 7, 6, 5, 4]], np.int64)
    mask = (np.arange(7)[None] >= np.array([[2], [0], [1]])).astype(np.int64)
    doppel.onnx.export(model, (t(ids), t(mask)), tmp_path / "gpt2.onnx", input_names=["input_ids", "attention_mask"],
                       output_names=["logits"],
                       dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}})
    session = ort.InferenceSession(str(tmp_path / "gpt2.onnx"))
    inp = session.get_inputs()[0]
    assert inp.shape == ["batch", "seq"] and session.get_outputs()[0].shape[:2] == ["batch", "seq"]
    # Batches and lengths other than the traced one, against doppel eager (HF's forward: positions
    # 0..L-1, padding keys masked).
    for b, n in ((3, 7), (2, 4), (1, 11)):
        x = np.resize(ids, (b, n)) % 97
        m = np.resize(mask, (b, n))
        m[:, -1] = 1
        with doppel.no_grad():
            want = model(t(x), t(m)).numpy()
        got = session.run(None, {"input_ids": x, "attention_mask": m})[0]
        assert got.shape == want.shape == (b, n, 97)
        assert float((np.abs(got - want) / (1 + np.abs(want)) * m[..., None]).max()) < 2e-5, (b, n)
    # Every token real: transformers' own logits.
    x = ref(fx, "gpt2", "logits1.input_ids")
    got = session.run(None, {"input_ids": x, "attention_mask": np.ones_like(x)})[0]
    want = ref(fx, "gpt2", "logits1")
    assert float((np.abs(got - want) / (1 + np.abs(want))).max()) < 2e-5
