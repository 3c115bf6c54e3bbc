// The model families against Hugging Face transformers 4.40.2 (the oracle: hf_fixtures.h):
// logits at several lengths and batches with padding, BERT's heads, Llama with grouped-query
// attention, Mistral's sliding window, Qwen2's biases, greedy generation token for token, the KV cache against full
// recomputation, bf16 and sharded checkpoints, tied embeddings, and the typed errors of bad checkpoints.
#include <fmt/format.h>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <filesystem>
#include <fstream>
#include <functional>

#include "doppel/doppel.h"
#include "doppel/graph/compile.h"
#include "doppel/io/safetensors.h"
#include "doppel/models/auto_model.h"
#include "doppel/models/bert.h"
#include "doppel/models/checkpoint.h"
#include "doppel/models/decode_step.h"
#include "doppel/models/generate.h"
#include "doppel/models/gpt2.h"
#include "doppel/models/llama.h"
#include "models/hf_fixtures.h"
#include "support/temp_dir.h"

using namespace doppel;
using namespace doppel::models;
using Catch::Matchers::ContainsSubstring;
using doppel::testing::hf_fixtures;
using doppel::testing::hf_ref;

namespace {

std::string fixture(const std::string& name) { return (std::filesystem::path(hf_fixtures()) / name).string(); }

// max |a - b| / (1 + |b|) over the positions [B, L] where mask is 1 (every position when mask
// is undefined); a, b are [B, L, V] or [B, V].
double max_rel_diff(const Tensor& a, const Tensor& b, const Tensor& mask = {}) {
  REQUIRE(a.shape() == b.shape());
  Tensor d = div(abs(sub(a, b)), add(abs(b), 1.0));
  if (mask.defined()) d = mul(d, unsqueeze(to_dtype(mask, DType::Float32), -1));
  return amax(d).to_vector<float>()[0];
}

constexpr double kFloat32Tol = 2e-5;  // float32 logits of 2-layer models, relative to 1 + |logit|

// The decoder logits cases of make_fixtures.py (DECODER_SHAPES: batch 1 of 1 and 6 tokens,
// batch 2 and 3 left-padded) against `model`, at the real tokens.
void check_decoder_logits(CausalLM& model, const std::string& name, int cases) {
  for (int i = 0; i < cases; ++i) {
    const std::string c = fmt::format("logits{}", i);
    const Tensor ids = hf_ref(name, c + ".input_ids"), mask = hf_ref(name, c + ".attention_mask");
    const Tensor logits = model.forward(ids, mask, hf_ref(name, c + ".position_ids"), nullptr);
    INFO(name << " " << c << " ids " << shape_str(ids.shape()));
    CHECK(max_rel_diff(logits, hf_ref(name, c), mask) < kFloat32Tol);
  }
}

void check_generation(CausalLM& model, const std::string& name) {
  for (const std::string c : {"gen_single", "gen_batch", "gen_eos"}) {
    GenerationOptions options{.max_new_tokens = 32, .eos_token_id = {}, .pad_token_id = 0};
    if (c == "gen_eos") options.eos_token_id = hf_ref(name, c + ".eos").to_vector<int64_t>()[0];
    const Tensor out = generate(model, hf_ref(name, c + ".input_ids"), hf_ref(name, c + ".attention_mask"), options);
    const Tensor want = hf_ref(name, c);
    INFO(name << " " << c);
    REQUIRE(out.shape() == want.shape());
    CHECK(out.to_vector<int64_t>() == want.to_vector<int64_t>());
  }
}

// Prefill of the first 5 tokens, then one token per step through the cache, against the logits
// of the whole left-padded sequence at once.
void check_cache_matches_recompute(CausalLM& model, const std::string& name) {
  NoGradGuard no_grad;
  const Tensor ids = hf_ref(name, "logits3.input_ids"), mask = hf_ref(name, "logits3.attention_mask");
  const Tensor pos = hf_ref(name, "logits3.position_ids");
  const Tensor full = model.forward(ids, mask, pos, nullptr);
  KVCache cache;
  const int64_t T = ids.size(1), prefill = 5;
  std::vector<Tensor> steps = {
      model.forward(narrow(ids, 1, 0, prefill), narrow(mask, 1, 0, prefill), narrow(pos, 1, 0, prefill), &cache)};
  for (int64_t t = prefill; t < T; ++t)
    steps.push_back(model.forward(narrow(ids, 1, t, 1), narrow(mask, 1, 0, t + 1), narrow(pos, 1, t, 1), &cache));
  CHECK(cache.length() == T);
  CHECK(max_rel_diff(cat(steps, 1), full, mask) < 1e-5);
}

// The causal LMs of the fixtures: GPT-2, Llama (GQA), Mistral (GQA, a sliding window of 4 over
// sequences up to 45 tokens), Qwen2 (biased q/k/v, tied embeddings).
const std::vector<std::string> kDecoders = {"gpt2", "llama", "mistral", "qwen2"};

std::shared_ptr<CausalLM> load_lm(const std::string& name) {
  return std::dynamic_pointer_cast<CausalLM>(
      from_pretrained(fixture(name), resolve_architecture(fixture(name), AutoClass::FromConfig)));
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE(
    "Decoders (GPT-2, Llama, Mistral, Qwen2): logits equal transformers' at several lengths and left-padded batches",
    "[models]") {
  for (const std::string& name : kDecoders) {
    auto model = load_lm(name);
    NoGradGuard no_grad;
    check_decoder_logits(*model, name, 4);
    // Without a mask or position ids (every token real): the causal path of the attention.
    const Tensor ids = hf_ref(name, "logits1.input_ids");
    CHECK(max_rel_diff(model->forward(ids), hf_ref(name, "logits1")) < kFloat32Tol);
  }
  auto llama = LlamaForCausalLM::from_pretrained(fixture("llama"));
  CHECK(llama->base->layers->at<LlamaDecoderLayer>(0)->self_attn->num_kv_heads == 2);
  CHECK(llama->base->layers->at<LlamaDecoderLayer>(0)->self_attn->k_proj->weight.size(0) == 16);
  CHECK_FALSE(llama->lm_head_weight.is_same(llama->base->embed_tokens->weight));
  auto mistral = MistralForCausalLM::from_pretrained(fixture("mistral"));
  CHECK(mistral->base->config.sliding_window == 4);
  CHECK(mistral->base->type_name() == "MistralModel");
  auto qwen2 = Qwen2ForCausalLM::from_pretrained(fixture("qwen2"));
  const auto attn = qwen2->base->layers->at<LlamaDecoderLayer>(0)->self_attn;
  CHECK((attn->q_proj->bias.defined() && attn->v_proj->bias.defined() && !attn->o_proj->bias.defined()));
  CHECK_FALSE(qwen2->base->config.sliding_window.has_value());  // use_sliding_window is false
  CHECK(qwen2->lm_head_weight.is_same(qwen2->base->embed_tokens->weight));
}

TEST_CASE("Decoders: greedy generation of 32 tokens equals transformers' (batch 1, left-padded, eos)", "[models]") {
  for (const std::string& name : kDecoders) check_generation(*load_lm(name), name);
}

TEST_CASE("Decoders: a compiled decode step generates the same tokens, traced once for every cache length",
          "[models]") {
  for (const std::string& name : kDecoders) {
    INFO(name);
    auto model = load_lm(name);
    DecodeStep step(*model);
    for (const std::string c : {"gen_batch", "gen_eos"}) {  // batch 3: prompts of 9 tokens, 32 new tokens at most
      GenerationOptions options{.max_new_tokens = 32, .eos_token_id = {}, .pad_token_id = 0, .decode_step = &step};
      if (c == "gen_eos") options.eos_token_id = hf_ref(name, c + ".eos").to_vector<int64_t>()[0];
      const Tensor out = generate(*model, hf_ref(name, c + ".input_ids"), hf_ref(name, c + ".attention_mask"), options);
      CHECK(out.to_vector<int64_t>() == hf_ref(name, c).to_vector<int64_t>());
    }
    // A shorter prompt of the same batch size replays the same graph.
    const Tensor ids = narrow(hf_ref(name, "gen_batch.input_ids"), 1, 4, 5);
    const Tensor mask = narrow(hf_ref(name, "gen_batch.attention_mask"), 1, 4, 5);
    GenerationOptions options{.max_new_tokens = 6, .eos_token_id = {}, .pad_token_id = 0, .decode_step = &step};
    const Tensor compiled = generate(*model, ids, mask, options);
    options.decode_step = nullptr;
    CHECK(compiled.to_vector<int64_t>() == generate(*model, ids, mask, options).to_vector<int64_t>());
    CHECK(step.num_traces() == 1);
    CHECK(step.num_graph_runs() >= 31 + 3 + 4);
  }
}

TEST_CASE("Decoders: KV-cache decoding equals full recomputation", "[models]") {
  for (const std::string& name : kDecoders) check_cache_matches_recompute(*load_lm(name), name);
}

TEST_CASE("GPT-2: tied lm_head is the embedding tensor itself", "[models]") {
  auto model = GPT2LMHeadModel::from_pretrained(fixture("gpt2"));
  CHECK(model->lm_head_weight.is_same(model->base->wte->weight));
  CHECK(model->child("lm_head")->parameter("weight").is_same(model->base->wte->weight));
  // Listed once, under the embedding's name (as HF's file stores it).
  const StateDict sd = model->state_dict();
  CHECK(state_find(sd, "transformer.wte.weight").is_same(model->base->wte->weight));
  CHECK_FALSE(state_find(sd, "lm_head.weight").defined());
}

TEST_CASE("GPT-2: the base model from an LM checkpoint gives the LM's hidden states", "[models]") {
  auto base = GPT2Model::from_pretrained(fixture("gpt2"));
  NoGradGuard no_grad;
  const Tensor ids = hf_ref("gpt2", "logits1.input_ids");
  const Tensor logits = linear(base->forward(ids), base->wte->weight);
  CHECK(max_rel_diff(logits, hf_ref("gpt2", "logits1")) < kFloat32Tol);
}

TEST_CASE("GPT-2: bf16 and f16 checkpoints load into float32, and a model loads in bf16", "[models]") {
  auto f32 = GPT2LMHeadModel::from_pretrained(fixture("gpt2"));
  const Tensor w = f32->base->h->at<GPT2Block>(1)->mlp->c_fc->weight;
  const std::string c = "logits2";
  const Tensor ids = hf_ref("gpt2", c + ".input_ids"), mask = hf_ref("gpt2", c + ".attention_mask");
  const Tensor pos = hf_ref("gpt2", c + ".position_ids");
  for (const auto& [name, dtype] :
       {std::pair<std::string, DType>{"gpt2_bf16", DType::BFloat16}, {"gpt2_f16", DType::Float16}}) {
    INFO(name);
    auto model = GPT2LMHeadModel::from_pretrained(fixture(name));
    CHECK(model->base->wte->weight.dtype() == DType::Float32);
    // The weights are the float32 ones rounded to the checkpoint's dtype.
    CHECK(max_rel_diff(model->base->h->at<GPT2Block>(1)->mlp->c_fc->weight,
                       to_dtype(to_dtype(w, dtype), DType::Float32)) == 0.0);
    NoGradGuard no_grad;
    const Tensor logits = model->forward(ids, mask, pos, nullptr);
    CHECK(max_rel_diff(logits, hf_ref(name, c), mask) < kFloat32Tol);  // transformers on this checkpoint
    CHECK(max_rel_diff(logits, hf_ref("gpt2", c), mask) < 1e-1);       // the float32 weights' logits
  }
  // A model in bfloat16 itself.
  auto bf16 = GPT2LMHeadModel::from_pretrained(fixture("gpt2"), DType::BFloat16);
  CHECK(bf16->base->wpe->weight.dtype() == DType::BFloat16);
  NoGradGuard no_grad;
  const Tensor lb = bf16->forward(ids, mask, pos, nullptr);
  CHECK(max_rel_diff(to_dtype(lb, DType::Float32), hf_ref("gpt2", c), mask) < 1e-1);
}

TEST_CASE("GPT-2: a sharded checkpoint loads the same weights", "[models]") {
  auto sharded = GPT2LMHeadModel::from_pretrained(fixture("gpt2_sharded"));
  auto single = GPT2LMHeadModel::from_pretrained(fixture("gpt2"));
  const StateDict a = sharded->state_dict(), b = single->state_dict();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK(a[i].second.to_vector<float>() == b[i].second.to_vector<float>());
  }
}

TEST_CASE("Llama: tie_word_embeddings shares the embedding and loads without lm_head.weight", "[models]") {
  auto model = LlamaForCausalLM::from_pretrained(fixture("llama_tied"));
  CHECK(model->lm_head_weight.is_same(model->base->embed_tokens->weight));
  NoGradGuard no_grad;
  const Tensor mask = hf_ref("llama_tied", "logits0.attention_mask");
  const Tensor logits = model->forward(hf_ref("llama_tied", "logits0.input_ids"), mask,
                                       hf_ref("llama_tied", "logits0.position_ids"), nullptr);
  CHECK(max_rel_diff(logits, hf_ref("llama_tied", "logits0"), mask) < kFloat32Tol);
}

TEST_CASE("BERT: masked-LM logits equal transformers' with token types and padding", "[models]") {
  auto model = BertForMaskedLM::from_pretrained(fixture("bert_mlm"));
  const auto decoder = model->child("cls")->child("predictions")->child("decoder");
  CHECK(decoder->parameter("weight").is_same(model->bert->word_embeddings->weight));
  CHECK(decoder->parameter("bias").is_same(state_find(model->state_dict(), "cls.predictions.bias")));
  NoGradGuard no_grad;
  for (int i = 0; i < 3; ++i) {
    const std::string c = fmt::format("logits{}", i);
    const Tensor mask = hf_ref("bert_mlm", c + ".attention_mask");
    const Tensor logits =
        model->forward(hf_ref("bert_mlm", c + ".input_ids"), mask, hf_ref("bert_mlm", c + ".token_type_ids"));
    INFO(c);
    CHECK(max_rel_diff(logits, hf_ref("bert_mlm", c), mask) < kFloat32Tol);
  }
}

TEST_CASE("BERT: sequence-classification logits and the pooler equal transformers'", "[models]") {
  auto model = BertForSequenceClassification::from_pretrained(fixture("bert_cls"));
  NoGradGuard no_grad;
  for (int i = 0; i < 3; ++i) {
    const std::string c = fmt::format("logits{}", i);
    const Tensor logits =
        model->forward(hf_ref("bert_cls", c + ".input_ids"), hf_ref("bert_cls", c + ".attention_mask"),
                       hf_ref("bert_cls", c + ".token_type_ids"));
    INFO(c);
    CHECK(logits.size(1) == 3);
    CHECK(max_rel_diff(logits, hf_ref("bert_cls", c)) < kFloat32Tol);
  }
  const BertOutput out =
      model->bert->forward(hf_ref("bert_cls", "logits2.input_ids"), hf_ref("bert_cls", "logits2.attention_mask"),
                           hf_ref("bert_cls", "logits2.token_type_ids"));
  CHECK(max_rel_diff(out.pooler_output, hf_ref("bert_cls", "pooler2")) < kFloat32Tol);
  CHECK(max_rel_diff(out.last_hidden_state, hf_ref("bert_cls", "hidden2"),
                     hf_ref("bert_cls", "logits2.attention_mask")) < kFloat32Tol);
}

TEST_CASE("AutoModel: the class from model_type or architectures", "[models]") {
  CHECK(resolve_architecture(fixture("gpt2"), AutoClass::Model) == "GPT2Model");
  CHECK(resolve_architecture(fixture("gpt2"), AutoClass::FromConfig) == "GPT2LMHeadModel");
  CHECK(resolve_architecture(fixture("llama"), AutoClass::ForCausalLM) == "LlamaForCausalLM");
  CHECK(resolve_architecture(fixture("bert_cls"), AutoClass::ForSequenceClassification) ==
        "BertForSequenceClassification");
  CHECK_THROWS_WITH(resolve_architecture(fixture("bert_mlm"), AutoClass::ForCausalLM),
                    ContainsSubstring("model_type 'bert' has no model for this Auto class"));
  auto m = from_pretrained(fixture("bert_mlm"), "BertForMaskedLM");
  CHECK(std::dynamic_pointer_cast<BertForMaskedLM>(m) != nullptr);
  CHECK_FALSE(m->is_training());
}

TEST_CASE("from_pretrained: unsupported architecture, missing tensor and wrong shape are typed errors", "[models]") {
  doppel::testing::TempDir dir("hf_errors");
  const std::string src = fixture("gpt2");
  std::filesystem::create_directories(dir.path / "model");
  const std::string d = dir.file("model");
  std::string config = read_text(src + "/config.json");

  write_text(d + "/config.json", R"({"model_type": "t5", "architectures": ["T5ForConditionalGeneration"]})");
  CHECK_THROWS_AS(resolve_architecture(d, AutoClass::Model), ValueError);
  CHECK_THROWS_WITH(resolve_architecture(d, AutoClass::Model), ContainsSubstring("'model_type' = 't5'"));
  CHECK_THROWS_WITH(resolve_architecture(d, AutoClass::FromConfig),
                    ContainsSubstring("'architectures' = 'T5ForConditionalGeneration'"));
  CHECK_THROWS_WITH(from_pretrained(d, "T5ForConditionalGeneration"),
                    ContainsSubstring("'T5ForConditionalGeneration'"));

  // No checkpoint at all.
  write_text(d + "/config.json", config);
  CHECK_THROWS_WITH(GPT2LMHeadModel::from_pretrained(d), ContainsSubstring("model.safetensors.index.json"));

  // A tensor missing.
  StateDict tensors = io::load_safetensors(src + "/model.safetensors").tensors;
  std::erase_if(tensors, [](const auto& e) { return e.first == "transformer.h.1.ln_2.bias"; });
  io::save_safetensors(d + "/model.safetensors", tensors);
  CHECK_THROWS_AS(GPT2LMHeadModel::from_pretrained(d), ValueError);
  CHECK_THROWS_WITH(GPT2LMHeadModel::from_pretrained(d),
                    ContainsSubstring("'transformer.h.1.ln_2.bias' [32]") && ContainsSubstring("missing"));

  // A config that does not match the checkpoint (n_positions 64 -> 32).
  io::save_safetensors(d + "/model.safetensors", io::load_safetensors(src + "/model.safetensors").tensors);
  const auto at = config.find("\"n_positions\": 64");
  REQUIRE(at != std::string::npos);
  write_text(d + "/config.json", config.replace(at, 17, "\"n_positions\": 32"));
  CHECK_THROWS_AS(GPT2LMHeadModel::from_pretrained(d), ShapeError);
  CHECK_THROWS_WITH(GPT2LMHeadModel::from_pretrained(d),
                    ContainsSubstring("'transformer.wpe.weight': checkpoint [64, 32] vs model [32, 32]"));

  // A family's class on another family's checkpoint.
  CHECK_THROWS_WITH(LlamaForCausalLM::from_pretrained(src), ContainsSubstring("model_type 'gpt2', not 'llama'"));
}

namespace {

// Every parameter's gradient after `loss.backward()` against transformers' (ref/grads.safetensors,
// keyed by HF's parameter names; a tied weight appears once), within 1e-4 of the largest
// |gradient| of that tensor.
void check_gradients(nn::Module& model, const std::string& name, const Tensor& loss) {
  CHECK(std::abs(loss.item<float>() - hf_ref(name, "grads.loss").to_vector<float>()[0]) < 1e-5);
  loss.backward();
  const StateDict want = io::load_safetensors(fixture(name) + "/ref/grads.safetensors").tensors;
  const StateDict params = model.named_parameters();
  REQUIRE(want.size() > 10);
  for (const auto& [key, g] : want) {
    INFO(name << " " << key);
    const Tensor p = state_find(params, key);
    REQUIRE(p.defined());
    REQUIRE(p.grad().defined());
    const double scale = amax(abs(g)).item<float>();
    CHECK(amax(abs(sub(p.grad(), g))).item<float>() <= 1e-4 * scale + 1e-7);
  }
}

// The causal-LM loss HF computes from labels: logits at t predict labels at t + 1, -100 ignored.
Tensor shifted_lm_loss(const Tensor& logits, const Tensor& labels) {
  const int64_t V = logits.size(-1);
  return cross_entropy(reshape(slice(logits, 1, 0, -1), {-1, V}), reshape(slice(labels, 1, 1, std::nullopt), {-1}));
}

}  // namespace

TEST_CASE("Fine-tuning: gradients of the decoders' and BERT's losses equal transformers'", "[models]") {
  for (const std::string& name : kDecoders) {
    auto model = load_lm(name);
    const Tensor logits = model->forward(hf_ref(name, "grads.input_ids"), hf_ref(name, "grads.attention_mask"),
                                         hf_ref(name, "grads.position_ids"), nullptr);
    check_gradients(*model, name, shifted_lm_loss(logits, hf_ref(name, "grads.labels")));
  }
  {
    auto model = BertForSequenceClassification::from_pretrained(fixture("bert_cls"));
    const Tensor logits =
        model->forward(hf_ref("bert_cls", "grads.input_ids"), hf_ref("bert_cls", "grads.attention_mask"),
                       hf_ref("bert_cls", "grads.token_type_ids"));
    check_gradients(*model, "bert_cls", cross_entropy(logits, hf_ref("bert_cls", "grads.labels")));
  }
}

TEST_CASE("doppel::compile of each model's forward equals eager", "[models]") {
  NoGradGuard no_grad;
  auto check = [](nn::Module& model, const std::function<Tensor(const std::vector<Tensor>&)>& forward,
                  const std::vector<Tensor>& inputs, const Tensor& mask) {
    INFO(model.type_name());
    const Tensor eager = forward(inputs);
    CompiledFunction compiled = compile([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{forward(in)}; },
                                        {.state_names = model.named_parameters()});
    for (int call = 0; call < 3; ++call) CHECK(max_rel_diff(compiled(inputs)[0], eager, mask) < 1e-5);
    CHECK(compiled.num_traces() == 1);
    CHECK(compiled.num_graph_runs() == 1);
  };
  for (const std::string& name : kDecoders) {
    const std::shared_ptr<CausalLM> model = load_lm(name);
    const std::vector<Tensor> in = {hf_ref(name, "logits2.input_ids"), hf_ref(name, "logits2.attention_mask"),
                                    hf_ref(name, "logits2.position_ids")};
    check(
        *model, [m = model](const std::vector<Tensor>& x) { return m->forward(x[0], x[1], x[2], nullptr); }, in, in[1]);
  }
  auto bert = BertForMaskedLM::from_pretrained(fixture("bert_mlm"));
  const std::vector<Tensor> in = {hf_ref("bert_mlm", "logits1.input_ids"), hf_ref("bert_mlm", "logits1.attention_mask"),
                                  hf_ref("bert_mlm", "logits1.token_type_ids")};
  check(
      *bert, [&](const std::vector<Tensor>& x) { return bert->forward(x[0], x[1], x[2]); }, in, in[1]);
}

TEST_CASE("load_pretrained_weights: base-model prefix either way, unexpected keys reported", "[models]") {
  const StateDict lm_file = io::load_safetensors(fixture("gpt2") + "/model.safetensors").tensors;
  const GPT2Config config = GPT2Config::from(HfConfig::load(fixture("gpt2")));
  // A base-model checkpoint (no "transformer." prefix) with an old GPT-2 file's attention-mask
  // buffer, loaded into the LM: the prefix is added, the buffer reported and skipped.
  StateDict base_file;
  for (const auto& [k, t] : lm_file) base_file.emplace_back(k.substr(std::string("transformer.").size()), t);
  base_file.emplace_back("h.0.attn.bias", ones({1, 1, 64, 64}));
  GPT2LMHeadModel lm(config);
  const LoadReport r = load_pretrained_weights(lm, base_file, "transformer", "test");
  CHECK(r.unexpected == std::vector<std::string>{"transformer.h.0.attn.bias"});
  CHECK(lm.base->ln_f->weight.to_vector<float>() == state_find(lm_file, "transformer.ln_f.weight").to_vector<float>());
  // The LM's checkpoint loaded into the base model: the prefix is stripped.
  GPT2Model base(config);
  CHECK(load_pretrained_weights(base, lm_file, "transformer", "test").unexpected.empty());
  CHECK(base.wpe->weight.to_vector<float>() == state_find(lm_file, "transformer.wpe.weight").to_vector<float>());
}
