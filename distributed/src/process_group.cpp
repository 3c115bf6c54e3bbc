// Process groups: MPI's start-up on the communication thread, the world and sub-groups, their
// communicators in the op table's registry, and the job-ending error path.
#include "doppel/distributed/process_group.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <mutex>

#include "comm_thread.h"
#include "group_communicator.h"
#include "mpi_types.h"
#include "process_state.h"

namespace doppel::distributed {
namespace detail {
namespace {

// MPI itself: initialised once per process on the communication thread and finalised when the
// process exits (MPI cannot start again after MPI_Finalize, so destroy_process_group leaves it up).
class MpiRuntime {
 public:
  MpiRuntime() {
    // An extension module (doppel._C) is loaded with RTLD_LOCAL; Open MPI's plugins then miss
    // libmpi's symbols. Promote libmpi to global visibility first.
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&MPI_Init_thread), &info) && info.dli_fname)
      dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
#ifdef OPEN_MPI
    // The all-reduce is MPI_Iallreduce (polled, for the timeout). Open MPI's libnbc picks a
    // binomial tree for it below 4 ranks or for in-place buffers, which reaches 0.4-0.6 of the
    // blocking MPI_Allreduce's bandwidth from 256 KiB up; reduce-scatter + allgather
    // (Rabenseifner) reaches 0.9-1.0 (bench/allreduce_bench.cpp). Read at MPI_Init; a value the
    // user set wins.
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "3", /*overwrite=*/0);
#endif
    // MPI_Init and MPI_Finalize on the thread itself: MPI wants them on one thread.
    thread_
        .submit([] {
          int provided = 0;
          if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
            throw DistributedError("init_process_group: MPI_Init_thread failed");
          // Errors come back as codes (DistributedError), not as MPI aborting the job behind our back.
          MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        })
        .wait();
  }
  ~MpiRuntime() {
    thread_
        .submit([] {
          free_mpi_types();
          MPI_Finalize();
        })
        .wait();
  }
  CommThread& thread() { return thread_; }

 private:
  CommThread thread_;
};

std::mutex g_mutex;
std::unique_ptr<ProcessState> g_state;

MpiRuntime& mpi_runtime() {
  static MpiRuntime runtime;
  return runtime;
}

std::optional<double> env_number(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  char* end = nullptr;
  const double x = std::strtod(v, &end);
  DOPPEL_CHECK(end && *end == '\0', "init_process_group: {}={} is not a number", name, v);
  return x;
}

int local_rank_from_env_or_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID", "LOCAL_RANK"})
    if (const auto v = env_number(name)) return int(*v);
  int local = 0;
  mpi_runtime().thread().run([&] {
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local);
    MPI_Comm_free(&node);
  });
  return local;
}

NcclFactory nccl_factory(const std::string& backend) {
  if (backend == "mpi") return nullptr;
#ifdef DOPPEL_WITH_NCCL
  if (backend == "nccl") return make_nccl_communicator;
#endif
  DOPPEL_CHECK(backend != "nccl",
               "init_process_group: this build of doppel has no NCCL (built without CUDA); use "
               "backend \"mpi\"");
  throw ValueError(fmt::format("init_process_group: unknown backend \"{}\"; use \"mpi\" or \"nccl\"", backend));
}

void register_group(ProcessState& s, int64_t id, std::vector<int> ranks, MPI_Comm comm) {
  GroupInfo info{.ranks = ranks};
  if (comm != MPI_COMM_NULL) {
    info.comm = std::make_shared<GroupCommunicator>(
        std::make_unique<MpiCommunicator>(comm, id, std::move(ranks), mpi_runtime().thread(), s.settings), s.nccl,
        s.local_rank);
    kernels::set_communicator(id, info.comm);
  }
  s.groups[id] = std::move(info);
}

[[noreturn]] void on_terminate() {
  std::string what = "terminate called";
  if (const std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = fmt::format("uncaught exception: {}", ex.what());
    } catch (...) {
      what = "uncaught exception of an unknown type";
    }
  }
  abort_job(what);
}

}  // namespace

ProcessState& state(std::string_view what) {
  DOPPEL_CHECK(g_state != nullptr, "{}: the default process group is not initialised; call init_process_group first",
               what);
  return *g_state;
}

const GroupInfo& group_info(const Group& group, std::string_view what) {
  ProcessState& s = state(what);
  const auto it = s.groups.find(group.id());
  DOPPEL_CHECK(it != s.groups.end(), "{}: process group {} does not exist (destroyed?)", what, group.id());
  return it->second;
}

CommThread& comm_thread() { return mpi_runtime().thread(); }

}  // namespace detail

using namespace detail;

void init_process_group(const InitOptions& options) {
  std::lock_guard lock(g_mutex);
  DOPPEL_CHECK(!g_state,
               "init_process_group: the default process group is initialised already; call "
               "destroy_process_group first");
  auto s = std::make_unique<ProcessState>();
  s->backend = options.backend;
  s->nccl = nccl_factory(options.backend);
  s->settings = std::make_shared<Settings>();
  const auto env_timeout = env_number("DOPPEL_DISTRIBUTED_TIMEOUT");
  s->settings->timeout = options.timeout ? *options.timeout
                         : env_timeout   ? std::chrono::milliseconds(int64_t(*env_timeout * 1000))
                                         : kDefaultTimeout;
  DOPPEL_CHECK(s->settings->timeout.count() > 0, "init_process_group: the timeout must be positive, got {} ms",
               s->settings->timeout.count());
  const auto env_check = env_number("DOPPEL_DISTRIBUTED_CHECK");
  s->settings->check_shapes = options.check_shapes ? *options.check_shapes : !env_check || *env_check != 0;
  int rank = 0, world = 1;
  mpi_runtime().thread().run([&] {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
  });
  DOPPEL_CHECK(!options.rank || *options.rank == rank,
               "init_process_group: rank {} was given but MPI started this process as rank {} of {}", *options.rank,
               rank, world);
  DOPPEL_CHECK(!options.world_size || *options.world_size == world,
               "init_process_group: world_size {} was given but MPI started {} processes", *options.world_size, world);
  s->rank = rank;
  s->world_size = world;
  s->local_rank = local_rank_from_env_or_mpi();
  std::vector<int> all(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) all[size_t(r)] = r;
  register_group(*s, kernels::kWorldGroup, all, MPI_COMM_WORLD);
  std::set_terminate(on_terminate);
  g_state = std::move(s);
}

bool is_initialized() {
  std::lock_guard lock(g_mutex);
  return g_state != nullptr;
}

void destroy_process_group() {
  std::lock_guard lock(g_mutex);
  ProcessState& s = state("destroy_process_group");
  // Queued async collectives finish first (the thread runs in order), then the groups go.
  comm_thread().run([] {});
  for (const auto& [id, info] : s.groups) kernels::set_communicator(id, nullptr);
  g_state.reset();
}

std::string get_backend() {
  std::lock_guard lock(g_mutex);
  return state("get_backend").backend;
}

int get_rank(const Group& group) {
  std::lock_guard lock(g_mutex);
  const GroupInfo& g = group_info(group, "get_rank");
  return g.comm ? g.comm->rank() : -1;
}

int get_world_size(const Group& group) {
  std::lock_guard lock(g_mutex);
  return int(group_info(group, "get_world_size").ranks.size());
}

int get_local_rank() {
  std::lock_guard lock(g_mutex);
  return state("get_local_rank").local_rank;
}

std::vector<int> Group::ranks() const {
  std::lock_guard lock(g_mutex);
  return group_info(*this, "Group::ranks").ranks;
}

bool Group::contains_me() const {
  std::lock_guard lock(g_mutex);
  return group_info(*this, "Group::contains_me").comm != nullptr;
}

Group new_group(std::vector<int> ranks) {
  std::lock_guard lock(g_mutex);
  ProcessState& s = state("new_group");
  std::sort(ranks.begin(), ranks.end());
  DOPPEL_CHECK(!ranks.empty() && std::adjacent_find(ranks.begin(), ranks.end()) == ranks.end() && ranks.front() >= 0 &&
                   ranks.back() < s.world_size,
               "new_group: ranks must be distinct ranks of the world [0, {}), got {}", s.world_size,
               fmt::join(ranks, ", "));
  const int64_t id = s.next_group++;
  const auto me = std::find(ranks.begin(), ranks.end(), s.rank);
  const MPI_Comm comm = s.groups.at(kernels::kWorldGroup).comm->mpi().split(me != ranks.end(), int(me - ranks.begin()));
  register_group(s, id, std::move(ranks), comm);
  return Group(id);
}

void barrier(const Group& group) {
  std::shared_ptr<GroupCommunicator> comm;
  {
    std::lock_guard lock(g_mutex);
    comm = group_info(group, "barrier").comm;
    DOPPEL_CHECK(comm != nullptr, "barrier: rank {} is not in group {}", g_state->rank, group.id());
  }
  comm->mpi().barrier();
}

std::chrono::milliseconds timeout() {
  std::lock_guard lock(g_mutex);
  return state("timeout").settings->timeout;
}

void abort_job(const std::string& message, int exit_code) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  int rank = -1;
  if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "[doppel.distributed] rank %d failed: %s; ending the job\n", rank, message.c_str());
  std::fflush(stderr);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

}  // namespace doppel::distributed
