#include "doppel/graph/call_sites.h"

#include <filesystem>

namespace doppel::graph {

std::string stored_call_site(const std::string& where, CallSites mode) {
  if (mode == CallSites::Strip) return {};
  const size_t colon = where.rfind(':');
  if (mode == CallSites::Full || colon == std::string::npos) return where;
  const std::filesystem::path file = where.substr(0, colon);
  std::error_code ec;
  const std::filesystem::path cwd = std::filesystem::current_path(ec);
  const std::filesystem::path rel = file.is_absolute() ? file.lexically_relative(cwd) : file;
  const bool inside = !ec && !rel.empty() && *rel.begin() != "..";
  return (inside ? rel : file.filename()).string() + where.substr(colon);
}

}  // namespace doppel::graph
