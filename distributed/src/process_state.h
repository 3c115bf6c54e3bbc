#pragma once
// Internal: the process group's state (process_group.cpp owns it; the collectives read it).
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "comm_thread.h"
#include "doppel/distributed/process_group.h"
#include "group_communicator.h"
#include "settings.h"

namespace doppel::distributed::detail {

struct GroupInfo {
  std::vector<int> ranks;                   // world ranks, in group-rank order
  std::shared_ptr<GroupCommunicator> comm;  // null on a process outside the group
};

struct ProcessState {
  std::string backend;
  NcclFactory nccl = nullptr;
  int rank = 0, world_size = 1, local_rank = 0;
  std::shared_ptr<Settings> settings;
  std::map<int64_t, GroupInfo> groups;
  int64_t next_group = 1;
};

// The state; ValueError naming `what` before init_process_group. Callers hold no lock: the state
// changes only in init/destroy/new_group, which every rank calls from its main program.
ProcessState& state(std::string_view what);
const GroupInfo& group_info(const Group& group, std::string_view what);
CommThread& comm_thread();

}  // namespace doppel::distributed::detail
