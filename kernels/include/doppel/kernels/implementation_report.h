#pragma once
// How a kernel tells the profiler which implementation ran (oneDNN's "brgconv:avx512_core" or
// "ref:any", ...). The profiler points this thread's sink at the event it is recording; kernels
// call report_implementation() for each primitive they execute. Off (no sink), a report costs
// one thread-local load.
#include <string>
#include <string_view>

namespace doppel {

// This thread's sink: the string reports are appended to, or null when nobody listens.
std::string*& implementation_sink();

// Appends `name` to the sink (separated by " + " from earlier reports of the same op).
inline void report_implementation(std::string_view name) {
  std::string* sink = implementation_sink();
  if (!sink) [[likely]]
    return;
  if (!sink->empty()) sink->append(" + ");
  sink->append(name);
}

}  // namespace doppel
