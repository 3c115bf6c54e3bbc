// ScratchArena (core/scratch.h): the executor lends each kernel call the arena bytes no value
// lives in during that call; temporaries that fit come from there, the rest from the arena's own
// chunks, a reset ends the loan, and a lent temporary that outlives its call is an internal error
// (the next kernels overwrite those bytes).
#include <catch2/catch_test_macros.hpp>

#include <cstdint>
#include <vector>

#include "doppel/core/error.h"
#include "doppel/core/scratch.h"
#include "doppel/core/tensor.h"

namespace doppel {
namespace {

bool inside(const void* p, const std::vector<char>& region) {
  return static_cast<const char*>(p) >= region.data() && static_cast<const char*>(p) < region.data() + region.size();
}

TEST_CASE("scratch arena: lent bytes serve the temporaries that fit, until the reset", "[core][scratch]") {
  ScratchArena arena;
  alignas(64) static char storage[4096];
  std::vector<char> region(storage, storage + sizeof storage);
  arena.lend(region.data(), region.size());
  void* a = arena.take(1000);
  void* b = arena.take(2000);
  void* c = arena.take(4000);  // does not fit what is left: from the arena's own memory
  CHECK(inside(a, region));
  CHECK(inside(b, region));
  CHECK_FALSE(inside(c, region));
  CHECK(static_cast<char*>(b) >= static_cast<char*>(a) + 1000);
  for (void* p : {a, b, c}) arena.give_back(p);
  REQUIRE(arena.reset());
  void* d = arena.take(100);  // the loan ended with the reset
  CHECK_FALSE(inside(d, region));
  arena.give_back(d);
  CHECK(arena.reset());
}

TEST_CASE("scratch arena: taken() counts the aligned bytes handed out since the reset, lent or not",
          "[core][scratch]") {
  ScratchArena arena;
  alignas(64) static char storage[1024];
  CHECK(arena.taken() == 0);
  arena.lend(storage, sizeof storage);
  void* a = arena.take(100);   // lent: 128 bytes
  void* b = arena.take(2000);  // its own memory: 2048 bytes
  CHECK(arena.taken() == 128 + 2048);
  arena.give_back(a);
  arena.give_back(b);
  CHECK(arena.taken() == 128 + 2048);  // handed out, not alive: the executor reads it before the reset
  CHECK(arena.reset());
  CHECK(arena.taken() == 0);
}

TEST_CASE("scratch arena: a lent temporary outliving its kernel call is an internal error", "[core][scratch]") {
  ScratchArena arena;
  alignas(64) static char storage[1024];
  arena.lend(storage, sizeof storage);
  void* kept = arena.take(64);
  CHECK_THROWS_AS(arena.reset(), InternalError);
  arena.give_back(kept);
  // One from the arena's own chunks may outlive the call: the reset keeps that memory.
  void* own = arena.take(64);
  CHECK_FALSE(arena.reset());
  arena.give_back(own);
  CHECK(arena.reset());
}

TEST_CASE("scratch arena: tensors made under a scope take lent bytes and give them back", "[core][scratch]") {
  ScratchArena arena;
  alignas(64) static char storage[1 << 16];
  std::vector<char> region(storage, storage + sizeof storage);
  {
    ScratchScope scope(&arena);
    arena.lend(region.data(), region.size());
    {
      const Tensor t = make_tensor({16, 16}, DType::Float32, kCPU);
      CHECK(inside(t.raw_data(), region));
    }
    CHECK(arena.reset());
  }
}

}  // namespace
}  // namespace doppel
