#include "doppel/models/output_projection.h"

#include <memory>

namespace doppel::models {

void register_output_projection(nn::Module& parent, std::string name, const Tensor& weight, const Tensor& bias) {
  auto head = std::make_shared<nn::Module>("Linear");
  head->register_parameter("weight", weight);
  if (bias.defined()) head->register_parameter("bias", bias);
  parent.register_module(std::move(name), head);
}

}  // namespace doppel::models
