#pragma once
// The interface a process group implements for the collective ops (all_reduce, broadcast,
// all_gather, reduce_scatter, all_to_all): the op table calls it, so the kernels library never
// depends on MPI or NCCL. distributed/ implements it (MPI for CPU tensors, NCCL for CUDA tensors)
// and registers one communicator per process group under the group's id, the `group` attribute
// of every collective op. With none registered under group 0 (no process group initialised), the
// ops run on a world of one process: every collective is then the identity (all_gather of one is
// its input), so single-process code, traces and op tests run unchanged.
#include <cstdint>
#include <memory>
#include <string_view>

#include "doppel/core/tensor.h"
#include "doppel/kernels/op_def.h"

namespace doppel::kernels {

// How all_reduce and reduce_scatter combine the ranks' values (PyTorch's ReduceOp). Avg is the sum
// divided by the group's size, for floating-point tensors only.
enum class ReduceOp : int64_t { Sum = 0, Avg = 1, Max = 2, Min = 3 };
inline constexpr int kNumReduceOps = 4;
std::string_view reduce_op_name(ReduceOp op);

// One process group's transport. Every call is collective: all ranks of the group make it, in the
// same order, with tensors of the same shape and dtype (implementations check that and throw an
// error naming the op, the ranks and their shapes otherwise). Tensors are contiguous; `out` may be
// `in` itself for all_reduce and broadcast (in place). Each call returns when `out` holds the
// result; it throws rather than wait longer than the group's timeout.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // out = the elementwise reduction of every rank's `in`.
  virtual void all_reduce(const Tensor& in, const Tensor& out, ReduceOp op) = 0;
  // out = rank `src`'s `in` (`src` is a rank of this group).
  virtual void broadcast(const Tensor& in, const Tensor& out, int src) = 0;
  // out = the ranks' `in` concatenated along dimension 0, in rank order.
  virtual void all_gather(const Tensor& in, const Tensor& out) = 0;
  // out = chunk `rank` (along dimension 0, size() equal chunks) of the reduction of every `in`.
  virtual void reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op) = 0;
  // Chunk j of `in` (dimension 0, size() equal chunks) goes to rank j; out's chunk i is rank i's.
  virtual void all_to_all(const Tensor& in, const Tensor& out) = 0;
};

// The registry from a group id to its communicator (thread-safe). set_communicator(id, nullptr)
// removes one; find_communicator returns nullptr for an id without one.
void set_communicator(int64_t group, std::shared_ptr<Communicator> comm);
std::shared_ptr<Communicator> find_communicator(int64_t group);
inline constexpr int64_t kWorldGroup = 0;

// Whether `op` is a collective: its result depends on other processes, and calling it is a
// side effect every rank must match. Graph passes never merge (CSE), remove (DCE), constant-fold
// or reorder collectives, as they treat random ops.
bool is_collective(OpId op);
// Whether a node of `def` must run exactly as traced: random ops (they advance a generator) and
// collectives (the other ranks wait for them).
inline bool has_side_effects(const OpDef& def) { return def.has(kRandom) || is_collective(def.id); }

}  // namespace doppel::kernels
