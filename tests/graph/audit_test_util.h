#pragma once
// The oneDNN reference-primitive audit (doppel/kernels/onednn_audit.h) as a test check.
#include <fmt/format.h>
#include <catch2/catch_test_macros.hpp>

#include <string>

#include "doppel/kernels/onednn_audit.h"

namespace doppel::testing {

// Fails naming every reference primitive that ran since the last check, then clears the record.
inline void require_no_reference_primitives(const std::string& what) {
  const std::vector<ReferencePrimitive> ran = onednn_reference_primitives();
  reset_onednn_reference_primitives();
  std::string list;
  for (const ReferencePrimitive& p : ran)
    list += fmt::format("\n  {} {} on {} ({} runs)", p.kind, p.impl, p.shapes, p.runs);
  INFO(what << ": oneDNN reference implementations ran:" << list);
  CHECK(ran.empty());
}

}  // namespace doppel::testing
