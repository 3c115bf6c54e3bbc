// The doppel._C extension: each concept binds itself (one file each); the doppel package
// (python_bindings/doppel/) re-exports it with the pure-Python parts (nn.Module, data, optim).
#include "bind.h"

namespace doppel::py {
// doppel.quantize/dequantize and doppel.ops.quantized (quantized.cpp).
void bind_quantized(nb::module_& m);
}  // namespace doppel::py

#ifdef DOPPEL_WITH_DISTRIBUTED
namespace doppel::py {
// Process groups and collectives (distributed.cpp; built with DOPPEL_DISTRIBUTED).
void bind_distributed(nb::module_& m);
}  // namespace doppel::py
#endif

NB_MODULE(_C, m) {
  m.doc() = "doppel's C++ core: tensors, ops, autograd, nn, optim, io, graph capture, export, runtime";
  using namespace doppel::py;
  bind_errors(m);
  bind_dtype_device(m);
  bind_tensor(m);  // with indexing, DLPack/numpy interop, the ops as methods and autograd
  bind_creation(m);
  bind_nn(m);
  bind_transformer_ops(m);
  bind_quantized(m);
  bind_optim(m);
  bind_io(m);
  bind_compile(m);
  bind_runtime(m);
  bind_op_table(m);
  bind_onednn_audit(m);
  bind_profiler(m);
  bind_tensorboard(m);
  bind_autocast(m);
  bind_models(m);
  bind_data(m);
  bind_quantization(m);
#ifdef DOPPEL_WITH_DISTRIBUTED
  bind_distributed(m);
#endif
}
