#pragma once
// The implementations kernels report (kernels/include/doppel/kernels/implementation_report.h):
// captured into a string for a scope, and the names in such a report (" + "-separated), in order.
#include <algorithm>
#include <string>
#include <vector>

#include "doppel/kernels/implementation_report.h"

namespace doppel::testing {

// While alive, the kernels this thread runs report into `into`; the previous sink afterwards.
class ReportImplementations {
 public:
  explicit ReportImplementations(std::string* into) : previous_(implementation_sink()) { implementation_sink() = into; }
  ~ReportImplementations() { implementation_sink() = previous_; }
  ReportImplementations(const ReportImplementations&) = delete;
  ReportImplementations& operator=(const ReportImplementations&) = delete;

 private:
  std::string* previous_;
};

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
