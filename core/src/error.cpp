#include "doppel/core/value_read_hook.h"
#include "doppel/core/error.h"

namespace doppel::detail {

CallSite& current_call_site() {
  thread_local CallSite site;
  return site;
}

std::string with_call_site(std::string msg) {
  const CallSite& cs = current_call_site();
  if (cs.file != nullptr) msg += fmt::format(" (called from {}:{})", cs.file, cs.line);
  return msg;
}

ValueReadHook& value_read_hook() {
  static thread_local ValueReadHook hook = nullptr;
  return hook;
}

}  // namespace doppel::detail
