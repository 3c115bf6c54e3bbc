// All-reduce bus bandwidth, doppel vs Open MPI's own MPI_Allreduce in the same run (run with
// distributed/mpirun.sh -np 2): float32 sums of 1 KiB to 64 MiB, the two interleaved per size so
// that both see the same machine state. doppel's all_reduce is the op (dispatch, the kernel, the
// communication thread, the agreement check, non-blocking MPI polled to completion); the peer is
// a blocking MPI_Allreduce in place on MPI_COMM_WORLD. Run twice: with the agreement check (the
// default) and without (DOPPEL_DISTRIBUTED_CHECK=0), so the check's cost shows.
//
// Bus bandwidth as nccl-tests defines it: bytes / time * 2 (n - 1) / n. Rank 0 prints a table and
// one JSON line per (check, size).
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "doppel/distributed/collectives.h"
#include "doppel/ops/creation.h"

namespace {

namespace dist = doppel::distributed;
using Clock = std::chrono::steady_clock;

// Seconds per call of `fn` over one round of `iters` calls, started at a barrier so that the ranks
// enter together.
template <class F>
double round_seconds(int iters, F&& fn) {
  MPI_Barrier(MPI_COMM_WORLD);
  const auto start = Clock::now();
  for (int i = 0; i < iters; ++i) fn();
  return std::chrono::duration<double>(Clock::now() - start).count() / iters;
}

double fastest(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

}  // namespace

int main() {
  const int rounds = 15;
  for (const bool check : {true, false}) {
    dist::init_process_group({.backend = "mpi", .check_shapes = check});
    const int rank = dist::get_rank(), world = dist::get_world_size();
    if (rank == 0) {
      std::printf("\nall_reduce float32 sum, %d ranks, agreement check %s\n", world, check ? "on" : "off");
      std::printf("%10s %14s %14s %10s\n", "bytes", "doppel GB/s", "MPI GB/s", "doppel/MPI");
    }
    for (int64_t bytes = 1024; bytes <= (int64_t(64) << 20); bytes *= 4) {
      const int64_t n = bytes / 4;
      const doppel::Tensor t = doppel::ones({n});
      std::vector<float> raw(size_t(n), 1.0f);
      // 64 MiB of payload per round (at least 2 calls, at most 2000).
      const int iters = int(std::clamp<int64_t>((int64_t(64) << 20) / bytes, 2, 2000));
      // Rounds alternate doppel, MPI, doppel, MPI ... (after one warm-up round of each); each side's
      // figure is its fastest round: on a shared machine a round in which another process took the
      // core measures that process, not the all-reduce (medians swing by 10x under such load).
      std::vector<double> doppel_rounds, mpi_rounds;
      for (int r = -1; r < rounds; ++r) {
        const double d = round_seconds(iters, [&] { dist::all_reduce(t); });
        const double m = round_seconds(
            iters, [&] { MPI_Allreduce(MPI_IN_PLACE, raw.data(), int(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); });
        if (r < 0) continue;
        doppel_rounds.push_back(d);
        mpi_rounds.push_back(m);
      }
      const double doppel_s = fastest(doppel_rounds), mpi_s = fastest(mpi_rounds);
      const double bus = 2.0 * (world - 1) / world;
      const double doppel_bw = double(bytes) / doppel_s * bus / 1e9, mpi_bw = double(bytes) / mpi_s * bus / 1e9;
      if (rank == 0) {
        std::printf("%10lld %14.3f %14.3f %10.3f\n", (long long)bytes, doppel_bw, mpi_bw, doppel_bw / mpi_bw);
        std::printf(
            "{\"bench\": \"allreduce\", \"check\": %s, \"ranks\": %d, \"bytes\": %lld, \"doppel_us\": %.3f, "
            "\"mpi_us\": %.3f, \"doppel_busbw_gbs\": %.4f, \"mpi_busbw_gbs\": %.4f}\n",
            check ? "true" : "false", world, (long long)bytes, doppel_s * 1e6, mpi_s * 1e6, doppel_bw, mpi_bw);
      }
    }
    dist::destroy_process_group();
  }
  return 0;
}
