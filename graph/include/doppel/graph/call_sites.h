#pragma once
// Node call sites ("file:line", recorded at trace time for error messages) as exported files
// store them: model files (ExportOptions::call_sites) and ONNX files (OnnxOptions::call_sites,
// the nodes' doc_string). By default never an absolute path of the exporting machine.
#include <string>

namespace doppel::graph {

enum class CallSites {
  // A path under the current working directory (the project, as a build or a script runs
  // from it) relative to it; any other absolute path, or a relative one climbing out with
  // "..", as its file name alone. "/home/me/proj/nets/mlp.py:12" exported from /home/me/proj
  // becomes "nets/mlp.py:12"; "/usr/lib/python3/site.py:7" becomes "site.py:7".
  Relative,
  Full,   // as traced
  Strip,  // none at all (empty)
};

// `where` as `mode` stores it.
std::string stored_call_site(const std::string& where, CallSites mode);

}  // namespace doppel::graph
