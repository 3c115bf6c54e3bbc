// Traced-graph-equals-eager for every op of the op table: each sample of each registered op
// spec is traced as a one-op function and replayed by graph::Executor, before and after the
// pass pipeline. The executor runs the kernels the dispatcher would pick, so the raw graph must
// match eager bit for bit; passes may rewrite (fuse, fold) and are held to the spec's tolerance.
#include <catch2/catch_test_macros.hpp>
#include <set>

#include "doppel/dispatch.h"
#include "doppel/generator.h"
#include "doppel/graph/executor.h"
#include "doppel/graph/passes.h"
#include "doppel/graph/trace.h"
#include "support/op_spec.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;
using testing::Sample;
using testing::Tolerance;

// The sample's defined inputs, in order: the graph's inputs (an absent optional input is not a
// graph input; the traced function puts the undefined Tensor back in its slot).
Tensors defined_inputs(const Tensors& in) {
  Tensors out;
  for (const Tensor& t : in)
    if (t.defined()) out.push_back(t);
  return out;
}

Tensors contiguous_inputs(const Tensors& in) {
  Tensors out;
  for (const Tensor& t : in) out.push_back(t.defined() ? t.contiguous() : t);
  return out;
}

// Runs `op` on `in` like eager code; a random op first announces the default generator to the
// tracer, as the eager random API does (Generator::reserve), so its node draws from rng 0 —
// the zero-block reservation leaves the generator's stream where it was.
Tensors run_op(OpId op, const Tensors& in, const Attrs& attrs) {
  if (op_def(op).has(kRandom)) default_generator().reserve(0);
  const OpOutputs o = dispatch(op, in, attrs);
  Tensors out;
  for (int k = 0; k < o.n; ++k)
    if (o[k].defined()) out.push_back(o[k]);
  return out;
}

// The executor's random nodes get the sample's own (seed, offset) attributes, so a random op
// is compared value for value too (not just shapes): eager drew from exactly that pair.
void use_sample_rng(graph::Executor& ex, OpId op, const Attrs& attrs) {
  if (!op_def(op).has(kRandom)) return;
  const auto seed = uint64_t(attrs[attrs.size() - 2].i), offset = uint64_t(attrs[attrs.size() - 1].i);
  ex.set_rng_source([seed, offset](int32_t, uint64_t) { return std::pair{seed, offset}; });
}

void require_outputs(const Tensors& got, const Tensors& want, Tolerance tol, const char* what) {
  INFO(what);
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    INFO("output " << k);
    DOPPEL_REQUIRE_CLOSE(got[k], want[k], tol);
  }
}

TEST_CASE("op specs: every sample traced and replayed by the executor equals eager", "[graph][trace_op_specs]") {
  const auto specs = testing::specs_by_op();
  REQUIRE(!specs.empty());
  std::set<OpId> ops_covered;
  std::set<std::string> static_traced;
  int samples = 0, strided_runs = 0, random_samples = 0, optimized_changed = 0;
  for (const auto& [op, spec] : specs) {
    for (DType dtype : spec.dtypes) {
      const Tolerance tol = spec.tolerance ? spec.tolerance(dtype) : testing::default_tolerance(dtype);
      for (const Sample& s : spec.samples(dtype)) {
        INFO(fmt::format("op {} dtype {} sample {}", op_name(op), dtype_name(dtype), testing::describe(s)));
        // Slots of the sample's inputs that are graph inputs (defined tensors).
        std::vector<int> slot;
        for (size_t k = 0; k < s.inputs.size(); ++k)
          if (s.inputs[k].defined()) slot.push_back(int(k));
        const size_t arity = s.inputs.size();
        const Attrs attrs = s.attrs;
        auto fn = [op, attrs, slot, arity](const Tensors& in) {
          Tensors full(arity);
          for (size_t k = 0; k < slot.size(); ++k) full[size_t(slot[k])] = in[k];
          return run_op(op, full, attrs);
        };
        // The oracle: eager on contiguous copies of the inputs, which is what the executor's
        // kernels see (it copies strided inputs; a kernel picked for contiguous inputs may round
        // differently from the one eager picks for strided ones).
        const Tensors in = defined_inputs(s.inputs);
        const Tensors in_c = contiguous_inputs(in);
        const Tensors eager = fn(in_c);

        // An op whose output shape depends on input values (one_hot with inferred classes) reads
        // them while tracing, which the tracer refuses; such a sample is traced again with every
        // input static (baked in as constants) and the graph still has to reproduce eager.
        graph::TraceResult r;
        bool value_dependent = false;
        try {
          r = trace(fn, in);
        } catch (const TraceError& e) {
          INFO(e.what());
          REQUIRE(std::string(e.what()).find("reads the values of input") != std::string::npos);
          graph::TraceOptions o;
          for (size_t k = 0; k < in.size(); ++k) o.static_inputs.push_back(int(k));
          r = trace(fn, in, o);
          value_dependent = true;
          static_traced.insert(std::string(op_name(op)));
        }
        const Tensors run_in = value_dependent ? Tensors{} : in_c;
        INFO(graph::to_text(*r.graph));
        // Tracing ran the op eagerly on contiguous copies of the inputs (the layout the graph
        // binds them in), static inputs as given: same values as eager on those.
        require_outputs(r.outputs, value_dependent ? fn(in) : eager, Tolerance{},
                        "the traced function's own eager results");

        graph::Executor ex(r.graph);
        use_sample_rng(ex, op, attrs);
        require_outputs(ex.run(run_in), eager, Tolerance{}, "executor, contiguous inputs, as traced");
        bool any_strided = false;
        for (const Tensor& t : in) any_strided = any_strided || !t.is_contiguous();
        if (any_strided && !value_dependent) {
          require_outputs(ex.run(in), eager, Tolerance{}, "executor, the sample's strided inputs, as traced");
          ++strided_runs;
        }
        if (spec.test_noncontiguous && !in.empty() && !value_dependent) {
          Tensors nc;
          for (const Tensor& t : in) nc.push_back(testing::make_noncontiguous(t));
          require_outputs(ex.run(nc), eager, Tolerance{}, "executor, non-contiguous inputs, as traced");
          ++strided_runs;
        }

        auto g = std::make_shared<graph::Graph>(*r.graph);
        const std::string before = graph::to_text(*g);
        graph::optimize(*g);
        if (graph::to_text(*g) != before) ++optimized_changed;
        INFO("after passes:\n" << graph::to_text(*g));
        graph::Executor opt(g);
        use_sample_rng(opt, op, attrs);
        require_outputs(opt.run(run_in), eager, tol, "executor after graph::optimize");

        ops_covered.insert(op);
        ++samples;
        if (op_def(op).has(kRandom)) ++random_samples;
      }
    }
  }
  // Every spec'd op with at least one sample was traced; none was skipped.
  size_t ops_with_samples = 0;
  for (const auto& [op, spec] : specs) {
    bool any = false;
    for (DType dtype : spec.dtypes) any = any || !spec.samples(dtype).empty();
    ops_with_samples += any ? 1 : 0;
  }
  CHECK(ops_covered.size() == ops_with_samples);
  WARN(fmt::format(
      "traced-equals-eager: {} ops, {} samples ({} random, compared value for value), {} strided "
      "replays, {} graphs changed by the passes; traced with static inputs (value-dependent shapes): {}",
      ops_covered.size(), samples, random_samples, strided_runs, optimized_changed, fmt::join(static_traced, ", ")));
}

}  // namespace
}  // namespace doppel
