// Every op spec sample (tests/support/op_spec.h) on cuda:0 against the CPU result within the
// spec's tolerance, on contiguous and strided device inputs, and a float64 gradcheck subset
// through the CUDA kernels. Failures are collected over all ops and reported together, so one
// run on a GPU machine lists everything that needs fixing.
#include <catch2/catch_test_macros.hpp>
#include <map>

#include "doppel/kernels/kernel_table.h"
#include "gpu/gpu_compare.h"
#include "support/gpu.h"
#include "support/op_spec.h"
#include "support/op_spec_checks.h"

namespace doppel::testing {
namespace {

constexpr int kGradcheckSamplesPerOp = 2;

// The sample's attributes with each device attribute (factories) pointing at `device`.
Attrs on_device(const Attrs& attrs, Device device) {
  Attrs out = attrs;
  for (size_t k = 0; k < out.size(); ++k)
    if (out[k].kind == AttrKind::Device) out[k] = Attr::of_device(device);
  return out;
}

// Wrapped numbers (C++ numbers as 0-d tensors) stay on the host, as an op call makes them.
bool movable(const Tensor& t) { return t.defined() && !t.impl()->is_wrapped_number(); }

std::vector<Tensor> to_device(const std::vector<Tensor>& ts, Device device) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) out.push_back(movable(t) ? t.to(device) : t);
  return out;
}

// The same values with every stride doubled, made on t's device by device ops (unsqueeze,
// expand, copy, select), so the kernels read a genuinely strided input.
Tensor strided_on_device(const Tensor& t) {
  if (!movable(t) || t.dim() == 0 || t.numel() == 0) return t;
  Shape wide = t.shape();
  wide.push_back(2);
  return t.unsqueeze(-1).expand(wide).contiguous().select(-1, 0);
}

struct Report {
  std::vector<std::string> failures;
  std::map<std::string, int> runs;  // samples run per op on the CUDA backend

  // Runs f, recording a failure (a mismatch or an exception) under `where`.
  template <class F>
  void check(const std::string& where, F&& f) {
    try {
      if (auto m = f()) failures.push_back(where + ": " + *m);
    } catch (const std::exception& e) {
      failures.push_back(where + ": threw " + e.what());
    }
  }
};

std::optional<std::string> compare_outputs(const OpOutputs& cuda, const OpOutputs& cpu, Tolerance tol) {
  if (cuda.n != cpu.n) return fmt::format("{} outputs on cuda, {} on the CPU", cuda.n, cpu.n);
  for (int k = 0; k < cpu.n; ++k) {
    if (!cuda[k].defined() || cuda[k].device() != kCuda0) return fmt::format("output {} is not on cuda:0", k);
    if (auto m = compare(cuda[k].to(kCPU), cpu[k], tol)) return fmt::format("output {}: {}", k, *m);
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("cuda op specs: every sample on cuda:0 matches the CPU", "[gpu][op_spec]") {
  DOPPEL_REQUIRE_GPU();
  Report report;
  int samples = 0;
  for (auto& [op, spec] : specs_by_op()) {
    const OpDef& def = op_def(op);
    for (DType dtype : spec.dtypes) {
      const Tolerance tol = spec_tolerance(spec, dtype);
      for (const Sample& s : spec.samples(dtype)) {
        const std::string where = fmt::format("{} {} {}", op_name(op), dtype_name(dtype), describe(s));
        const OpOutputs cpu = dispatch(op, s.inputs, s.attrs);
        const Attrs attrs = on_device(s.attrs, kCuda0);
        const std::vector<Tensor> inputs = to_device(s.inputs, kCuda0);
        ++samples;
        if (has_class_weights(op, s.inputs)) {  // CPU-only: the CUDA kernels must refuse it
          report.check(where, [&]() -> std::optional<std::string> {
            try {
              dispatch(op, inputs, attrs);
            } catch (const DeviceError&) {
              return std::nullopt;
            }
            return "class weights ran on cuda instead of raising DeviceError";
          });
          continue;
        }
        report.check(where, [&]() -> std::optional<std::string> {
          const OpOutputs cuda = dispatch(op, inputs, attrs);
          if (!def.has(kView) && last_selected_backend() != Backend::CUDA)
            return fmt::format("ran on the {} backend, not CUDA", backend_name(last_selected_backend()));
          ++report.runs[std::string(op_name(op))];
          return compare_outputs(cuda, cpu, tol);
        });
        if (!spec.test_noncontiguous) continue;
        report.check(where + " strided", [&]() -> std::optional<std::string> {
          std::vector<Tensor> strided;
          for (const Tensor& t : inputs) strided.push_back(strided_on_device(t));
          return compare_outputs(dispatch(op, strided, attrs), cpu, tol);
        });
      }
    }
  }
  std::string summary;
  for (auto& [name, n] : report.runs) summary += fmt::format("{}:{} ", name, n);
  WARN(samples << " samples; run on the CUDA backend per op: " << summary);
  INFO(fmt::format("{} failures:\n{}", report.failures.size(), fmt::join(report.failures, "\n")));
  REQUIRE(report.failures.empty());
}

TEST_CASE("cuda op specs: gradients through the CUDA kernels match finite differences in float64",
          "[gpu][op_spec][autograd]") {
  DOPPEL_REQUIRE_GPU();
  Report report;
  int checked = 0;
  for (auto& [op, spec] : specs_by_op()) {
    if (!spec.gradcheck || op_def(op).differentiable_inputs == 0) continue;
    if (std::find(spec.dtypes.begin(), spec.dtypes.end(), DType::Float64) == spec.dtypes.end()) continue;
    int taken = 0;
    for (const Sample& s : spec.samples(DType::Float64)) {
      if (taken == kGradcheckSamplesPerOp) break;
      const std::optional<std::vector<Tensor>> in = gradcheck_inputs(spec, s);
      if (!in || has_class_weights(op, s.inputs)) continue;
      ++taken;
      ++checked;
      // CPU leaves moved to cuda:0 inside the function: the forward and the gradient rules run
      // on the device, and the gradients come back through the copies' own gradient.
      const Attrs attrs = on_device(s.attrs, kCuda0);
      const TensorFn on_cuda = [op, attrs](const std::vector<Tensor>& x) {
        std::vector<Tensor> out;
        for (const Tensor& o : op_function(op, attrs)(to_device(x, kCuda0)))
          out.push_back(o.defined() ? o.to(kCPU) : o);
        return out;
      };
      report.check(fmt::format("{} {}", op_name(op), describe(s)), [&] { return gradcheck(on_cuda, *in); });
    }
  }
  WARN("gradchecked samples on cuda: " << checked);
  INFO(fmt::format("{} failures:\n{}", report.failures.size(), fmt::join(report.failures, "\n")));
  REQUIRE(report.failures.empty());
}

}  // namespace doppel::testing
