#pragma once
// Batch tiling: an inference plan runs a run of batch-separable kernel steps (convolutions,
// pools, elementwise ops, layout changes, linears: each output image depends on the same image
// of its inputs only) a chunk of C images at a time, all of the run's steps on one chunk before
// the next. The values produced and consumed inside the run (its internal values) then exist
// for C images only and stay in the L2 cache between the steps, instead of going to memory and
// back for the whole batch N: the small CNN's first convolution writes 6.4 MB at batch 64 that
// its pool reads back.
//
// The executor asks find_tile_groups for the runs (TileGroup). Every step of a group is called
// once per chunk on views of its batch-carrying inputs and outputs sliced along dim 0 (weights
// whole); internal values get chunk-sized buffers, and every other value the group reads or
// writes lives over the whole group (a later chunk reads an input again, every chunk writes its
// rows of an output).
#include <cstdint>
#include <vector>

#include "doppel/core/shape.h"
#include "doppel/graph/executor.h"
#include "doppel/graph/ir.h"

namespace doppel::graph {

// How a value relates to the batch, for tiling.
enum class BatchRows : uint8_t {
  kWhole,  // computed from no graph input (weights, constants): never sliced
  kRows,   // carries the batch in dim 0, and row n of it is row n of its buffer's bytes
  kMixed,  // computed from the inputs some other way (a reduction over the batch, a permute)
};

struct TileGroup : TiledRun {
  std::vector<ValueId> internal;  // buffers written and read only inside: `chunk` images each
};

// The groups worth tiling among `kernel_nodes` (in run order), and by ValueId how each value
// relates to the batch (`rows`). `root` maps a value to the buffer a chain of views leads back
// to, `shapes` are concrete, `attrs` the nodes' concrete attributes, `last` by root the last kernel
// step reading it (kernel_nodes.size(): kept to the end). A graph that updates state or hands out
// gradients (a training step) gets no groups.
std::vector<TileGroup> find_tile_groups(const Graph& g, const std::vector<int32_t>& kernel_nodes,
                                        const std::vector<Attrs>& attrs, const std::vector<ValueId>& root,
                                        const std::vector<Shape>& shapes, const std::vector<int32_t>& last,
                                        const BatchTilingOptions& options, std::vector<BatchRows>& rows);

}  // namespace doppel::graph
