// Node call sites as exported files store them (graph/call_sites.h): relative to the working
// directory when under it, else the file name alone; "full" keeps them, "strip" drops them.
#include <catch2/catch_test_macros.hpp>
#include <filesystem>

#include "doppel/graph/call_sites.h"

namespace doppel {
namespace {

using graph::CallSites;
using graph::stored_call_site;

TEST_CASE("call sites: relative to the working directory, else the file name only", "[export]") {
  const std::string cwd = std::filesystem::current_path().string();
  CHECK(stored_call_site(cwd + "/nets/mlp.py:12", CallSites::Relative) == "nets/mlp.py:12");
  CHECK(stored_call_site("/usr/lib/python3/site-packages/x/model.py:7", CallSites::Relative) == "model.py:7");
  CHECK(stored_call_site("../../tests/graph/test_x.cpp:40", CallSites::Relative) == "test_x.cpp:40");
  CHECK(stored_call_site("src/model.cpp:3", CallSites::Relative) == "src/model.cpp:3");
  CHECK(stored_call_site("an unknown call site", CallSites::Relative) == "an unknown call site");
  CHECK(stored_call_site("<stdin>:1", CallSites::Relative) == "<stdin>:1");
  CHECK(stored_call_site("/abs/model.py:12", CallSites::Full) == "/abs/model.py:12");
  CHECK(stored_call_site("/abs/model.py:12", CallSites::Strip).empty());
}

}  // namespace
}  // namespace doppel
