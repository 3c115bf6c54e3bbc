// doppel._C.models: the Hugging Face model families of doppel_models (models/). The Python
// package doppel.models wraps each in a doppel.nn.Module (python_bindings/doppel/models/).
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/tuple.h>

#include "bind.h"
#include "doppel/models/auto_model.h"
#include "doppel/models/bert.h"
#include "doppel/models/export_decoder.h"
#include "doppel/models/generate.h"
#include "doppel/models/gpt2.h"
#include "doppel/models/llama.h"

namespace doppel::py {
namespace {

using namespace doppel::models;  // NOLINT: the model names are the point here

Tensor opt_tensor(const std::optional<Tensor>& t) { return t ? *t : Tensor(); }
std::optional<Tensor> opt(const Tensor& t) { return t.defined() ? std::optional<Tensor>(t) : std::nullopt; }

AutoClass auto_class_of(const std::string& name) {
  if (name == "AutoModel") return AutoClass::Model;
  if (name == "AutoModelForCausalLM") return AutoClass::ForCausalLM;
  if (name == "AutoModelForMaskedLM") return AutoClass::ForMaskedLM;
  if (name == "AutoModelForSequenceClassification") return AutoClass::ForSequenceClassification;
  DOPPEL_CHECK(name == "config", "auto class '{}' is unknown", name);
  return AutoClass::FromConfig;
}

// forward(input_ids, attention_mask=None, position_ids=None) of a decoder (base or LM).
void def_decoder_forward(nb::class_<Decoder, nn::Module>& cls) {
  cls.def(
      "forward",
      [](Decoder& m, const Tensor& ids, const std::optional<Tensor>& mask, const std::optional<Tensor>& pos) {
        return m.forward(ids, opt_tensor(mask), opt_tensor(pos), nullptr);
      },
      nb::arg("input_ids"), nb::arg("attention_mask") = nb::none(), nb::arg("position_ids") = nb::none(), Release());
}

// BertModel's forward in Python: (last_hidden_state, pooler_output or None); the heads' logits as they are.
std::tuple<Tensor, std::optional<Tensor>> py_result(const BertOutput& o) {
  return {o.last_hidden_state, opt(o.pooler_output)};
}
Tensor py_result(const Tensor& logits) { return logits; }

// forward(input_ids, attention_mask=None, token_type_ids=None, position_ids=None) of BERT's models.
template <class M, class Cls>
void def_bert_forward(Cls& cls) {
  cls.def(
      "forward",
      [](M& m, const Tensor& ids, const std::optional<Tensor>& mask, const std::optional<Tensor>& types,
         const std::optional<Tensor>& pos) {
        return py_result(m.forward(ids, opt_tensor(mask), opt_tensor(types), opt_tensor(pos)));
      },
      nb::arg("input_ids"), nb::arg("attention_mask") = nb::none(), nb::arg("token_type_ids") = nb::none(),
      nb::arg("position_ids") = nb::none(), Release());
}

}  // namespace

void bind_models(nb::module_& m) {
  nb::module_ mm = m.def_submodule("models", "Hugging Face model families (doppel_models)");
  mm.def(
      "resolve_architecture",
      [](const std::string& dir, const std::string& auto_class) {
        return resolve_architecture(dir, auto_class_of(auto_class));
      },
      nb::arg("path"), nb::arg("auto_class"));
  mm.def("from_pretrained", &from_pretrained, nb::arg("path"), nb::arg("architecture"),
         nb::arg("dtype") = DType::Float32, Release());

  auto decoder = nb::class_<Decoder, nn::Module>(mm, "Decoder");
  def_decoder_forward(decoder);
  nb::class_<CausalLM, Decoder>(mm, "CausalLM")
      .def(
          "generate",
          [](CausalLM& model, const Tensor& ids, const std::optional<Tensor>& mask, int64_t max_new_tokens,
             std::optional<int64_t> eos, std::optional<int64_t> pad, DecodeStep* step, bool do_sample,
             double temperature, int64_t top_k, double top_p) {
            return generate(model, ids, opt_tensor(mask),
                            {.max_new_tokens = max_new_tokens,
                             .eos_token_id = eos,
                             .pad_token_id = pad,
                             .decode_step = step,
                             .do_sample = do_sample,
                             .sampling = {.temperature = temperature, .top_k = top_k, .top_p = top_p}});
          },
          nb::arg("input_ids"), nb::arg("attention_mask") = nb::none(), nb::arg("max_new_tokens") = 20,
          nb::arg("eos_token_id") = nb::none(), nb::arg("pad_token_id") = nb::none(),
          nb::arg("decode_step") = nb::none(), nb::arg("do_sample") = false, nb::arg("temperature") = 1.0,
          nb::arg("top_k") = 50, nb::arg("top_p") = 1.0, Release())
      .def(
          "export_decoder",
          [](CausalLM& model, const std::string& path, std::vector<std::pair<std::string, std::string>> metadata) {
            export_decoder(model, path, {.metadata = std::move(metadata), .producer = "doppel python"});
          },
          nb::arg("path"), nb::arg("metadata") = nb::list(), Release())
      .def_ro("eos_token_id", &CausalLM::eos_token_id)
      .def_ro("pad_token_id", &CausalLM::pad_token_id);
  mm.def(
      "warp_logits",
      [](const Tensor& scores, double temperature, int64_t top_k, double top_p) {
        return warp_logits(scores, {.temperature = temperature, .top_k = top_k, .top_p = top_p});
      },
      nb::arg("scores"), nb::arg("temperature") = 1.0, nb::arg("top_k") = 50, nb::arg("top_p") = 1.0,
      "HF's logits warpers for sampling (temperature, top-k, top-p): dropped tokens become -inf.");
  nb::class_<DecodeStep>(mm, "DecodeStep")
      .def(nb::init<CausalLM&>(), nb::arg("model"), nb::keep_alive<1, 2>())
      .def_prop_ro("num_traces", &DecodeStep::num_traces)
      .def_prop_ro("num_graph_runs", &DecodeStep::num_graph_runs);
  nb::class_<GPT2LMHeadModel, CausalLM>(mm, "GPT2LMHeadModel");
  nb::class_<LlamaForCausalLM, CausalLM>(mm, "LlamaForCausalLM");

  nb::class_<MistralForCausalLM, CausalLM>(mm, "MistralForCausalLM");
  nb::class_<Qwen2ForCausalLM, CausalLM>(mm, "Qwen2ForCausalLM");

  nb::class_<GPT2Model, Decoder>(mm, "GPT2Model");
  nb::class_<LlamaModel, Decoder>(mm, "LlamaModel");
  nb::class_<MistralModel, LlamaModel>(mm, "MistralModel");
  nb::class_<Qwen2Model, LlamaModel>(mm, "Qwen2Model");

  auto bert = nb::class_<BertModel, nn::Module>(mm, "BertModel");
  def_bert_forward<BertModel>(bert);
  auto heads = nb::class_<BertHeadModel, nn::Module>(mm, "BertHeadModel");
  def_bert_forward<BertHeadModel>(heads);
  nb::class_<BertForMaskedLM, BertHeadModel>(mm, "BertForMaskedLM");
  nb::class_<BertForSequenceClassification, BertHeadModel>(mm, "BertForSequenceClassification");
}

}  // namespace doppel::py
