#include "doppel/nn/container.h"

#include <string>

namespace doppel::nn {

namespace {
const ModulePtr& item(const std::vector<ModulePtr>& items, int64_t i, std::string_view what) {
  const int64_t n = int64_t(items.size());
  DOPPEL_CHECK_INDEX(i >= -n && i < n, "{}: index {} is out of range for {} modules", what, i, n);
  return items[size_t(i < 0 ? i + n : i)];
}
}  // namespace

Sequential::Sequential(std::initializer_list<ModulePtr> modules) : Module("Sequential") {
  for (const auto& m : modules) push_back(m);
}

Sequential& Sequential::push_back(ModulePtr m) {
  register_module(std::to_string(items_.size()), m);
  items_.push_back(std::move(m));
  return *this;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& m : items_) y = m->forward(y);
  return y;
}

const ModulePtr& Sequential::operator[](int64_t i) const { return item(items_, i, "Sequential"); }

ModuleList::ModuleList(std::initializer_list<ModulePtr> modules) : Module("ModuleList") {
  for (const auto& m : modules) push_back(m);
}

ModuleList& ModuleList::push_back(ModulePtr m) {
  register_module(std::to_string(items_.size()), m);
  items_.push_back(std::move(m));
  return *this;
}

const ModulePtr& ModuleList::operator[](int64_t i) const { return item(items_, i, "ModuleList"); }

}  // namespace doppel::nn
