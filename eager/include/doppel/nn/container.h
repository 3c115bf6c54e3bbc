#pragma once
// Containers: Sequential (chains single-input forwards) and ModuleList (holds modules for a
// custom forward). Children are named "0", "1", ... in insertion order, as PyTorch, so a
// Sequential's state dict keys read "0.weight", "2.bias".
#include <initializer_list>
#include <memory>
#include <vector>

#include "doppel/nn/module.h"

namespace doppel::nn {

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  // nn::Sequential{std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::ReLU>()}
  Sequential(std::initializer_list<ModulePtr> modules);
  // Appends under the next index as name; returns *this for chaining.
  Sequential& push_back(ModulePtr m);
  Tensor forward(const Tensor& x) override;

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  // Negative indices count from the end; out of range raises IndexError.
  const ModulePtr& operator[](int64_t i) const;
  // The i-th module cast to M (raises ValueError if it is not an M).
  template <class M>
  std::shared_ptr<M> at(int64_t i) const {
    auto p = std::dynamic_pointer_cast<M>((*this)[i]);
    DOPPEL_CHECK(p != nullptr, "Sequential: module {} is a {}, not the requested type", i, (*this)[i]->type_name());
    return p;
  }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<ModulePtr> items_;
};

class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  ModuleList(std::initializer_list<ModulePtr> modules);
  ModuleList& push_back(ModulePtr m);

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const ModulePtr& operator[](int64_t i) const;
  template <class M>
  std::shared_ptr<M> at(int64_t i) const {
    auto p = std::dynamic_pointer_cast<M>((*this)[i]);
    DOPPEL_CHECK(p != nullptr, "ModuleList: module {} is a {}, not the requested type", i, (*this)[i]->type_name());
    return p;
  }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<ModulePtr> items_;
};

}  // namespace doppel::nn
