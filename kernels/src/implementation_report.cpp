#include "doppel/kernels/implementation_report.h"

namespace doppel {

std::string*& implementation_sink() {
  static thread_local std::string* sink = nullptr;
  return sink;
}

}  // namespace doppel
