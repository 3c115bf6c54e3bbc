#pragma once
// The state of one export that the per-op mapping functions build on: ONNX names of doppel
// values, fresh names, constants, casts, and the run-time value of symbolic dimensions.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "doppel/graph/ir.h"
#include "onnx_model.h"

namespace doppel::onnx::detail {

OnnxType onnx_type(DType t);
// A tensor of `shape` filled with `value` converted to `dtype` (weights and constants the
// export makes up: ones, zeros, scalars).
Tensor filled_tensor(IntList shape, double value, DType dtype);

class Emitter {
 public:
  Emitter(const graph::Graph& g, OnnxModel& model);

  const graph::Graph& graph() const { return g_; }

  // ---- Graph-level set-up (export.cpp).
  // Gives value `v` the ONNX name derived from `hint` (made unique).
  std::string name_value(graph::ValueId v, std::string_view hint);
  const std::string& value_name(graph::ValueId v) const;
  bool has_name(graph::ValueId v) const { return names_[size_t(v)].size() > 0; }
  void add_initializer(const std::string& name, const Tensor& t, std::string doc = {});

  // ---- The node being mapped.
  void begin_node(int32_t index);
  const graph::Node& node() const { return *node_; }
  std::string in(size_t k) const;  // "" for an absent optional input
  bool has_in(size_t k) const { return k < node_->inputs.size() && node_->inputs[k] != graph::kNoValue; }
  size_t num_in() const { return node_->inputs.size(); }
  const graph::Value& in_value(size_t k) const { return g_.value(node_->inputs[k]); }
  DType in_dtype(size_t k) const { return in_value(k).dtype; }
  int64_t in_rank(size_t k) const { return int64_t(in_value(k).shape.size()); }
  const graph::Value& out_value(size_t k) const { return g_.value(node_->outputs[k]); }
  DType out_dtype(size_t k = 0) const { return out_value(k).dtype; }
  int64_t out_rank(size_t k = 0) const { return int64_t(out_value(k).shape.size()); }
  // The ONNX name of node output k: the mapping's last node writes it.
  const std::string& out(size_t k = 0) const { return value_name(node_->outputs[k]); }

  // The node's attributes as its op's struct (kernels/op_attrs); a ValueError when one depends
  // on a symbol, except those listed (by the struct's Index) in `symbolic_ok`, which the
  // mapping reads through int_input / ints_input / attr_is_symbolic instead.
  template <class T>
  T attrs(std::initializer_list<size_t> symbolic_ok = {}) const {
    require_static(symbolic_ok);
    return T::of(node_->attrs);
  }
  // Attributes that must not depend on a symbol (a ValueError otherwise).
  const Attr& attr(size_t k) const;
  bool attr_is_symbolic(size_t k) const;
  // An Int / Ints attribute as a 1-d int64 tensor; symbolic entries are computed at run time
  // from the input shapes.
  std::string int_input(size_t k);
  // `minus_one_as`: the value constant -1 entries become (expand's "keep this dim" is ONNX's 1).
  std::string ints_input(size_t k, std::optional<int64_t> minus_one_as = {});
  // The concrete value an attribute entry would have (for -1 substitution decisions).
  const std::vector<graph::SymAttr>& sym_attrs() const { return node_->sym_attrs; }

  // ---- Emitting.
  // Appends an ONNX node; returns its (first) output: `output`, or a fresh name.
  std::string add(std::string op_type, std::vector<std::string> inputs, std::vector<OnnxAttr> attrs = {},
                  std::string output = {});
  // The same for a node with several outputs (all named by the caller).
  void add_multi(std::string op_type, std::vector<std::string> inputs, std::vector<OnnxAttr> attrs,
                 std::vector<std::string> outputs);
  std::string fresh(std::string_view hint);
  // Whether an emitted node wrote `name` (the export checks each mapping defined its outputs).
  bool produced(const std::string& name) const { return produced_.count(name) > 0; }
  // Initializers: a 1-d int64 tensor (or 0-d with scalar), and a 0-d scalar of a dtype.
  std::string const_i64(const std::vector<int64_t>& values, bool scalar = false);
  std::string const_scalar(double value, DType dtype);
  std::string const_tensor(const Tensor& t, std::string_view hint);
  // `x` of dtype `from` as `to` (x itself when they agree).
  std::string cast(const std::string& x, DType from, DType to);
  // The run-time value of SymDim `d` as a [1] int64 tensor.
  std::string sym_dim(const graph::SymDim& d);

  // Dim `d` of a rank-`rank` tensor made non-negative (fails when out of range).
  int64_t wrap(int64_t d, int64_t rank) const;

  [[noreturn]] void fail(std::string_view why) const;

 private:
  void require_static(std::initializer_list<size_t> symbolic_ok) const;
  std::string symbol_value(int32_t sym);
  std::string cached_initializer(OnnxTensor t, std::string_view hint);

  const graph::Graph& g_;
  OnnxModel& m_;
  std::vector<std::string> names_;
  std::set<std::string> used_;
  std::set<std::string> produced_;
  std::map<int32_t, std::string> symbol_values_;
  std::map<std::string, std::string> const_cache_;  // (type, dims, bytes) -> initializer name
  const graph::Node* node_ = nullptr;
  int32_t node_index_ = -1;
  int32_t helper_count_ = 0;
};

}  // namespace doppel::onnx::detail
