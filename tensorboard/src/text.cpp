// add_text's summary: a string tensor [1] under <tag>/text_summary with the text plugin's metadata.
#include "summaries.h"
#include "tensorboard/plugins/text/plugin_data.pb.h"

namespace doppel::tensorboard::detail {

tbp::Summary text_summary(const std::string& tag, const std::string& text) {
  tbp::Summary s;
  tbp::Summary::Value* v = s.add_value();
  v->set_tag(tag + "/text_summary");
  tbp::TextPluginData content;
  content.set_version(0);
  auto* plugin = v->mutable_metadata()->mutable_plugin_data();
  plugin->set_plugin_name("text");
  plugin->set_content(content.SerializeAsString());
  tbp::TensorProto* t = v->mutable_tensor();
  t->set_dtype(tbp::DT_STRING);
  t->add_string_val(text);
  t->mutable_tensor_shape()->add_dim()->set_size(1);
  return s;
}

}  // namespace doppel::tensorboard::detail
