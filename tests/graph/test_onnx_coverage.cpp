// The op table drives ONNX export: every op either has a mapping or a reason why export refuses
// it, never both and never neither, so adding an op to ops.def forces that decision.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <catch2/catch_test_macros.hpp>
#include <string>
#include <vector>

#include "doppel/graph/onnx.h"
#include "doppel/kernels/op_def.h"

namespace doppel {
namespace {

TEST_CASE("onnx export: every op is mapped or says why it is not exportable", "[onnx][op_spec]") {
  std::vector<std::string> problems;
  for (int k = 0; k < kNumOps; ++k) {
    const OpId op = OpId(k);
    const bool mapped = onnx::has_onnx_mapping(op);
    const bool refused = !onnx::not_exportable_reason(op).empty();
    if (mapped == refused)
      problems.push_back(fmt::format("{}: {}", op_name(op), mapped ? "mapped and refused" : "neither"));
  }
  INFO(fmt::format("{}", fmt::join(problems, "\n")));
  CHECK(problems.empty());
}

}  // namespace
}  // namespace doppel
