#pragma once
// Memory planning: every intermediate buffer of a planned graph gets an offset in one arena,
// buffers whose lifetimes do not overlap share bytes. Lifetimes are in step indices.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace doppel::graph {

struct BufferRequest {
  size_t nbytes = 0;
  int32_t first = 0;  // the step that writes it
  int32_t last = 0;   // the last step that reads it (or a view of it)
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // per request, 64-byte aligned
  size_t arena_bytes = 0;
  size_t total_request_bytes = 0;  // what separate buffers would take
  size_t live_peak_bytes = 0;      // the most bytes alive at one step: no plan can be smaller
};

// Offsets such that two buffers whose lifetimes share a step never share a byte.
MemoryPlan plan_memory(const std::vector<BufferRequest>& requests);

// The most (64-byte aligned) bytes alive at one step.
size_t live_peak_bytes(const std::vector<BufferRequest>& requests);

}  // namespace doppel::graph
