// A job in which rank 1 fails, for the failure tests (tests/distributed/CMakeLists.txt):
//   raise:   rank 1 throws and does not catch; the others wait in an all_reduce.
//   kill:    rank 1 dies by SIGKILL; the others wait in an all_reduce.
//   timeout: rank 0 never joins; rank 1's all_reduce times out (DOPPEL_DISTRIBUTED_TIMEOUT).
// Each must end the whole job with an error naming the rank, long before the others' timeout.
#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

#include "doppel/distributed/collectives.h"
#include "doppel/ops/creation.h"

int main(int argc, char** argv) {
  namespace dist = doppel::distributed;
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "raise" && mode != "kill" && mode != "timeout") {
    std::fprintf(stderr, "usage: %s raise|kill|timeout\n", argv[0]);
    return 2;
  }
  dist::init_process_group();
  const doppel::Tensor t = doppel::ones({4});
  if (dist::get_rank() == 1) {
    if (mode == "raise") throw std::runtime_error("rank 1 gives up");
    if (mode == "kill") std::raise(SIGKILL);
    dist::all_reduce(t);  // timeout: rank 0 never comes
  } else if (mode == "timeout") {
    std::this_thread::sleep_for(std::chrono::seconds(30));
  } else {
    dist::all_reduce(t);  // waits for rank 1, which failed
  }
  dist::destroy_process_group();
  return 0;
}
