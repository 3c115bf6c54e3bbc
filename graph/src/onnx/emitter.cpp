#include "emitter.h"

#include <cctype>
#include <cstring>

#include "doppel/kernels/op_def.h"

namespace doppel::onnx::detail {

OnnxType onnx_type(DType t) {
  switch (t) {
    case DType::Float32:
      return OnnxType::float32;
    case DType::Float64:
      return OnnxType::float64;
    case DType::BFloat16:
      return OnnxType::bfloat16;
    case DType::Float16:
      return OnnxType::float16;
    case DType::Int8:
      return OnnxType::int8;
    case DType::UInt8:
      return OnnxType::uint8;
    case DType::Int32:
      return OnnxType::int32;
    case DType::Int64:
      return OnnxType::int64;
    case DType::Bool:
      return OnnxType::boolean;
  }
  return OnnxType::undefined;
}

Tensor filled_tensor(IntList shape, double value, DType dtype) {
  Tensor t = make_tensor(shape, dtype);
  auto fill = [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    for (int64_t k = 0; k < t.numel(); ++k) p[k] = T(compute_t<T>(value));
  };
  switch (dtype) {
    case DType::Float32:
      fill(t.data_ptr<float>());
      break;
    case DType::Float64:
      fill(t.data_ptr<double>());
      break;
    case DType::BFloat16:
      fill(t.data_ptr<bfloat16>());
      break;
    case DType::Float16:
      fill(t.data_ptr<float16>());
      break;
    case DType::Int8:
      fill(t.data_ptr<int8_t>());
      break;
    case DType::UInt8:
      fill(t.data_ptr<uint8_t>());
      break;
    case DType::Int32:
      fill(t.data_ptr<int32_t>());
      break;
    case DType::Int64:
      fill(t.data_ptr<int64_t>());
      break;
    case DType::Bool:
      fill(t.data_ptr<bool>());
      break;
  }
  return t;
}

namespace {

// ONNX names: letters, digits, '_' and '.' read well in every tool; anything else becomes '_'.
std::string sanitize(std::string_view s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.') ? c : '_';
  return out.empty() ? "v" : out;
}

}  // namespace

Emitter::Emitter(const graph::Graph& g, OnnxModel& model) : g_(g), m_(model), names_(g.values().size()) {}

std::string Emitter::fresh(std::string_view hint) {
  std::string base = sanitize(hint), name = base;
  for (int k = 1; used_.count(name); ++k) name = base + "_" + std::to_string(k);
  used_.insert(name);
  return name;
}

std::string Emitter::name_value(graph::ValueId v, std::string_view hint) {
  DOPPEL_INTERNAL_ASSERT(names_[size_t(v)].empty());
  names_[size_t(v)] = fresh(hint);
  return names_[size_t(v)];
}

const std::string& Emitter::value_name(graph::ValueId v) const {
  DOPPEL_INTERNAL_ASSERT(!names_[size_t(v)].empty());
  return names_[size_t(v)];
}

void Emitter::add_initializer(const std::string& name, const Tensor& t, std::string doc) {
  const Tensor c = contiguous_of(t);
  OnnxTensor o{name, onnx_type(c.dtype()), std::vector<int64_t>(c.shape().begin(), c.shape().end()),
               std::string(static_cast<const char*>(c.raw_data()), c.nbytes()), std::move(doc)};
  m_.initializers.push_back(std::move(o));
}

void Emitter::begin_node(int32_t index) {
  node_index_ = index;
  node_ = &g_.node(index);
  helper_count_ = 0;
}

std::string Emitter::in(size_t k) const { return has_in(k) ? value_name(node_->inputs[k]) : std::string(); }

void Emitter::fail(std::string_view why) const {
  DOPPEL_CHECK(false, "ONNX export does not support {} (node {} '{}', traced at {}): {}", op_name(node_->op),
               node_index_, op_name(node_->op), node_->where.empty() ? "an unknown call site" : node_->where, why);
  __builtin_unreachable();
}

int64_t Emitter::wrap(int64_t d, int64_t rank) const {
  if (d < -rank || d >= rank) fail(fmt::format("dim {} is out of range for rank {}", d, rank));
  return d < 0 ? d + rank : d;
}

bool Emitter::attr_is_symbolic(size_t k) const {
  for (const graph::SymAttr& s : node_->sym_attrs)
    if (size_t(s.attr) == k && !s.dim.is_static()) return true;
  return false;
}

const Attr& Emitter::attr(size_t k) const {
  if (attr_is_symbolic(k))
    fail(fmt::format("its attribute {} depends on a symbolic dimension, and this op's mapping needs it constant", k));
  return node_->attrs[k];
}

void Emitter::require_static(std::initializer_list<size_t> symbolic_ok) const {
  for (const graph::SymAttr& s : node_->sym_attrs)
    if (std::find(symbolic_ok.begin(), symbolic_ok.end(), size_t(s.attr)) == symbolic_ok.end())
      attr(size_t(s.attr));  // fails when it is symbolic
}

std::string Emitter::add(std::string op_type, std::vector<std::string> inputs, std::vector<OnnxAttr> attrs,
                         std::string output) {
  if (output.empty()) output = fresh(fmt::format("{}_{}", op_type, node_index_));
  add_multi(std::move(op_type), std::move(inputs), std::move(attrs), {output});
  return output;
}

void Emitter::add_multi(std::string op_type, std::vector<std::string> inputs, std::vector<OnnxAttr> attrs,
                        std::vector<std::string> outputs) {
  // Absent optional inputs are trailing in every op the export emits; ONNX spells them "".
  while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();
  produced_.insert(outputs.begin(), outputs.end());
  OnnxNode n{std::move(op_type), fresh(fmt::format("n{}_{}_{}", node_index_, op_name(node_->op), helper_count_++)),
             std::move(inputs),  std::move(outputs),
             std::move(attrs),   node_->where};
  m_.nodes.push_back(std::move(n));
}

std::string Emitter::cached_initializer(OnnxTensor t, std::string_view hint) {
  std::string key = fmt::format("{}:{}:", int(t.type), fmt::join(t.dims, ",")) + t.raw;
  auto it = const_cache_.find(key);
  if (it != const_cache_.end()) return it->second;
  t.name = fresh(hint);
  const_cache_.emplace(std::move(key), t.name);
  m_.initializers.push_back(t);
  return t.name;
}

std::string Emitter::const_i64(const std::vector<int64_t>& values, bool scalar) {
  OnnxTensor t;
  t.type = OnnxType::int64;
  if (!scalar) t.dims = {int64_t(values.size())};
  t.raw.resize(values.size() * 8);
  std::memcpy(t.raw.data(), values.data(), t.raw.size());
  return cached_initializer(std::move(t), "const_i64");
}

std::string Emitter::const_scalar(double value, DType dtype) {
  return const_tensor(filled_tensor({}, value, dtype), "const");
}

std::string Emitter::const_tensor(const Tensor& t, std::string_view hint) {
  const Tensor c = contiguous_of(t);
  OnnxTensor o{{},
               onnx_type(c.dtype()),
               std::vector<int64_t>(c.shape().begin(), c.shape().end()),
               std::string(static_cast<const char*>(c.raw_data()), c.nbytes()),
               {}};
  return cached_initializer(std::move(o), hint);
}

std::string Emitter::cast(const std::string& x, DType from, DType to) {
  if (from == to) return x;
  return add("Cast", {x}, {OnnxAttr::of_int("to", int64_t(onnx_type(to)))});
}

// A symbol's size is read from the first graph input that has it as a plain dimension.
std::string Emitter::symbol_value(int32_t sym) {
  auto it = symbol_values_.find(sym);
  if (it != symbol_values_.end()) return it->second;
  for (graph::ValueId v : g_.inputs()) {
    const graph::SymShape& s = g_.value(v).shape;
    for (size_t d = 0; d < s.size(); ++d) {
      if (s[d].sym != sym || s[d].coef != 1 || s[d].constant != 0) continue;
      const std::string name = add("Shape", {value_name(v)},
                                   {OnnxAttr::of_int("start", int64_t(d)), OnnxAttr::of_int("end", int64_t(d) + 1)});
      symbol_values_.emplace(sym, name);
      return name;
    }
  }
  fail(fmt::format("symbol '{}' is not a dimension of any graph input, so its size cannot be read at run time",
                   g_.symbols()[size_t(sym)]));
}

std::string Emitter::sym_dim(const graph::SymDim& d) {
  if (d.is_static()) return const_i64({d.constant});
  std::string v = symbol_value(d.sym);
  if (d.coef != 1) v = add("Mul", {v, const_i64({d.coef})});
  if (d.constant != 0) v = add("Add", {v, const_i64({d.constant})});
  return v;
}

std::string Emitter::int_input(size_t k) {
  for (const graph::SymAttr& s : node_->sym_attrs)
    if (size_t(s.attr) == k && s.index < 0 && !s.dim.is_static()) return sym_dim(s.dim);
  return const_i64({node_->attrs[k].i});
}

// Runs of constant entries become one initializer; symbolic entries are computed; a Concat
// joins the pieces.
std::string Emitter::ints_input(size_t k, std::optional<int64_t> minus_one_as) {
  Shape ints = node_->attrs[k].ints;
  if (minus_one_as)
    for (int64_t& v : ints)
      if (v == -1) v = *minus_one_as;
  std::vector<const graph::SymDim*> sym(ints.size(), nullptr);
  bool any = false;
  for (const graph::SymAttr& s : node_->sym_attrs)
    if (size_t(s.attr) == k && s.index >= 0 && !s.dim.is_static()) {
      sym[size_t(s.index)] = &s.dim;
      any = true;
    }
  if (!any) return const_i64(std::vector<int64_t>(ints.begin(), ints.end()));
  std::vector<std::string> pieces;
  std::vector<int64_t> run;
  for (size_t i = 0; i < ints.size(); ++i) {
    if (!sym[i]) {
      run.push_back(ints[i]);
      continue;
    }
    if (!run.empty()) pieces.push_back(const_i64(run));
    run.clear();
    pieces.push_back(sym_dim(*sym[i]));
  }
  if (!run.empty()) pieces.push_back(const_i64(run));
  return pieces.size() == 1 ? pieces[0] : add("Concat", pieces, {OnnxAttr::of_int("axis", 0)});
}

}  // namespace doppel::onnx::detail
