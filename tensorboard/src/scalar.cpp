// add_scalar's summary: a simple_value (float), or in the new style a scalar tensor with the
// scalars plugin's metadata.
#include "summaries.h"

namespace doppel::tensorboard::detail {

tbp::Summary scalar_summary(const std::string& tag, double value, bool new_style, bool double_precision) {
  tbp::Summary s;
  tbp::Summary::Value* v = s.add_value();
  v->set_tag(tag);
  if (!new_style) {
    v->set_simple_value(float(value));
    return s;
  }
  tbp::TensorProto* t = v->mutable_tensor();
  if (double_precision) {
    t->set_dtype(tbp::DT_DOUBLE);
    t->add_double_val(value);
  } else {
    t->set_dtype(tbp::DT_FLOAT);
    t->add_float_val(float(value));
  }
  v->mutable_metadata()->mutable_plugin_data()->set_plugin_name("scalars");
  return s;
}

}  // namespace doppel::tensorboard::detail
