// Graph-mode benchmarks: the same work as the eager rows, as a doppel::compile'd function, with
// doppel's eager figure measured in the same process (so "graph vs eager" shares the machine
// state) and carried in the same JSON line. The peer runs its eager version of the same work.
//   graph_train_<model>_<batch>_<optim>  the eager training step of train_* compiled: zero_grad,
//       forward, cross entropy, backward, optimizer step in one graph; then item() of the loss.
//       An optimizer name ending in "_ingraph" compiles with GradsMode::InGraph (as graph_mem_*).
//   graph_infer_<model>_<batch>  model.eval() forward under NoGradGuard, compiled (ms/call).
//   graph_chain_200  200 chained adds h = h + c on float32 [8], traced with the passes off so the
//       graph keeps one kernel step per add, run with Executor::run_into (no allocation): ns per
//       kernel step = run time / steps; eager: one chain / 200 (ns per op).
//       The record also has both steps' process CPU time (cpu_median, eager_cpu_median: medians
//       over 15 steps each, eager and graph alternating step by step), which a loaded machine
//       distorts less than wall time. With DOPPEL_BENCH_PROFILE=1 in the environment, the compiled step's per-node
//       profile (Executor::profile: median ns per node over 20 runs, step order) goes to stderr
//       (graph_infer_* rows too).
//   graph_mem_<model>_<batch>_<optim>  the allocator's peak bytes in use while one training step
//       runs, graph against eager, each measured from an empty process state (model, optimizer
//       state, gradients, the executor's arena and every temporary included), plus the plan's
//       arena bytes and what the intermediates would take unshared. An optimizer name ending in
//       "_ingraph" (graph_mem_mlp_64_adam_ingraph) compiles with GradsMode::InGraph.
//       With DOPPEL_BENCH_MEMORY=1 the compiled step's Executor::memory_report goes to stderr.
//   graph_rss_<model>_<batch>_<optim>  the process's resident-set growth (MiB) from before the
//       model was built to the peak of one training step, eager and graph each in a process of
//       its own (this program run again), REPS rounds alternating; medians of both. With
//       DOPPEL_BENCH_RSS_SIDE=eager or graph this process is that side (one figure), and with
//       DOPPEL_BENCH_RSS_DETAIL=1 as well its growth by kind of mapping goes to stderr.
//   graph_profile_<model>_<batch>_<optim>  the compiled training step's per-node times
//       (Executor::profile): a table, not a JSON record.
//   graph_peak_<model>_<batch>_<optim>  the compiled training step's FLOP rate (6·params·batch
//       per step) as a fraction of the FMA peak (bench/fma_loop.h), the two alternating in this
//       process, REPS rounds: medians by wall time and by process CPU time. Each round also
//       profiles 3 steps (Executor::profile) and splits them into the products (matmul, linear,
//       fused_linear nodes, their 2·m·k·n FLOPs) and the rest; its record has their medians: the
//       products' rate over the peak, the rest's ms, and the rate over the peak the products would
//       need for the step to reach 90% of the peak with the rest as it was in that round (1e9
//       where the rest alone took longer than that).
// Every figure is checked first: graph outputs against eager's, losses that go down, gradients
// that exist, so a graph that skips work cannot produce a figure.
#include "doppel_graph_bench.h"
#include "fma_loop.h"

#include <malloc.h>
#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "doppel/core/allocator.h"
#include "doppel/doppel.h"
#include "doppel/graph/compile.h"
#include "doppel_models.h"

namespace bench {
namespace {

using doppel::CompiledFunction;
using doppel::Tensor;
using Tensors = std::vector<Tensor>;

// The batch is fixed in a benchmark, so the graphs are traced with static shapes (the executor
// plans per batch size either way, so a dynamic batch would run the same plan). Static also
// sidesteps a tracer limitation: with a dynamic batch of 64, the CNN's reshape [64,3136] ->
// [64,64,7,7] in backward cannot tell the batch 64 from the 64 channels and is rejected.
doppel::CompileOptions fixed_batch() { return {}; }

// A training step's options: an optimizer name ending in "_ingraph" keeps the gradients inside
// the graph (GradsMode::InGraph).
doppel::CompileOptions training_options(const TrainSpec& spec) {
  doppel::CompileOptions o = fixed_batch();
  if (spec.optim.ends_with("_ingraph")) o.grads = doppel::GradsMode::InGraph;
  return o;
}

std::string values_json(const Timing& t, double scale) {
  std::string s;
  for (size_t i = 0; i < t.per_call.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.6g", i ? "," : "", t.per_call[i] * scale);
    s += buf;
  }
  return s;
}

// The eager figure and the graph's statistics, appended to the graph record.
std::string eager_extra(const Timing& eager, double scale, const CompiledFunction& f, const Tensors& in) {
  doppel::graph::Executor* ex = f.executor_for(in);
  const doppel::graph::PlanInfo pi = ex ? ex->plan_info(in) : doppel::graph::PlanInfo{};
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "\"eager_median\":%.6g,\"traces\":%lld,\"graph_runs\":%lld,\"steps\":%zu,\"arena_bytes\":%zu,"
                "\"unshared_bytes\":%zu,\"eager_values\":[",
                eager.median() * scale, static_cast<long long>(f.num_traces()),
                static_cast<long long>(f.num_graph_runs()), pi.steps, pi.arena_bytes, pi.unshared_bytes);
  return buf + values_json(eager, scale) + "]";
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.contiguous().to_vector<float>(), y = b.contiguous().to_vector<float>();
  if (x.size() != y.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::fmax(m, std::fabs(double(x[i]) - double(y[i])));
  return m;
}

// A model, its optimizer and both step functions on one fixed batch.
struct Trainer {
  std::shared_ptr<doppel::nn::Sequential> model;
  std::unique_ptr<doppel::optim::Optimizer> opt;
  doppel::nn::CrossEntropyLoss loss_fn;

  explicit Trainer(const TrainSpec& spec) {
    doppel::manual_seed(0);
    model = make_model(spec.model);
    model->train();
    opt = make_optimizer(spec.optim, model->parameters());
  }
  Tensors step(const Tensors& in) {
    opt->zero_grad();
    Tensor loss = loss_fn((*model)(in[0]), in[1]);
    loss.backward();
    opt->step();
    return {loss};
  }
  bool all_grads() const {
    for (const Tensor& p : model->parameters())
      if (!p.grad().defined()) return false;
    return true;
  }
};

int fail(const Args& a, const std::string& why) {
  std::fprintf(stderr, "doppel_bench: %s: %s\n", a.bench.c_str(), why.c_str());
  return 1;
}

// Times `step` (which returns the loss) and checks that the loss went down over the run.
Timing time_training(const Args& args, const std::function<double()>& step, const char* mode, std::string* err) {
  const double first = step();
  double last = first;
  const Timing t = time_calls([&] { last = step(); }, args.reps, rep_seconds_for(args.bench),
                              warmup_seconds_for(args.bench), min_warm_calls_for(args.bench));
  if (!std::isfinite(first) || !(last < first))
    *err = std::string(mode) + ": loss went from " + std::to_string(first) + " to " + std::to_string(last) +
           " over the run, expected a decrease";
  return t;
}

// Median process CPU milliseconds per call of `a` and of `b`, called alternately `n` times each.
std::pair<double, double> alternating_cpu_ms(const std::function<void()>& a, const std::function<void()>& b, int n) {
  std::vector<double> ta, tb;
  for (int k = 0; k < n; ++k) {
    double t0 = bench::process_cpu_ms();
    a();
    ta.push_back(bench::process_cpu_ms() - t0);
    t0 = bench::process_cpu_ms();
    b();
    tb.push_back(bench::process_cpu_ms() - t0);
  }
  std::sort(ta.begin(), ta.end());
  std::sort(tb.begin(), tb.end());
  return {ta[ta.size() / 2], tb[tb.size() / 2]};
}

// The per-node profile of the compiled step on `in`: one line per node (its op, output shape,
// median time), then the total.
void print_profile(const CompiledFunction& f, const Tensors& in) {
  doppel::graph::Executor* ex = f.executor_for(in);
  if (!ex) return;
  const doppel::graph::Graph& g = ex->graph();
  double total = 0;
  for (const auto& t : ex->profile(in, 20)) {
    const doppel::graph::Node& n = g.node(t.node);
    std::string shape;
    for (const doppel::graph::SymDim& d : g.value(n.outputs[0]).shape)
      shape += (shape.empty() ? "" : ",") + std::to_string(d.constant);
    std::fprintf(stderr, "%9.1f us  %-30s [%s]\n", t.ns / 1e3, std::string(doppel::op_name(n.op)).c_str(),
                 shape.c_str());
    total += t.ns;
  }
  std::fprintf(stderr, "%9.1f us  total\n", total / 1e3);
}

int run_train(const Args& args, int actual) {
  const TrainSpec spec = train_spec(args.bench);
  const Tensors in = {doppel::randn({spec.batch, 1, 28, 28}), doppel::randint(0, 10, {spec.batch})};
  Trainer eager(spec), graph(spec);
  CompiledFunction compiled = doppel::compile([&](const Tensors& x) { return graph.step(x); }, training_options(spec));
  // The graph's first losses must be eager's (the same weights, the same batch; the CNN's
  // dropout masks differ, so only the MLP is compared exactly).
  for (int k = 0; k < 3; ++k) {
    const double le = eager.step(in)[0].item<double>(), lg = compiled(in)[0].item<double>();
    if (spec.model == "mlp" && !(std::fabs(le - lg) <= 1e-4 * std::fabs(le) + 1e-5))
      return fail(
          args, "graph step " + std::to_string(k) + " loss " + std::to_string(lg) + " != eager " + std::to_string(le));
  }
  std::string err;
  const Timing te = time_training(
      args, [&] { return eager.step(in)[0].item<double>(); }, "eager", &err);
  const Timing tg = time_training(
      args, [&] { return compiled(in)[0].item<double>(); }, "graph", &err);
  if (!err.empty()) return fail(args, err);
  // (With the gradients in the graph, .grad() is left undefined by design.)
  if (training_options(spec).grads == doppel::GradsMode::Persistent && !graph.all_grads())
    return fail(args, "graph mode left a parameter without a gradient");
  if (compiled.num_graph_runs() < 5) return fail(args, "the compiled step did not replay its graph");
  const auto [cpu_graph, cpu_eager] = alternating_cpu_ms([&] { (void)compiled(in)[0].item<double>(); },
                                                         [&] { (void)eager.step(in)[0].item<double>(); }, 15);
  if (const char* p = std::getenv("DOPPEL_BENCH_PROFILE"); p && std::string(p) == "1") print_profile(compiled, in);
  char cpu[96];
  std::snprintf(cpu, sizeof cpu, "\"cpu_median\":%.6g,\"eager_cpu_median\":%.6g,", cpu_graph, cpu_eager);
  emit("doppel", args, tg, actual, cpu + eager_extra(te, 1e3, compiled, in));
  return 0;
}

int run_infer(const Args& args, int actual) {
  const TrainSpec spec = train_spec(args.bench);
  doppel::manual_seed(0);
  auto model = make_model(spec.model);
  model->eval();
  const Tensors in = {doppel::randn({spec.batch, 1, 28, 28})};
  auto forward = [&](const Tensors& x) {
    doppel::NoGradGuard no_grad;
    return Tensors{(*model)(x[0])};
  };
  CompiledFunction compiled = doppel::compile(forward, fixed_batch());
  for (int k = 0; k < 3; ++k) {
    const double d = max_abs_diff(compiled(in)[0], forward(in)[0]);
    if (!(d <= 1e-4)) return fail(args, "graph logits differ from eager's by " + std::to_string(d));
  }
  const Timing te = time_calls([&] { (void)forward(in); }, args.reps, rep_seconds_for(args.bench),
                               warmup_seconds_for(args.bench), min_warm_calls_for(args.bench));
  const Timing tg = time_calls([&] { (void)compiled(in); }, args.reps, rep_seconds_for(args.bench),
                               warmup_seconds_for(args.bench), min_warm_calls_for(args.bench));
  if (const char* p = std::getenv("DOPPEL_BENCH_PROFILE"); p && std::string(p) == "1") print_profile(compiled, in);
  emit("doppel", args, tg, actual, eager_extra(te, 1e3, compiled, in));
  return 0;
}

int run_chain(const Args& args, int actual) {
  const int64_t n = chain_length(args.bench);
  const Tensor c = doppel::rand({8});
  const Tensors in = {doppel::rand({8})};
  auto chain = [&](const Tensors& x) {
    Tensor h = x[0];
    for (int64_t k = 0; k < n; ++k) h = doppel::add(h, c);
    return Tensors{h};
  };
  // Passes off: the per-node figure needs one kernel step per traced add (a fusion pass would
  // rightly merge the chain into one step, which measures the fusion, not the executor).
  doppel::CompileOptions o;
  o.passes.enabled = false;
  CompiledFunction compiled = doppel::compile(chain, o);
  for (int k = 0; k < 3; ++k) {
    const double d = max_abs_diff(compiled(in)[0], chain(in)[0]);
    if (!(d <= 1e-4)) return fail(args, "the graph's chain differs from eager's by " + std::to_string(d));
  }
  doppel::graph::Executor* ex = compiled.executor_for(in);
  if (!ex) return fail(args, "no executor after three calls");
  const size_t steps = ex->plan_info(in).steps;
  if (steps < size_t(n))
    return fail(args, "the graph has " + std::to_string(steps) + " kernel steps, expected " + std::to_string(n));
  const Tensor out = doppel::empty({8});
  ex->run_into(in, std::vector<Tensor>{out});
  const double d = max_abs_diff(out, chain(in)[0]);
  if (!(d <= 1e-4)) return fail(args, "run_into's chain differs from eager's by " + std::to_string(d));
  const Tensors outs = {out};
  // Figures per node: divide the per-call times by the node count.
  Timing tg = time_calls([&] { ex->run_into(in, outs); }, args.reps, rep_seconds_for(args.bench),
                         warmup_seconds_for(args.bench));
  Timing tc =
      time_calls([&] { (void)compiled(in); }, args.reps, rep_seconds_for(args.bench), warmup_seconds_for(args.bench));
  Timing te =
      time_calls([&] { (void)chain(in); }, args.reps, rep_seconds_for(args.bench), warmup_seconds_for(args.bench));
  for (double& s : tg.per_call) s /= double(steps);
  for (double& s : tc.per_call) s /= double(steps);
  for (double& s : te.per_call) s /= double(n);
  char buf[64];
  std::snprintf(buf, sizeof buf, "\"compiled_call_median\":%.6g,", tc.median() * 1e9);
  emit("doppel", args, tg, actual, buf + eager_extra(te, 1e9, compiled, in));
  return 0;
}

// Peak bytes in use during one step, counted from the bytes in use before the model existed.
struct Peak {
  int64_t total = 0;      // peak - in use before the model was built
  int64_t transient = 0;  // peak - in use at the start of the step
};

template <typename Step>
Peak measure_peak(Step&& step, int64_t base) {
  doppel::Allocator& a = doppel::allocator_for(doppel::kCPU);
  const int64_t start = a.stats().bytes_in_use;
  a.reset_peak();
  step();
  const int64_t peak = a.stats().peak_bytes_in_use;
  return {peak - base, peak - start};
}

int run_memory(const Args& args, int actual) {
  const TrainSpec spec = train_spec(args.bench);
  const Tensors in = {doppel::randn({spec.batch, 1, 28, 28}), doppel::randint(0, 10, {spec.batch})};
  doppel::Allocator& a = doppel::allocator_for(doppel::kCPU);
  Peak eager_peak, graph_peak;
  doppel::graph::PlanInfo plan;
  {
    const int64_t base = a.stats().bytes_in_use;
    Trainer eager(spec);
    for (int k = 0; k < 3; ++k) (void)eager.step(in)[0].item<double>();
    eager_peak = measure_peak([&] { (void)eager.step(in)[0].item<double>(); }, base);
  }
  {
    const int64_t base = a.stats().bytes_in_use;
    Trainer graph(spec);
    CompiledFunction compiled =
        doppel::compile([&](const Tensors& x) { return graph.step(x); }, training_options(spec));
    // Eager warm-up, trace, the plan's first run (which sizes the kernels' temporaries and
    // replaces its context), then steady state.
    for (int k = 0; k < 5; ++k) (void)compiled(in)[0].item<double>();
    if (compiled.num_graph_runs() < 1) return fail(args, "the compiled step did not replay its graph");
    graph_peak = measure_peak([&] { (void)compiled(in)[0].item<double>(); }, base);
    plan = compiled.executor_for(in)->plan_info(in);
    if (std::getenv("DOPPEL_BENCH_MEMORY"))
      std::fprintf(stderr, "%s", compiled.executor_for(in)->memory_report(in).str(*compiled.graph_for(in)).c_str());
  }
  // One "repetition" per process: the figure is deterministic; the record keeps emit's shape.
  const double mb = 1.0 / (1024.0 * 1024.0);
  std::printf(
      "{\"impl\":\"doppel\",\"bench\":\"%s\",\"threads\":%d,\"threads_actual\":%d,\"unit\":\"MiB\",\"median\":%.6g,"
      "\"min\":%.6g,\"max\":%.6g,\"reps\":1,\"inner\":1,\"values\":[%.6g],\"eager_median\":%.6g,"
      "\"graph_transient_mib\":%.6g,\"eager_transient_mib\":%.6g,\"arena_mib\":%.6g,\"unshared_mib\":%.6g,"
      "\"steps\":%zu}\n",
      args.bench.c_str(), args.threads, actual, double(graph_peak.total) * mb, double(graph_peak.total) * mb,
      double(graph_peak.total) * mb, double(graph_peak.total) * mb, double(eager_peak.total) * mb,
      double(graph_peak.transient) * mb, double(eager_peak.transient) * mb, double(plan.arena_bytes) * mb,
      double(plan.unshared_bytes) * mb, plan.steps);
  std::fflush(stdout);
  return 0;
}

// A figure of /proc/self/status in MiB ("VmRSS:": resident now, "VmHWM:": its peak).
double status_mib(const char* key) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return NAN;
  char line[256];
  double kib = NAN;
  const size_t n = std::strlen(key);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, key, n) == 0) kib = std::atof(line + n);
  std::fclose(f);
  return kib / 1024.0;
}

// Resident KiB of /proc/self/smaps by kind of mapping: each file (libraries' touched pages), the
// heap, anonymous writable memory, anonymous executable memory (JIT code).
std::map<std::string, double> resident_by_kind() {
  std::map<std::string, double> kib;
  std::FILE* f = std::fopen("/proc/self/smaps", "r");
  if (!f) return kib;
  std::string kind;
  char line[1024];
  while (std::fgets(line, sizeof line, f)) {
    char perms[8] = {}, path[768] = {};
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line, "%lx-%lx %7s %*s %*s %*s %767s", &lo, &hi, perms, path) >= 3 && line[0] != ' ' &&
        std::strchr(line, '-') < std::strchr(line, ' ')) {
      const bool exec = perms[2] == 'x';
      if (path[0] == '/')
        kind = std::string("file ") + path;
      else if (std::strcmp(path, "[heap]") == 0)
        kind = exec ? "heap, executable" : "heap";
      else if (path[0] == '[')
        kind = path;
      else
        kind = exec ? "anonymous, executable" : "anonymous";
      continue;
    }
    if (std::strncmp(line, "Rss:", 4) == 0) kib[kind] += std::atof(line + 4);
  }
  std::fclose(f);
  return kib;
}

// What the resident-set growth since `base` is made of (DOPPEL_BENCH_RSS_DETAIL=1, to stderr):
// MiB per kind of mapping, then malloc's own counters and the allocator's.
void print_rss_breakdown(const char* side, const std::map<std::string, double>& base) {
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [k, v] : resident_by_kind()) {
    const auto b = base.find(k);
    const double grown = v - (b == base.end() ? 0.0 : b->second);
    if (std::fabs(grown) >= 32) rows.emplace_back(grown, k);
  }
  std::sort(rows.rbegin(), rows.rend());
  for (const auto& [v, k] : rows) std::fprintf(stderr, "%s rss growth %8.2f MiB  %s\n", side, v / 1024, k.c_str());
  const struct mallinfo2 mi = mallinfo2();
  const doppel::AllocatorStats st = doppel::allocator_for(doppel::kCPU).stats();
  std::fprintf(stderr,
               "%s malloc: heap %.2f MiB (in use %.2f, free %.2f), mmapped %.2f MiB; allocator: in use %.2f MiB, "
               "cached %.2f MiB\n",
               side, double(mi.arena) / 1048576, double(mi.uordblks) / 1048576, double(mi.fordblks) / 1048576,
               double(mi.hblkhd) / 1048576, double(st.bytes_in_use) / 1048576, double(st.bytes_cached) / 1048576);
}

// One side of graph_rss_* (this process): resident-set growth in MiB from before the model was
// built to the peak of one step, after 3 warm-up steps and with the allocator's cached blocks
// and malloc's free memory handed back (both sides), so the peak is what the step touches.
int rss_side(const Args& args, bool graph) {
  const TrainSpec spec = train_spec(args.bench);
  const Tensors in = {doppel::randn({spec.batch, 1, 28, 28}), doppel::randint(0, 10, {spec.batch})};
  const std::map<std::string, double> base_kinds =
      std::getenv("DOPPEL_BENCH_RSS_DETAIL") ? resident_by_kind() : std::map<std::string, double>{};
  const double base = status_mib("VmRSS:");
  Trainer t(spec);
  CompiledFunction compiled = doppel::compile([&](const Tensors& x) { return t.step(x); }, training_options(spec));
  auto step = [&] { return (graph ? compiled(in) : t.step(in))[0].item<double>(); };
  for (int k = 0; k < 5; ++k) (void)step();
  if (graph && compiled.num_graph_runs() < 1) return fail(args, "the compiled step did not replay its graph");
  doppel::allocator_for(doppel::kCPU).empty_cache();
  malloc_trim(0);
  std::FILE* clear = std::fopen("/proc/self/clear_refs", "w");  // "5": VmHWM restarts from VmRSS
  if (!clear || std::fputs("5", clear) < 0 || std::fclose(clear) != 0)
    return fail(args, "cannot reset the peak RSS through /proc/self/clear_refs");
  (void)step();
  std::printf("%.6g\n", status_mib("VmHWM:") - base);
  if (std::getenv("DOPPEL_BENCH_RSS_DETAIL")) print_rss_breakdown(graph ? "graph" : "eager", base_kinds);
  return 0;
}

// v sorted, as a JSON list's elements ("1.5,2,3.25").
std::string sorted_values(std::vector<double>& v) {
  std::sort(v.begin(), v.end());
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + std::to_string(v[i]);
  return out;
}

// graph_rss_*: REPS rounds, each running this program twice more — eager side, then graph side,
// each in its own process (DOPPEL_BENCH_RSS_SIDE) — and the medians of both.
int run_rss(const Args& args, int actual) {
  if (const char* side = std::getenv("DOPPEL_BENCH_RSS_SIDE")) return rss_side(args, std::string(side) == "graph");
  char self[4096] = {};
  if (readlink("/proc/self/exe", self, sizeof self - 1) <= 0) return fail(args, "cannot find this program's path");
  std::vector<double> eager, graph;  // MiB per process
  for (int r = 0; r < args.reps; ++r)
    for (const char* side : {"eager", "graph"}) {
      const std::string cmd = "DOPPEL_BENCH_RSS_SIDE=" + std::string(side) + " '" + self + "' " + args.bench + " " +
                              std::to_string(args.threads) + " 1";
      std::FILE* p = popen(cmd.c_str(), "r");
      double mib = NAN;
      const bool read = p && std::fscanf(p, "%lf", &mib) == 1;
      if (!p || pclose(p) != 0 || !read || !std::isfinite(mib))
        return fail(args, std::string("the ") + side + " process gave no RSS figure");
      (std::string(side) == "graph" ? graph : eager).push_back(mib);
    }
  const std::string gv = sorted_values(graph), ev = sorted_values(eager);
  std::printf(
      "{\"impl\":\"doppel\",\"bench\":\"%s\",\"threads\":%d,\"threads_actual\":%d,\"unit\":\"MiB\",\"median\":%.6g,"
      "\"min\":%.6g,\"max\":%.6g,\"reps\":%d,\"inner\":1,\"values\":[%s],\"eager_median\":%.6g,"
      "\"eager_values\":[%s]}\n",
      args.bench.c_str(), args.threads, actual, graph[graph.size() / 2], graph.front(), graph.back(), args.reps,
      gv.c_str(), eager[eager.size() / 2], ev.c_str());
  std::fflush(stdout);
  return 0;
}

// The training step of a graph_* row compiled and run 5 times, for the rows that time the graph
// alone (graph_profile_*, graph_peak_*).
struct CompiledStep {
  TrainSpec spec;
  Tensors in;
  Trainer graph;
  CompiledFunction compiled;
  explicit CompiledStep(const std::string& bench)
      : spec(train_spec(bench)),
        in{doppel::randn({spec.batch, 1, 28, 28}), doppel::randint(0, 10, {spec.batch})},
        graph(spec),
        compiled(doppel::compile([this](const Tensors& x) { return graph.step(x); }, training_options(spec))) {
    for (int k = 0; k < 5; ++k) (void)compiled(in)[0].item<double>();
  }
  CompiledStep(const CompiledStep&) = delete;
  CompiledStep& operator=(const CompiledStep&) = delete;
  bool replayed() const { return compiled.num_graph_runs() >= 1; }
  // The step's nominal FLOPs, 6·params·batch.
  double flop() const {
    double params = 0;
    for (const Tensor& p : graph.model->parameters()) params += double(p.numel());
    return 6 * params * double(spec.batch);
  }
};

// The compiled training step's time per node (Executor::profile, medians over REPS runs), one
// line per node in step order and a summary per op, then the step's FLOP rate.
int run_profile(const Args& args) {
  CompiledStep st(args.bench);
  if (!st.replayed()) return fail(args, "the compiled step did not replay its graph");
  CompiledFunction& compiled = st.compiled;
  const Tensors& in = st.in;
  const auto g = compiled.graph_for(in);
  const auto times = compiled.executor_for(in)->profile(in, std::max(args.reps, 5));
  std::map<std::string, std::pair<double, int>> by_op;
  double total = 0;
  for (const auto& t : times) {
    const doppel::graph::Node& n = g->node(t.node);
    const std::string op(doppel::op_name(n.op));
    std::printf("%4d %-28s %9.4f ms  %s\n", t.node, op.c_str(), t.ns * 1e-6, n.where.c_str());
    by_op[op].first += t.ns;
    ++by_op[op].second;
    total += t.ns;
  }
  std::printf("---- per op (sum of node medians %.4f ms)\n", total * 1e-6);
  for (const auto& [op, v] : by_op)
    std::printf("%-28s %3d nodes %9.4f ms %5.1f%%\n", op.c_str(), v.second, v.first * 1e-6, 100 * v.first / total);
  std::printf("6·params·batch = %.1f MFLOP: %.1f GFLOP/s at the sum of node medians\n", st.flop() * 1e-6,
              st.flop() / total);
  std::fflush(stdout);
  return 0;
}

// A compiled step's nodes split into products (matmul, linear, fused_linear: 2·m·k·n FLOPs each,
// from the graph's shapes at its example bindings) and the rest.
struct ProductSplit {
  std::vector<bool> is_product;
  double product_flop = 0;
  explicit ProductSplit(const doppel::graph::Graph& g) : is_product(g.nodes().size()) {
    const std::vector<doppel::Shape> shapes = g.concrete_shapes(g.example_bindings());
    for (size_t i = 0; i < g.nodes().size(); ++i) {
      const doppel::graph::Node& n = g.nodes()[i];
      if (n.op != doppel::OpId::matmul && n.op != doppel::OpId::linear && n.op != doppel::OpId::fused_linear) continue;
      const doppel::Shape& a = shapes[size_t(n.inputs[0])];
      if (a.empty()) continue;
      // matmul: a [.., m, k] @ b [.., k, n]; linear: x [.., k] @ w [n, k]ᵀ. Either way the
      // output's elements times k.
      const double k = double(a.back()), outputs = double(doppel::numel_of(shapes[size_t(n.outputs[0])]));
      is_product[i] = true;
      product_flop += 2 * outputs * k;
    }
  }
  // {products, rest} in seconds of one profile's node times.
  std::pair<double, double> seconds(const std::vector<doppel::graph::Executor::NodeTime>& times) const {
    double products = 0, rest = 0;
    for (const auto& t : times) (is_product[size_t(t.node)] ? products : rest) += t.ns * 1e-9;
    return {products, rest};
  }
};

// The compiled training step's FLOP rate (6·params·batch per step) as a fraction of the FMA peak,
// both measured in this process and alternating, so that a neighbour's load on a shared machine
// hits both alike: REPS rounds of the peak loop (bench/fma_loop.h, ~0.1 s on every thread, the
// widest ISA the CPU has), then 10 steps; per round the step's rate over that round's peak, by
// wall time and by process CPU time (each side's own); medians.
int run_peak(const Args& args, int actual) {
  CompiledStep st(args.bench);
  if (!st.replayed()) return fail(args, "the compiled step did not replay its graph");
  const double step_flop = st.flop();
  const bool wide = __builtin_cpu_supports("avx512f");
  if (!wide && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
    return fail(args, "this CPU has neither AVX-512 nor AVX2 + FMA: no FMA peak to measure");
  const int lanes = wide ? 16 : 8;
  float sink = 0;
  // The peak loop on every thread: {wall s, process CPU s} for `iters` iterations.
  auto peak_loop = [&](int64_t iters) {
    const auto w0 = Clock::now();
    const double c0 = process_cpu_ms();
    float total = 0;
#pragma omp parallel num_threads(actual) reduction(+ : total)
    total += wide ? bench::fma_loop_avx512(iters, 1.f) : bench::fma_loop_avx2(iters, 1.f);
    sink += total;
    return std::pair<double, double>(seconds_since(w0), (process_cpu_ms() - c0) * 1e-3);
  };
  auto loop_flop = [&](int64_t iters) { return double(actual) * double(iters) * bench::kFmaAcc * lanes * 2.0; };
  int64_t iters = int64_t(1) << 20;
  (void)peak_loop(iters);
  iters = std::max<int64_t>(iters, int64_t(0.1 * loop_flop(iters) / peak_loop(iters).first / loop_flop(1)));
  std::vector<double> by_wall, by_cpu, peaks, steps, products_fraction, rest_ms, needed;
  const ProductSplit split(*st.compiled.graph_for(st.in));
  for (int r = 0; r < args.reps; ++r) {
    const auto [pw, pc] = peak_loop(iters);
    const auto w0 = Clock::now();
    const double c0 = process_cpu_ms();
    constexpr int kSteps = 10;
    for (int k = 0; k < kSteps; ++k) (void)st.compiled(st.in)[0].item<double>();
    const double sw = seconds_since(w0) / kSteps, sc = (process_cpu_ms() - c0) * 1e-3 / kSteps;
    peaks.push_back(loop_flop(iters) / pw * 1e-9);
    steps.push_back(sw * 1e3);
    by_wall.push_back(step_flop / sw / (loop_flop(iters) / pw));
    by_cpu.push_back(step_flop / sc / (loop_flop(iters) / pc));
    // The same round's products and rest, and what the products would need for 90% of the peak.
    const double peak_flops = loop_flop(iters) / pw;
    const auto [products_s, rest_s] = split.seconds(st.compiled.executor_for(st.in)->profile(st.in, 3));
    products_fraction.push_back(split.product_flop / products_s / peak_flops);
    rest_ms.push_back(rest_s * 1e3);
    const double left_s = step_flop / (0.9 * peak_flops) - rest_s;  // the products' time at 90%
    needed.push_back(left_s > 0 ? split.product_flop / (left_s * peak_flops) : 1e9);
  }
  if (sink == -1.0f) std::printf("#\n");  // the loops' results count as used
  std::vector<double> sorted = by_wall;
  const std::string vals = sorted_values(sorted);
  std::printf(
      "{\"impl\":\"doppel\",\"bench\":\"%s\",\"threads\":%d,\"threads_actual\":%d,\"unit\":\"fraction of "
      "peak\",\"median\":%.6g,\"min\":%.6g,\"max\":%.6g,\"reps\":%d,\"inner\":10,\"values\":[%s],"
      "\"cpu_median\":%.6g,\"peak_gflops_median\":%.6g,\"step_ms_median\":%.6g,\"step_mflop\":%.6g,"
      "\"products_mflop\":%.6g,\"products_fraction_median\":%.6g,\"rest_ms_median\":%.6g,"
      "\"products_needed_at_90pct_median\":%.6g}\n",
      args.bench.c_str(), args.threads, actual, median(by_wall), sorted.front(), sorted.back(), args.reps, vals.c_str(),
      median(by_cpu), median(peaks), median(steps), step_flop * 1e-6, split.product_flop * 1e-6,
      median(products_fraction), median(rest_ms), median(needed));
  std::fflush(stdout);
  return 0;
}

}  // namespace

int run_graph(const Args& args, int actual) {
  if (is_peak_bench(args.bench)) return run_peak(args, actual);
  if (is_profile_bench(args.bench)) return run_profile(args);
  if (is_memory_bench(args.bench)) return run_memory(args, actual);
  if (is_rss_bench(args.bench)) return run_rss(args, actual);
  if (is_chain_bench(args.bench)) return run_chain(args, actual);
  if (is_infer_bench(args.bench)) return run_infer(args, actual);
  return run_train(args, actual);
}

}  // namespace bench
