// doppel._C._onednn_reference_primitives(): the oneDNN primitives that ran a reference
// implementation (doppel/kernels/onednn_audit.h), for tests and for finding a slow layer.
#include "doppel/kernels/onednn_audit.h"
#include "bind.h"

namespace doppel::py {

void bind_onednn_audit(nb::module_& m) {
  m.def(
      "_onednn_reference_primitives",
      [](bool reset) {
        nb::list out;
        for (const ReferencePrimitive& p : onednn_reference_primitives()) {
          nb::dict d;
          d["kind"] = p.kind;
          d["impl"] = p.impl;
          d["shapes"] = p.shapes;
          d["runs"] = p.runs;
          out.append(d);
        }
        if (reset) reset_onednn_reference_primitives();
        return out;
      },
      nb::arg("reset") = false,
      "The oneDNN primitives that ran a reference implementation since the last reset (dicts: kind, impl, "
      "shapes, runs); reset=True clears the record after reading it.");
}

}  // namespace doppel::py
