// Reference kernels of the collective ops: the call goes to its group's communicator (MPI for CPU
// tensors in distributed/), or is a copy on a world of one process.
#include <cstring>

#include "collective_call.h"
#include "doppel/kernels/communicator.h"
#include "doppel/kernels/kernel_table.h"
#include "registration.h"

namespace doppel::registration {
namespace {

void host_copy(const Tensor& dst, const Tensor& src) { std::memcpy(dst.raw_data(), src.raw_data(), src.nbytes()); }

void collective_kernel(const OpCall& c, std::span<const Tensor> out) { run_collective(c, out, host_copy); }

}  // namespace

void reference_collective_kernels() {
  for (OpId op : {OpId::all_reduce, OpId::broadcast, OpId::all_gather, OpId::reduce_scatter, OpId::all_to_all})
    register_kernel(op, Backend::Reference, {collective_kernel});
}

}  // namespace doppel::registration
