// doppel dtypes and reduce ops in MPI terms (mpi_types.h).
#include "mpi_types.h"

#include <cmath>
#include <utility>

#include "doppel/core/half.h"

namespace doppel::distributed::detail {
namespace {

using kernels::ReduceOp;

MPI_Datatype g_float16 = MPI_DATATYPE_NULL, g_bfloat16 = MPI_DATATYPE_NULL;
// [float16, bfloat16, float32, float64] x [sum, max, min], made on first use.
MPI_Op g_ops[4][3];
bool g_made[4][3] = {};

MPI_Datatype two_byte_type(MPI_Datatype& t) {
  if (t == MPI_DATATYPE_NULL) {
    MPI_Type_contiguous(2, MPI_BYTE, &t);
    MPI_Type_commit(&t);
  }
  return t;
}

struct Sum {
  template <class C>
  C operator()(C a, C b) const {
    return a + b;
  }
};
// NaN wins, as torch.maximum/minimum (MPI_MAX would keep whichever side a comparison picks).
struct Max {
  template <class C>
  C operator()(C a, C b) const {
    return (std::isnan(a) || a > b) ? a : b;
  }
};
struct Min {
  template <class C>
  C operator()(C a, C b) const {
    return (std::isnan(a) || a < b) ? a : b;
  }
};

// MPI's user-function signature: inout[i] = in[i] (op) inout[i].
template <class T, class F>
void combine(void* in, void* inout, int* len, MPI_Datatype*) {
  const T* a = static_cast<const T*>(in);
  T* b = static_cast<T*>(inout);
  using C = compute_t<T>;
  for (int i = 0; i < *len; ++i) b[i] = T(F{}(C(a[i]), C(b[i])));
}

template <class T>
MPI_Op user_op(int type, ReduceOp op) {
  const int k = op == ReduceOp::Max ? 1 : op == ReduceOp::Min ? 2 : 0;
  if (!g_made[type][k]) {
    MPI_User_function* fn = k == 1 ? combine<T, Max> : k == 2 ? combine<T, Min> : combine<T, Sum>;
    MPI_Op_create(fn, /*commute=*/1, &g_ops[type][k]);
    g_made[type][k] = true;
  }
  return g_ops[type][k];
}

}  // namespace

MPI_Datatype mpi_element_type(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return MPI_FLOAT;
    case DType::Float64:
      return MPI_DOUBLE;
    case DType::Float16:
      return two_byte_type(g_float16);
    case DType::BFloat16:
      return two_byte_type(g_bfloat16);
    case DType::Int8:
      return MPI_INT8_T;
    case DType::UInt8:
      return MPI_UINT8_T;
    case DType::Int32:
      return MPI_INT32_T;
    case DType::Int64:
      return MPI_INT64_T;
    case DType::Bool:
      return MPI_C_BOOL;
  }
  return MPI_BYTE;
}

MPI_Op mpi_op(ReduceOp op, DType dtype) {
  switch (dtype) {
    case DType::Float16:
      return user_op<float16>(0, op);
    case DType::BFloat16:
      return user_op<bfloat16>(1, op);
    case DType::Float32:
      return op == ReduceOp::Max || op == ReduceOp::Min ? user_op<float>(2, op) : MPI_SUM;
    case DType::Float64:
      return op == ReduceOp::Max || op == ReduceOp::Min ? user_op<double>(3, op) : MPI_SUM;
    default:
      return op == ReduceOp::Max ? MPI_MAX : op == ReduceOp::Min ? MPI_MIN : MPI_SUM;
  }
}

void free_mpi_types() {
  for (int t = 0; t < 4; ++t)
    for (int k = 0; k < 3; ++k)
      if (std::exchange(g_made[t][k], false)) MPI_Op_free(&g_ops[t][k]);
  for (MPI_Datatype* t : {&g_float16, &g_bfloat16})
    if (*t != MPI_DATATYPE_NULL) MPI_Type_free(t);  // sets it back to MPI_DATATYPE_NULL
}

}  // namespace doppel::distributed::detail
