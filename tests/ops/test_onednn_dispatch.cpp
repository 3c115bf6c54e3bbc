// The oneDNN kernels' supports() is the whole backend decision: for every op-spec sample the
// backend select_kernel reports is the one whose supports() accepted the call, its run does not
// hand the call elsewhere or fail.
#include "doppel/kernels/kernel_table.h"
#include "support/op_spec.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

TEST_CASE("oneDNN dispatch: the reported backend is the one whose supports() accepted the call", "[onednn_dispatch]") {
  int onednn_calls = 0;
  for (auto& [op, spec] : specs_by_op()) {
    if (op_def(op).has(kView)) continue;
    for (DType dtype : spec.dtypes)
      for (const Sample& s : spec.samples(dtype)) {
        INFO(fmt::format("op {} dtype {} sample {}", op_name(op), dtype_name(dtype), describe(s)));
        bool cpu = true;
        for (const Tensor& t : s.inputs) cpu = cpu && (!t.defined() || t.device().is_cpu());
        if (!cpu) continue;
        const OpCall call{op, s.inputs, s.attrs};
        const bool accepted = kernel_for(op, Backend::OneDNN).accepts(call);
        // Run the oneDNN kernel itself: it must not throw (no declined geometry discovered late).
        if (accepted) {
          ForceBackendGuard g(Backend::OneDNN);
          REQUIRE_NOTHROW(dispatch(op, s.inputs, s.attrs));
          ++onednn_calls;
        }
        dispatch(op, s.inputs, s.attrs);
        CHECK(last_selected_backend() == (accepted ? Backend::OneDNN : Backend::Reference));
      }
  }
  CHECK(onednn_calls > 100);
}

}  // namespace
}  // namespace doppel::testing
