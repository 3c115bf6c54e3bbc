#pragma once
// The implementation names in a report that kernels appended to implementation_sink() (" + "-
// separated, kernels/include/doppel/kernels/implementation_report.h), in report order.
#include <algorithm>
#include <string>
#include <vector>

namespace doppel::testing {

inline std::vector<std::string> implementation_names(const std::string& report) {
  std::vector<std::string> names;
  for (size_t at = 0; at < report.size();) {
    const size_t end = std::min(report.find(" + ", at), report.size());
    names.push_back(report.substr(at, end - at));
    at = end + 3;
  }
  return names;
}

}  // namespace doppel::testing
