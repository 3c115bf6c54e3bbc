// io::AtomicFileWriter: a streamed save lands atomically, and the temporaries that killed saves
// left beside a target are removed by the next save of that target — only those whose writer
// is gone: a temporary of a running process (or of this one) stays.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>

#include "doppel/graph/compile.h"
#include "doppel/graph/export.h"
#include "doppel/io/atomic_file.h"
#include "doppel/io/safetensors.h"
#include "doppel/nn/nn.h"
#include "doppel/runtime/model.h"
#include "support/temp_dir.h"
#include "support/test_util.h"

namespace doppel {
namespace {

namespace fs = std::filesystem;

// A pid that belonged to a process which has exited (and been reaped).
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

using testing::TempDir;

void touch(const fs::path& p) { std::ofstream(p) << "partial"; }

TEST_CASE("atomic file: a save removes its target's temporaries whose writer is gone, and only those",
          "[checkpoint][atomic]") {
  TempDir dir;
  const fs::path target = dir.path / "ckpt.safetensors";
  const fs::path stale = fs::path(target.string() + ".tmp." + std::to_string(dead_pid()) + ".3");
  const fs::path stale_old_form = fs::path(target.string() + ".tmp." + std::to_string(dead_pid()));
  const fs::path running = fs::path(target.string() + ".tmp." + std::to_string(::getppid()) + ".0");
  const fs::path ours = fs::path(target.string() + ".tmp." + std::to_string(::getpid()) + ".99");
  const fs::path other_target =
      fs::path((dir.path / "other.safetensors").string() + ".tmp." + std::to_string(dead_pid()) + ".0");
  const fs::path not_a_temporary = fs::path(target.string() + ".tmp.notes");
  for (const auto& p : {stale, stale_old_form, running, ours, other_target, not_a_temporary}) touch(p);

  io::save_safetensors(target.string(), {{"w", testing::make_input({4}, DType::Float32, 1)}});
  CHECK(fs::exists(target));
  CHECK_FALSE(fs::exists(stale));
  CHECK_FALSE(fs::exists(stale_old_form));  // the model writer's former "<path>.tmp.<pid>"
  CHECK(fs::exists(running));               // another process, still running: its save may be in flight
  CHECK(fs::exists(ours));                  // this process: another thread's save may be in flight
  CHECK(fs::exists(other_target));          // a temporary of another file
  CHECK(fs::exists(not_a_temporary));       // not of the <pid>.<n> form
  CHECK(io::remove_stale_temporaries(target.string()) == 0);
}

TEST_CASE("atomic file: model files clean up stale temporaries too", "[export][atomic]") {
  TempDir dir;
  const fs::path target = dir.path / "model.dpl";
  const fs::path stale = fs::path(target.string() + ".tmp." + std::to_string(dead_pid()) + ".0");
  touch(stale);
  manual_seed(3);
  auto lin = std::make_shared<nn::Linear>(3, 2);
  lin->eval();
  CompiledFunction f = compile([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{lin->forward(in[0])}; });
  export_model(f, {testing::make_input({2, 3}, DType::Float32, 1)}, target.string());
  CHECK_FALSE(fs::exists(stale));
  touch(stale);
  runtime::Model::load(target.string()).save(target.string());
  CHECK_FALSE(fs::exists(stale));
  CHECK(runtime::Model::load(target.string()).signature().inputs.size() == 1);
}

TEST_CASE("atomic file: an existing file at the temporary's name is never written through", "[atomic]") {
  TempDir dir;
  const fs::path target = dir.path / "t.bin";
  // Plant a symlink at every name this process's next few temporaries could take.
  const fs::path victim = dir.path / "victim";
  touch(victim);
  std::string first;
  {
    io::AtomicFileWriter probe(target.string());
    first = probe.temporary_path();
  }
  const std::string stem = first.substr(0, first.rfind('.') + 1);
  const uint64_t next = std::stoull(first.substr(first.rfind('.') + 1)) + 1;
  for (uint64_t k = next; k < next + 5; ++k) fs::create_symlink(victim, stem + std::to_string(k));
  io::detail::write_file_atomically(target.string(), "payload");
  std::ifstream v(victim);
  CHECK(std::string((std::istreambuf_iterator<char>(v)), std::istreambuf_iterator<char>()) == "partial");
  std::ifstream t(target);
  CHECK(std::string((std::istreambuf_iterator<char>(t)), std::istreambuf_iterator<char>()) == "payload");
}

TEST_CASE("atomic file: the writer streams pieces and leaves nothing behind when not committed", "[atomic]") {
  TempDir dir;
  const fs::path target = dir.path / "f.bin";
  {
    io::AtomicFileWriter w(target.string());
    w.write(std::string_view("abc"));
    w.write(std::string_view("def"));
    CHECK(w.bytes_written() == 6);
    CHECK(fs::exists(w.temporary_path()));
    CHECK_FALSE(fs::exists(target));
    w.commit();
  }
  std::ifstream in(target);
  CHECK(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()) == "abcdef");
  std::string tmp;
  {
    io::AtomicFileWriter w(target.string());
    w.write(std::string_view("xyz"));
    tmp = w.temporary_path();
  }  // an exception between write and commit ends here
  CHECK_FALSE(fs::exists(tmp));
  CHECK(fs::file_size(target) == 6);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

}  // namespace
}  // namespace doppel
