// The CNN training step (bench/doppel_models.h, SGD) of one rank of a data-parallel job, per-rank
// batch fixed; run with 1 and with 2 processes (bench/ddp_scaling.sh), one thread each. Prints
// one JSON line (rank 0) with the medians over the timed steps:
//   step_ms        the DistributedDataParallel step (forward, loss, backward with the bucketed
//                  all-reduces, SGD step);
//   local_step_ms  the same step of the unwrapped model in the same processes (no communication:
//                  what the step costs with the same CPU and memory contention);
//   allreduce_ms   the all-reduces of the step's buckets alone, back to back (the communication
//                  the step must do);
// so the bucketing hides 1 - (step_ms - local_step_ms) / allreduce_ms of the communication.
//
//   distributed/mpirun.sh -np 2 build/release/bench/ddp_scaling_bench [--batch 32] [--steps 40]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "doppel/distributed/collectives.h"
#include "doppel/distributed/ddp.h"
#include "doppel/doppel.h"
#include "doppel_models.h"

using namespace doppel;
namespace dist = doppel::distributed;

namespace {

// Milliseconds per call of each of `fns`, the medians over `reps` rounds after `warmup`; each
// round calls every function once (all ranks in step), so load from outside the job affects
// them alike.
std::vector<double> time_ms(int warmup, int reps, const std::vector<std::function<void()>>& fns) {
  for (int i = 0; i < warmup; ++i)
    for (const auto& fn : fns) fn();
  std::vector<std::vector<double>> ms(fns.size());
  for (int i = 0; i < reps; ++i)
    for (size_t k = 0; k < fns.size(); ++k) {
      dist::barrier();
      const auto t0 = std::chrono::steady_clock::now();
      fns[k]();
      ms[k].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  std::vector<double> out;
  for (auto& v : ms) out.push_back(bench::median(v));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t batch = 32;
  int steps = 40;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--batch")
      batch = std::stoll(argv[i + 1]);
    else if (k == "--steps")
      steps = std::stoi(argv[i + 1]);
  }
  dist::init_process_group({.backend = "mpi"});
  set_num_threads(1);
  const int world = dist::get_world_size();
  manual_seed(1);
  auto model = ::bench::make_model("cnn");
  auto ddp = std::make_shared<nn::DistributedDataParallel>(model);
  const Tensor x = randn({batch, 1, 28, 28}), y = randn({batch, 10});
  auto step = [&](nn::Module& m) {
    auto opt = ::bench::make_optimizer("sgd", m.parameters());
    return [&m, opt = std::shared_ptr<optim::Optimizer>(std::move(opt)), &x, &y] {
      opt->zero_grad();
      mse_loss(m.forward(x), y).backward();
      opt->step();
    };
  };
  // The buckets' all-reduces alone: one flat float tensor per bucket, as the reducer sends them.
  std::vector<Tensor> flats;
  const std::vector<Tensor> params = model->parameters();
  int64_t bytes = 0;
  for (const auto& bucket : ddp->reducer().buckets()) {
    int64_t n = 0;
    for (size_t i : bucket) n += params[i].numel();
    flats.push_back(zeros({n}));
    bytes += n * 4;
  }
  auto reduce_buckets = [&] {
    for (const Tensor& f : flats) dist::all_reduce(f, dist::ReduceOp::Avg);
  };
  const std::vector<double> ms = time_ms(3, steps, {step(*ddp), step(*model), reduce_buckets});
  const double step_ms = ms[0], local_ms = ms[1], allreduce_ms = ms[2];
  if (dist::get_rank() == 0)
    std::printf(
        "{\"bench\": \"ddp_cnn_step\", \"world\": %d, \"batch_per_rank\": %lld, \"threads\": 1, \"buckets\": %zu, "
        "\"gradient_mb\": %.3f, \"step_ms\": %.3f, \"local_step_ms\": %.3f, \"allreduce_ms\": %.3f}\n",
        world, (long long)batch, flats.size(), double(bytes) / (1 << 20), step_ms, local_ms, allreduce_ms);
  dist::destroy_process_group();
  return 0;
}
