#pragma once
// Checkpoints of a data-parallel job: every rank holds the same parameters, so one rank (the
// group's first) writes the file, with io::save_checkpoint's atomic write (a temporary file renamed
// over the target), and every rank of the group waits at a barrier until it is complete, so that
// no rank reads a half-written file or races ahead to overwrite it. Any world size resumes from
// it: io::load_checkpoint on every rank (the file must be visible to all of them: one machine or
// a shared file system), with the DistributedSampler's epoch and the position in the epoch kept
// in the metadata (tests/distributed/test_checkpoint_resume.cpp).
#include <string>

#include "doppel/distributed/process_group.h"
#include "doppel/io/checkpoint.h"

namespace doppel::distributed {

// Every rank of `group` calls it with the same arguments; only the group's first rank writes.
void save_checkpoint(const std::string& path, const io::CheckpointParts& parts, const io::Metadata& metadata = {},
                     const Group& group = {});

}  // namespace doppel::distributed
