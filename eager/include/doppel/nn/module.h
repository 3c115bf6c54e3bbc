#pragma once
// nn::Module: the base of every layer. A module owns named parameters (tensors that require
// grad), named buffers (state such as running statistics) and named child modules, all kept in
// registration order so that parameters(), state_dict() and friends list them in a stable,
// PyTorch-compatible order with dotted names ("0.weight", "encoder.norm1.bias").
//
// Modules are held by std::shared_ptr (children are shared, as in PyTorch), so build them with
// std::make_shared<nn::Linear>(784, 512) and register children with register_module.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "doppel/core/tensor.h"
#include "doppel/state_dict.h"

namespace doppel::nn {

class Module : public std::enable_shared_from_this<Module> {
 public:
  // `type_name` is what printing and error messages call the module ("Linear").
  explicit Module(std::string type_name = "Module");
  virtual ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& type_name() const { return type_name_; }

  // The single-input forward. Modules whose forward takes other arguments (losses,
  // MultiheadAttention) keep this default, which raises a ValueError saying so.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  // ---- Introspection. Names are dotted paths from this module; order is registration order,
  // depth first (a module's own entries before its children's). Tensors are the live handles.
  std::vector<Tensor> parameters(bool recurse = true) const;
  StateDict named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  StateDict named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  // This module (first, named "") and every descendant, pre-order. Needs *this to be owned by
  // a std::shared_ptr (raises ValueError otherwise).
  std::vector<std::shared_ptr<Module>> modules();
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules();

  // ---- Modes. train/eval apply to the whole subtree (dropout, batch norm read it).
  Module& train(bool on = true);
  Module& eval() { return train(false); }
  // While a trace is active, the flag becomes a guard of the compiled graph (train() or eval()
  // after compiling makes the next call retrace instead of replaying the other mode's graph).
  bool is_training() const;

  // Converts every parameter and buffer in place: the same tensor objects (and handles held by
  // optimizers) see the new data. to(dtype) converts floating tensors only (integer buffers
  // such as num_batches_tracked keep their dtype) and converts gradients too, as PyTorch.
  // to(device) moves every parameter, gradient and buffer (a no-op for those already there).
  Module& to(DType dtype);
  Module& to(Device device);

  // Sets every parameter's gradient to undefined (PyTorch's set_to_none=True default).
  void zero_grad();

  // ---- State. state_dict holds the parameters and persistent buffers (live handles, not
  // copies). load_state_dict copies values in without recording autograd history; it raises
  // ValueError listing missing and unexpected keys (strict only) and ShapeError / DTypeError
  // listing every key whose shape or dtype differs from the module's (always). Nothing is
  // copied unless every check passes.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state, bool strict = true);

  // ---- Registration (from constructors). Names must be non-empty, contain no '.', and be
  // unique within the module. Returns the registered object.
  Tensor register_parameter(std::string name, Tensor t, bool requires_grad = true);
  Tensor register_buffer(std::string name, Tensor t, bool persistent = true);
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> m) {
    register_module_impl(std::move(name), m);
    return m;
  }

  // The registered parameter / buffer / child with this (undotted) name; raises ValueError if
  // there is none.
  Tensor parameter(std::string_view name) const;
  Tensor buffer(std::string_view name) const;
  std::shared_ptr<Module> child(std::string_view name) const;

  // A PyTorch-style multi-line description ("Sequential(\n  (0): Linear(in_features=...)").
  std::string str() const;

 protected:
  // One-line details printed after the type name ("in_features=4, out_features=2, bias=true").
  virtual std::string extra_repr() const { return {}; }

 private:
  struct BufferEntry {
    std::string name;
    Tensor t;
    bool persistent;
  };
  void register_module_impl(std::string name, std::shared_ptr<Module> m);
  void check_new_name(std::string_view name, std::string_view what) const;
  void collect_parameters(const std::string& prefix, bool recurse, StateDict& out) const;
  void collect_buffers(const std::string& prefix, bool recurse, bool persistent_only, StateDict& out) const;
  void collect_modules(const std::string& prefix, std::vector<std::pair<std::string, std::shared_ptr<Module>>>& out);
  void str_into(std::string& out, int indent) const;

  std::string type_name_;
  bool training_ = true;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<BufferEntry> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

using ModulePtr = std::shared_ptr<Module>;

// A 2-d size argument (kernel, stride, padding, ...): one number for both dims or {h, w}, so
// options read like PyTorch's: `.kernel = 3` or `.kernel = {3, 5}`.
struct Size2 {
  int64_t h = 0, w = 0;
  Size2(int64_t v) : h(v), w(v) {}  // NOLINT: implicit, as PyTorch's int-or-tuple arguments
  Size2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
  std::vector<int64_t> vec() const { return {h, w}; }
  friend bool operator==(const Size2&, const Size2&) = default;
};

}  // namespace doppel::nn
