#pragma once
// What doppel-run and doppel-serve share: argument helpers with usage errors (exit status 2),
// the bridge from the runtime's Model to the server's ServedModel, and signature printing.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "doppel/runtime/model.h"
#include "doppel/serve/server.h"

namespace doppel::serve {

// A command-line mistake: the tools print it with the usage line and exit with status 2.
class UsageError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The value of `flag` at argv[i + 1] (advancing i), or UsageError when it is missing.
std::string flag_value(int argc, char** argv, int& i);
// A whole decimal number in [min, max], or UsageError naming `flag`.
int64_t parse_int_flag(std::string_view flag, std::string_view text, int64_t min, int64_t max);

// Loads the model file into private memory (not a mapping of the file): what doppel-serve
// serves, so that a model file truncated, overwritten or deleted while the server runs changes
// nothing (a mapping would SIGBUS or change answers). FormatError names the file; a path that is
// not a regular file (a FIFO, a device) is a ValueError, refused without reading it.
runtime::Model load_model_copy(const std::string& path, const std::string& graph,
                               const runtime::LoadOptions& options = {});

// The server's view of a loaded model; `run` calls Model::run (thread-safe).
ServedModel served_model(std::shared_ptr<const runtime::Model> model, std::string name);

// What doppel-serve serves from a file: load_model_copy's graph `graph`, and for a decoder file
// (models::export_decoder: the default "inference" graph is its prefill, and it has a "decode"
// graph) also `generate`, greedy generation by runtime::Generator.
ServedModel load_served_model(const std::string& path, const std::string& graph, const runtime::LoadOptions& options,
                              std::string name);

// The signature (one line per tensor) and the metadata, as doppel-run --signature prints them.
std::string describe_model(const runtime::Model& model);

// Runs `f`, mapping exceptions to the tools' exit statuses: UsageError 2 (with `usage`),
// doppel errors and other exceptions 1, each printed as "<tool>: <message>" on stderr.
int run_tool(std::string_view tool, std::string_view usage, int (*f)(int, char**), int argc, char** argv);

}  // namespace doppel::serve
