// export_decoder + runtime::Generator: a decoder's prefill and decode graphs in one file, and
// greedy generation from that file alone equal to transformers' (the fixtures' oracle) and to
// eager generate, token for token.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <filesystem>

#include "doppel/doppel.h"
#include "doppel/graph/export.h"
#include "doppel/models/auto_model.h"
#include "doppel/models/export_decoder.h"
#include "doppel/models/generate.h"
#include "doppel/runtime/generator.h"
#include "models/hf_fixtures.h"
#include "support/temp_dir.h"

using namespace doppel;
using namespace doppel::models;
using Catch::Matchers::ContainsSubstring;
using testing::hf_ref;

namespace {

std::shared_ptr<CausalLM> load_decoder(const std::string& name) {
  const std::string dir = (std::filesystem::path(testing::hf_fixtures()) / name).string();
  return std::dynamic_pointer_cast<CausalLM>(from_pretrained(dir, resolve_architecture(dir, AutoClass::FromConfig)));
}

std::string dims(const runtime::TensorSpec& spec) {
  std::string out;
  for (const auto& d : spec.shape) out += (out.empty() ? "" : ",") + (d.size >= 0 ? std::to_string(d.size) : d.symbol);
  return out;
}

}  // namespace

TEST_CASE("export_decoder: the runtime generates transformers' greedy tokens from the file alone", "[models][export]") {
  // GPT-2 (learned positions), Llama (RoPE, grouped-query attention), Mistral (sliding window).
  for (const std::string name : {"gpt2", "llama", "mistral"}) {
    INFO(name);
    auto model = load_decoder(name);
    testing::TempDir dir("doppel_export_decoder");
    const std::string path = dir.file(name + ".dpl");
    export_decoder(*model, path);
    const runtime::Generator gen = runtime::Generator::load(path);
    CHECK(gen.prefill().signature().outputs.size() == 1 + 2 * 2);  // logits, 2 layers' keys and values
    // Symbolic batch and lengths: one graph for every prompt length and cache length.
    CHECK(dims(gen.prefill().signature().inputs[0]) == "batch,seq");
    const std::string kv_heads = name == "gpt2" ? "4" : "2";  // GPT-2: 4 heads; the others 4 over 2 kv heads
    CHECK(dims(gen.prefill().signature().outputs[1]) == "batch," + kv_heads + ",seq,8");
    CHECK(dims(gen.decode().signature().inputs[2]) == "batch,past");
    CHECK(dims(gen.decode().signature().outputs[1]) == "batch," + kv_heads + ",past+1,8");
    CHECK(gen.prefill().signature().outputs[0].name == "logits");
    CHECK(gen.decode().signature().inputs[3].name == "past_key.0");
    for (const std::string c : {"gen_single", "gen_batch", "gen_eos"}) {
      runtime::GenerateOptions options{.max_new_tokens = 32, .eos_token_id = {}, .pad_token_id = 0};
      if (c == "gen_eos") options.eos_token_id = hf_ref(name, c + ".eos").to_vector<int64_t>()[0];
      const Tensor out = gen.generate(hf_ref(name, c + ".input_ids"), hf_ref(name, c + ".attention_mask"), options);
      const Tensor want = hf_ref(name, c);
      INFO(c);
      REQUIRE(out.shape() == want.shape());
      CHECK(out.to_vector<int64_t>() == want.to_vector<int64_t>());
    }
    // Ragged prompts (left-padded by the generator) against eager generate on each prompt alone.
    const std::vector<int64_t> batch_ids = hf_ref(name, "gen_batch.input_ids").to_vector<int64_t>();
    const std::vector<std::vector<int64_t>> prompts = {{batch_ids.begin() + 2, batch_ids.begin() + 9},
                                                       {batch_ids.begin() + 15, batch_ids.begin() + 18},
                                                       {batch_ids.begin() + 18, batch_ids.begin() + 27}};
    const auto got = gen.generate(prompts, {.max_new_tokens = 7, .eos_token_id = {}, .pad_token_id = 0});
    REQUIRE(got.size() == 3);
    for (size_t b = 0; b < prompts.size(); ++b) {
      const Tensor ids = tensor(prompts[b]).view({1, int64_t(prompts[b].size())});
      const std::vector<int64_t> eager = generate(*model, ids, {}, {.max_new_tokens = 7}).to_vector<int64_t>();
      CHECK(got[b] == std::vector<int64_t>(eager.begin() + int64_t(prompts[b].size()), eager.end()));
    }
  }
}

TEST_CASE("Generator: a file that is not a decoder file, and bad prompts, are typed errors", "[models][export]") {
  testing::TempDir dir("doppel_export_decoder");
  auto model = load_decoder("gpt2");
  const std::string path = dir.file("gpt2.dpl");
  export_decoder(*model, path);
  // The prefill graph alone, re-exported as an ordinary model: no decode graph.
  const std::string plain = dir.file("plain.dpl");
  export_graph(runtime::Model::load(path).graph(), plain);
  CHECK_THROWS_AS(runtime::Generator::load(plain), FormatError);
  CHECK_THROWS_WITH(runtime::Generator::load(plain), ContainsSubstring("has no graph 'decode'"));
  // Both graphs but no decoder metadata (a file not written by export_decoder).
  const std::string bare = dir.file("bare.dpl");
  const auto graph_of = [&](const std::string& name) {
    return std::make_shared<const graph::Graph>(runtime::Model::load(path, name).graph());
  };
  export_graphs({{"inference", graph_of("inference"), {}, {}}, {"decode", graph_of("decode"), {}, {}}}, bare);
  CHECK(runtime::Model::load(bare).graph_names() == std::vector<std::string>{"inference", "decode"});
  CHECK_THROWS_WITH(runtime::Generator::load(bare), ContainsSubstring("no 'doppel.decoder' metadata"));
  const runtime::Generator gen = runtime::Generator::load(path);
  CHECK_THROWS_AS(gen.generate(std::vector<std::vector<int64_t>>{{1, 2}, {}}), ValueError);
  CHECK_THROWS_AS(gen.generate(zeros({2, 3}, {.dtype = DType::Int32})), DTypeError);
  CHECK_THROWS_AS(gen.generate(zeros({2, 3}, {.dtype = DType::Int64}), ones({2, 4}, {.dtype = DType::Int64})),
                  ShapeError);
  // A token id outside the vocabulary: the embedding's IndexError, raised by the runtime.
  CHECK_THROWS_AS(gen.generate(std::vector<std::vector<int64_t>>{{1, 1000000}}), IndexError);
}
