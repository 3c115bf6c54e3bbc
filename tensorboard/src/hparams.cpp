// add_hparams' summaries: the hparams plugin's experiment (hparam and metric infos), session
// start (the values) and session end (success) records, as PyTorch's summary.hparams.
#include <fmt/format.h>
#include <google/protobuf/struct.pb.h>

#include <algorithm>

#include "doppel/core/error.h"
#include "summaries.h"
#include "tensorboard/plugins/hparams/plugin_data.pb.h"

namespace doppel::tensorboard::detail {

namespace {

namespace hp = ::tensorboard::hparams;

void set_value(google::protobuf::Value* out, const HParamValue& v) {
  if (const auto* d = std::get_if<double>(&v)) out->set_number_value(*d);
  if (const auto* s = std::get_if<std::string>(&v)) out->set_string_value(*s);
  if (const auto* b = std::get_if<bool>(&v)) out->set_bool_value(*b);
}

hp::DataType data_type(const HParamValue& v) {
  if (std::holds_alternative<double>(v)) return hp::DATA_TYPE_FLOAT64;
  return std::holds_alternative<std::string>(v) ? hp::DATA_TYPE_STRING : hp::DATA_TYPE_BOOL;
}

// A summary carrying `content` under `tag` with the hparams plugin's metadata.
tbp::Summary plugin_summary(const char* tag, hp::HParamsPluginData content) {
  content.set_version(0);  // the plugin data version PyTorch and TensorBoard write
  tbp::Summary s;
  tbp::Summary::Value* v = s.add_value();
  v->set_tag(tag);
  auto* plugin = v->mutable_metadata()->mutable_plugin_data();
  plugin->set_plugin_name("hparams");
  plugin->set_content(content.SerializeAsString());
  return s;
}

}  // namespace

std::vector<tbp::Summary> hparams_summaries(
    const HParams& hparams, const Scalars& metrics,
    const std::map<std::string, std::vector<HParamValue>>& hparam_domain_discrete) {
  for (const auto& [name, domain] : hparam_domain_discrete) {
    const auto it = std::find_if(hparams.begin(), hparams.end(), [&](const auto& h) { return h.first == name; });
    const bool ok = it != hparams.end() && std::all_of(domain.begin(), domain.end(), [&](const HParamValue& d) {
                      return d.index() == it->second.index();
                    });
    if (!ok)
      throw ValueError(
          fmt::format("add_hparams: hparam_domain_discrete['{}'] should be a list of the same type as "
                      "hparam_dict['{}']",
                      name, name));
  }
  hp::HParamsPluginData experiment, start, end;
  hp::Experiment* exp = experiment.mutable_experiment();
  hp::SessionStartInfo* ssi = start.mutable_session_start_info();
  for (const auto& [name, value] : hparams) {
    set_value(&(*ssi->mutable_hparams())[name], value);
    hp::HParamInfo* info = exp->add_hparam_infos();
    info->set_name(name);
    info->set_type(data_type(value));
    if (const auto it = hparam_domain_discrete.find(name); it != hparam_domain_discrete.end())
      for (const HParamValue& d : it->second) set_value(info->mutable_domain_discrete()->add_values(), d);
  }
  for (const auto& [tag, value] : metrics) exp->add_metric_infos()->mutable_name()->set_tag(tag);
  end.mutable_session_end_info()->set_status(hp::STATUS_SUCCESS);
  return {plugin_summary("_hparams_/experiment", std::move(experiment)),
          plugin_summary("_hparams_/session_start_info", std::move(start)),
          plugin_summary("_hparams_/session_end_info", std::move(end))};
}

}  // namespace doppel::tensorboard::detail
