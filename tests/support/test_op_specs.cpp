// The generic op-spec tests: completeness of the op table, every backend against the
// reference kernel, non-contiguous inputs, and error inputs.
#include <map>
#include <set>

#include "doppel/kernels/kernel_table.h"
#include "support/gradcheck.h"
#include "support/op_spec.h"
#include "support/op_spec_checks.h"

namespace doppel::testing {

int register_op_spec(OpSpec (*make)()) {
  const_cast<std::vector<OpSpec (*)()>&>(op_spec_makers()).push_back(make);
  return 0;
}

const std::vector<OpSpec (*)()>& op_spec_makers() {
  static std::vector<OpSpec (*)()> makers;
  return makers;
}

std::map<OpId, OpSpec> specs_by_op() {
  std::map<OpId, OpSpec> m;
  for (auto make : op_spec_makers()) {
    OpSpec s = make();
    m.emplace(s.op, std::move(s));
  }
  return m;
}

std::string describe(const Sample& s) {
  std::string d = s.name + " (";
  for (size_t k = 0; k < s.inputs.size(); ++k) {
    if (k) d += ", ";
    const Tensor& t = s.inputs[k];
    const char* layout = t.defined() && !t.is_contiguous() ? " strided" : "";
    d += t.defined() ? fmt::format("{}{}{}", dtype_name(t.dtype()), shape_str(t.shape()), layout) : "none";
  }
  d += ")";
  for (const Attr& a : s.attrs) d += " " + a.str();
  return d;
}

Tolerance spec_tolerance(const OpSpec& spec, DType dtype) {
  return spec.tolerance ? spec.tolerance(dtype) : default_tolerance(dtype);
}

TensorFn op_function(OpId op, const Attrs& attrs) {
  return [op, attrs](const std::vector<Tensor>& x) {
    const OpOutputs o = dispatch(op, x, attrs);
    return std::vector<Tensor>(o.t.begin(), o.t.begin() + o.n);
  };
}

namespace {
constexpr int64_t kGradcheckMaxNumel = 200;  // finite differences cost 2 forward calls per element
}

std::optional<std::vector<Tensor>> gradcheck_inputs(const OpSpec& spec, const Sample& s) {
  const OpDef& def = op_def(spec.op);
  bool any_float = false;
  std::vector<Tensor> in;
  for (size_t k = 0; k < s.inputs.size(); ++k) {
    const Tensor& t = s.inputs[k];
    if (t.defined() && t.numel() > kGradcheckMaxNumel) return std::nullopt;
    const bool diff = def.has(kVariadic) || ((def.differentiable_inputs >> k) & 1u);
    const bool skip = std::find(spec.gradcheck_skip_inputs.begin(), spec.gradcheck_skip_inputs.end(), k) !=
                      spec.gradcheck_skip_inputs.end();
    if (diff && !skip && t.defined() && t.dtype() == DType::Float64 && t.numel() > 0) {
      in.push_back(grad_input(t));
      any_float = true;
    } else {
      in.push_back(t);
    }
  }
  if (!any_float) return std::nullopt;
  // Finite differences need float64 outputs: a cast to float16 is not numerically
  // differentiable at eps = 1e-6 (its gradient rule is tested directly).
  for (const Tensor& o : op_function(spec.op, s.attrs)(in))
    if (o.defined() && is_floating(o.dtype()) && o.dtype() != DType::Float64) return std::nullopt;
  return in;
}

namespace {

bool throws_kind(ErrorKind k, const std::function<void()>& f, const std::string& contains, std::string& what) {
  try {
    f();
  } catch (const Error& e) {
    what = e.what();
    const bool type_ok = (k == ErrorKind::Shape && dynamic_cast<const ShapeError*>(&e)) ||
                         (k == ErrorKind::DType && dynamic_cast<const DTypeError*>(&e)) ||
                         (k == ErrorKind::Device && dynamic_cast<const DeviceError*>(&e)) ||
                         (k == ErrorKind::Index && dynamic_cast<const IndexError*>(&e)) ||
                         (k == ErrorKind::Value && dynamic_cast<const ValueError*>(&e));
    return type_ok && what.find(contains) != std::string::npos;
  }
  what = "no exception";
  return false;
}

}  // namespace

TEST_CASE("op table: every op has a definition, a reference kernel and a test spec", "[op_spec]") {
  const auto specs = specs_by_op();
  std::vector<std::string> missing;
  for (int k = 0; k < kNumOps; ++k) {
    const OpId id = OpId(k);
    const OpDef* def = find_op_def(id);
    if (!def) missing.push_back(fmt::format("{}: no OpDef", op_name(id)));
    if (def && !def->has(kView) && !kernel_for(id, Backend::Reference))
      missing.push_back(fmt::format("{}: no reference kernel", op_name(id)));
    if (!specs.count(id)) missing.push_back(fmt::format("{}: no test spec", op_name(id)));
  }
  INFO(fmt::format("{}", fmt::join(missing, "\n")));
  REQUIRE(missing.empty());
}

TEST_CASE("op specs: every backend matches the reference kernel", "[op_spec]") {
  std::map<std::string, int> onednn_runs;
  for (auto& [op, spec] : specs_by_op()) {
    for (DType dtype : spec.dtypes) {
      const Tolerance tol = spec_tolerance(spec, dtype);
      for (const Sample& s : spec.samples(dtype)) {
        INFO(fmt::format("op {} dtype {} sample {}", op_name(op), dtype_name(dtype), describe(s)));
        OpOutputs ref;
        {
          ForceBackendGuard g(Backend::Reference);
          ref = dispatch(op, s.inputs, s.attrs);
        }
        const OpOutputs fast = dispatch(op, s.inputs, s.attrs);
        if (last_selected_backend() == Backend::OneDNN) ++onednn_runs[std::string(op_name(op))];
        REQUIRE(fast.n == ref.n);
        for (int k = 0; k < ref.n; ++k) DOPPEL_REQUIRE_CLOSE(fast[k], ref[k], tol);
        if (!spec.test_noncontiguous) continue;
        std::vector<Tensor> strided;
        for (const Tensor& t : s.inputs) strided.push_back(t.defined() ? make_noncontiguous(t) : t);
        const OpOutputs nc = dispatch(op, strided, s.attrs);
        for (int k = 0; k < ref.n; ++k) DOPPEL_REQUIRE_CLOSE(nc[k], ref[k], tol);
      }
    }
  }
  std::string summary;
  for (auto& [name, n] : onednn_runs) summary += fmt::format("{}:{} ", name, n);
  WARN("samples run on oneDNN per op: " << summary);
}

TEST_CASE("op specs: error inputs raise typed errors naming the op", "[op_spec]") {
  for (auto& [op, spec] : specs_by_op()) {
    if (!spec.errors) continue;
    for (const ErrorSample& e : spec.errors()) {
      std::string what;
      const bool ok = throws_kind(
          e.kind, [&] { dispatch(op, e.inputs, e.attrs); },
          e.message_contains.empty() ? std::string(op_name(op)) : e.message_contains, what);
      INFO(fmt::format("op {} error sample '{}': got: {}", op_name(op), e.name, what));
      REQUIRE(ok);
    }
  }
}

TEST_CASE("op table: every differentiable op has a gradient rule", "[op_spec][autograd]") {
  std::vector<std::string> missing;
  for (int k = 0; k < kNumOps; ++k) {
    const OpDef* def = find_op_def(OpId(k));
    if (def && def->differentiable_inputs != 0 && !has_gradient_rule(OpId(k)))
      missing.push_back(std::string(op_name(OpId(k))));
  }
  INFO(fmt::format("differentiable ops without a rule: {}", fmt::join(missing, ", ")));
  REQUIRE(missing.empty());
}

TEST_CASE("op specs: gradients match finite differences in float64", "[op_spec][autograd]") {
  int checked = 0;
  for (auto& [op, spec] : specs_by_op()) {
    if (!spec.gradcheck || op_def(op).differentiable_inputs == 0) continue;
    if (std::find(spec.dtypes.begin(), spec.dtypes.end(), DType::Float64) == spec.dtypes.end()) continue;
    for (const Sample& s : spec.samples(DType::Float64)) {
      const std::optional<std::vector<Tensor>> in = gradcheck_inputs(spec, s);
      if (!in) continue;
      const TensorFn f = op_function(op, s.attrs);
      INFO(fmt::format("op {} sample {}", op_name(op), describe(s)));
      auto r = gradcheck(f, *in);
      INFO(r.value_or(""));
      REQUIRE(!r);
      if (spec.gradgradcheck) {
        auto rr = gradgradcheck(f, *in);
        INFO(rr.value_or(""));
        REQUIRE(!rr);
      }
      ++checked;
    }
  }
  WARN("gradchecked samples: " << checked);
}

}  // namespace doppel::testing
