// doppel._C.op_table(): the op table as Python sees it, one dict per op (name, flags, autocast
// policy, ONNX exportability), so the Python tests can check that every op is reachable from
// Python and declared at every stage.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bind.h"
#include "doppel/autocast.h"
#include "doppel/graph/onnx.h"
#include "doppel/kernels/op_def.h"

namespace doppel::py {

void bind_op_table(nb::module_& m) {
  m.def(
      "op_table",
      [] {
        nb::list ops;
        for (int k = 0; k < kNumOps; ++k) {
          const OpId id = OpId(k);
          const OpDef* def = find_op_def(id);
          nb::dict d;
          d["name"] = std::string(op_name(id));
          d["defined"] = def != nullptr;
          d["view"] = def && def->has(kView);
          d["factory"] = def && def->has(kFactory);
          d["differentiable"] = def && def->differentiable_inputs != 0;
          d["autocast"] = std::string(autocast_policy_name(autocast_policy(id)));
          d["onnx_refused"] = std::string(onnx::not_exportable_reason(id));
          ops.append(d);
        }
        return ops;
      },
      "Every op of the op table: name, flags, autocast policy and why ONNX export refuses it (empty: "
      "it maps).");
}

}  // namespace doppel::py
