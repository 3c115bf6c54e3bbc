#include "models/hf_fixtures.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>

#include "doppel/serve/npy.h"

namespace doppel::testing {

namespace fs = std::filesystem;

namespace {

std::string make_fixtures() {
  const fs::path source = DOPPEL_SOURCE_DIR;
  const fs::path script = source / "tests/python/hf/make_fixtures.py";
  std::ifstream in(script);
  std::ostringstream text;
  text << in.rdbuf();
  const fs::path dir = source / "build/hf-fixtures" / fmt::format("{:016x}", std::hash<std::string>{}(text.str()));
  if (fs::exists(dir / "versions.json")) return dir.string();
  const char* env = std::getenv("DOPPEL_HF_PYTHON");
  const std::string python = env != nullptr ? env : (source / "build/hf-venv/bin/python").string();
  if (!fs::exists(python))
    throw std::runtime_error(fmt::format("the Hugging Face oracle {} is missing: run tools/setup.sh", python));
  // Made beside the final folder and renamed into place, so concurrent test processes agree.
  const fs::path tmp = dir.string() + fmt::format(".tmp{}", ::getpid());
  fs::create_directories(tmp);
  const std::string cmd =
      fmt::format("'{}' '{}' '{}' > '{}/log.txt' 2>&1", python, script.string(), tmp.string(), tmp.string());
  if (std::system(cmd.c_str()) != 0)
    throw std::runtime_error(fmt::format("the Hugging Face oracle failed: {} (see {}/log.txt)", cmd, tmp.string()));
  std::error_code ec;
  fs::rename(tmp, dir, ec);
  if (ec) fs::remove_all(tmp);  // another process got there first
  return dir.string();
}

}  // namespace

const std::string& hf_fixtures() {
  static const std::string dir = make_fixtures();
  return dir;
}

Tensor hf_ref(const std::string& model, const std::string& name) {
  return serve::load_npy((fs::path(hf_fixtures()) / model / "ref" / (name + ".npy")).string());
}

}  // namespace doppel::testing
