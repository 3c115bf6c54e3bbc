// SVG pictures of a graph: its DOT (printer.cpp) laid out and rendered by Graphviz's libgvc,
// in memory. A build configured without libgvc (Debian libgraphviz-dev; tools/setup.sh installs
// it) still has the function: it throws, saying what to install.
#include <fmt/format.h>

#include <mutex>

#include "doppel/core/error.h"
#include "doppel/graph/ir.h"

#if DOPPEL_HAVE_GVC
#include <graphviz/gvc.h>
#endif

namespace doppel::graph {

std::string dot_to_svg(const std::string& dot) {
#if DOPPEL_HAVE_GVC
  // libgvc's context and layout state are not thread-safe: one picture at a time.
  static std::mutex mu;
  std::lock_guard lock(mu);
  static GVC_t* const gvc = gvContext();
  static std::string messages;  // Graphviz's error messages, for the exception (not stderr)
  messages.clear();
  agseterrf([](char* text) {
    messages += text;
    return 0;
  });
  Agraph_t* g = agmemread(dot.c_str());
  DOPPEL_CHECK(g != nullptr, "to_svg: Graphviz could not parse the DOT text ({} bytes): {}", dot.size(), messages);
  std::string svg;
  if (gvLayout(gvc, g, "dot") == 0) {
    char* data = nullptr;
    unsigned int len = 0;
    if (gvRenderData(gvc, g, "svg", &data, &len) == 0 && data) svg.assign(data, len);
    gvFreeRenderData(data);
    gvFreeLayout(gvc, g);
  }
  agclose(g);
  DOPPEL_CHECK(!svg.empty(),
               "to_svg: Graphviz could not lay out or render the graph as SVG (are its 'dot' layout and 'svg' "
               "render plugins installed? Debian package 'graphviz')");
  return svg;
#else
  (void)dot;
  throw ValueError(
      "to_svg: this doppel was built without Graphviz (libgvc); install it (Debian: apt-get install "
      "libgraphviz-dev graphviz, or tools/setup.sh), reconfigure and rebuild; to_dot() gives the DOT text meanwhile");
#endif
}

std::string to_svg(const Graph& g) { return dot_to_svg(to_dot(g)); }

}  // namespace doppel::graph
