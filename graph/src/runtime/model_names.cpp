// The names a model file gives its graphs, inputs and outputs (graph/FORMAT.md, "Names"): safe
// identifiers, so that a tool may use one as a file name (doppel-run --output-dir) or a URL
// segment without it escaping its folder.
#include <string_view>

#include "doppel/runtime/model.h"

namespace doppel::runtime {

namespace {

bool is_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_name_char(char c) { return is_letter(c) || (c >= '0' && c <= '9') || c == '.' || c == ':' || c == '-'; }

}  // namespace

bool is_safe_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes || !is_letter(name[0])) return false;
  for (const char c : name)
    if (!is_name_char(c)) return false;
  return name.find("..") == std::string_view::npos;
}

}  // namespace doppel::runtime
