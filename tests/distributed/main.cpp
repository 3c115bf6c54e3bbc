// The multi-process test program: every rank runs the same Catch2 session inside one process group
// (launched by ctest through distributed/mpirun.sh with -np 2 and -np 3). A failed check on any rank
// fails that rank's exit code, and so the job's.
#include <catch2/catch_session.hpp>

#include "doppel/distributed/process_group.h"

int main(int argc, char** argv) {
  doppel::distributed::init_process_group({.backend = "mpi", .timeout = std::chrono::seconds(60)});
  const int result = Catch::Session().run(argc, argv);
  doppel::distributed::destroy_process_group();
  return result;
}
