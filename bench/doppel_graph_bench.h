#pragma once
// doppel_bench's graph-mode benchmarks (graph_*): see doppel_graph_bench.cpp.
#include "bench_util.h"

namespace bench {

// Runs one graph_* benchmark, printing its JSON line; returns the process exit status.
int run_graph(const Args& args, int actual_threads);

}  // namespace bench
