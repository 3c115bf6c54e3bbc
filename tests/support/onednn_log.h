#pragma once
// oneDNN's own log of the primitives it creates and runs (its verbose output, level 2), read back
// from stdout: what a kernel asked oneDNN for, which doppel's reports do not name (a primitive
// made but never run, an operand's layout).
#include <unistd.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "support/test_util.h"

namespace doppel::testing {

// The lines oneDNN's verbose log writes while f runs.
inline std::vector<std::string> onednn_log(const std::function<void()>& f) {
  std::FILE* log = std::tmpfile();
  REQUIRE(log != nullptr);
  std::fflush(stdout);
  const int saved = dup(1);
  REQUIRE(dup2(fileno(log), 1) == 1);
  dnnl::set_verbose(2);
  f();
  dnnl::set_verbose(0);
  std::fflush(stdout);
  dup2(saved, 1);
  close(saved);
  std::rewind(log);
  std::vector<std::string> lines;
  for (char line[4096]; std::fgets(line, sizeof line, log);) lines.emplace_back(line);
  std::fclose(log);
  return lines;
}

}  // namespace doppel::testing
