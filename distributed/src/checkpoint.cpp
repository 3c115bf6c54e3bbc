// Rank-0 checkpoints with a barrier (doppel/distributed/checkpoint.h).
#include "doppel/distributed/checkpoint.h"

namespace doppel::distributed {

void save_checkpoint(const std::string& path, const io::CheckpointParts& parts, const io::Metadata& metadata,
                     const Group& group) {
  if (get_rank(group) == 0) io::save_checkpoint(path, parts, metadata);
  barrier(group);
}

}  // namespace doppel::distributed
