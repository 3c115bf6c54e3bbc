// doppel._C._onednn_reference_primitives(): the oneDNN primitives that ran a reference
// implementation (doppel/kernels/onednn_audit.h), for tests and for finding a slow layer; and
// doppel._C._onednn_int8_saturates(): whether this CPU's oneDNN int8 dot product saturates
// (doppel/kernels/int8_support.h), for tests whose peers' int8 kernels saturate there too.
#include "doppel/kernels/onednn_audit.h"
#include "bind.h"
#include "doppel/kernels/int8_support.h"

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
  m.def("_onednn_int8_saturates", &onednn_int8_saturates,
        "Whether oneDNN's int8 dot product saturates on this CPU (no VNNI/AMX): doppel's int8 kernels then run "
        "an exact form of it.");
}

}  // namespace doppel::py
