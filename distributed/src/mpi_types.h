#pragma once
// Internal: doppel dtypes and reduce ops as MPI datatypes and MPI_Ops. Called on the communication
// thread only (after MPI_Init).
#include <mpi.h>

#include "doppel/core/dtype.h"
#include "doppel/kernels/communicator.h"

namespace doppel::distributed::detail {

// The element type MPI reduces. float16/bfloat16 are 2-byte types of their own (reduced by the
// user ops of mpi_op, in float, rounding once per combine as every half-precision all-reduce does).
MPI_Datatype mpi_element_type(DType dtype);
// The MPI_Op that combines two ranks' values: MPI's own where it has the right semantics (sum of
// 32/64-bit floats and integers, max/min of integers), doppel's where not (max/min of floating
// types propagate NaN as torch.maximum does; everything on 16-bit floats). Avg reduces with sum
// (the caller divides).
MPI_Op mpi_op(kernels::ReduceOp op, DType dtype);
// Frees the datatypes and ops made here (before MPI_Finalize).
void free_mpi_types();

}  // namespace doppel::distributed::detail
