// oneDNN kernels that keep a primitive's arguments across calls (onednn_common.h's BoundArgs:
// memory objects made on the first call, re-pointed at each later call's buffers): blocked_conv2d
// (the small CNN's two batch-1 convolutions, a nChw16c one without bias, one with a residual) and
// from_blocked, called again and again on new buffers, equal the reference kernels; two threads
// calling the same primitives at once get the bits one thread gets.
#include <catch2/catch_test_macros.hpp>
#include <cstring>
#include <thread>

#include "doppel/dispatch.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

using Tensors = std::vector<Tensor>;

// One kernel call: the op, its inputs but the first (weights, bias, residual), its attributes and
// how to make the first input from a seed.
struct Call {
  const char* name;
  OpId op;
  std::function<Tensor(uint64_t)> input;
  Tensors rest;
  Attrs attrs;
  Tolerance tol;
};

Attrs conv_attrs(int64_t block, FusedActivation act) {
  return BlockedConv2dAttrs{.stride = {1, 1},
                            .padding = {1, 1},
                            .dilation = {1, 1},
                            .activation = int64_t(act),
                            .alpha = 0,
                            .beta = 0,
                            .block = block}
      .pack();
}

Tensor blocked(const Tensor& x, int64_t block) {
  return dispatch1(OpId::to_blocked, {x}, ToBlockedAttrs{.block = block}.pack());
}

std::vector<Call> calls() {
  const Tolerance conv{2e-4, 2e-4};
  const Tensor residual = blocked(make_input({1, 16, 7, 7}, DType::Float32, 5), 16);
  return {{"first convolution: 1 -> 32 channels, plain input, channels-last output",
           OpId::blocked_conv2d,
           [](uint64_t s) {
             return make_input({1, 1, 28, 28}, DType::Float32, s);
           },
           {make_input({32, 1, 3, 3}, DType::Float32, 1), make_input({32}, DType::Float32, 2)},
           conv_attrs(32, FusedActivation::relu),
           conv},
          {"second convolution: 32 -> 64 channels, channels-last",
           OpId::blocked_conv2d,
           [](uint64_t s) {
             return blocked(make_input({1, 32, 14, 14}, DType::Float32, s), 32);
           },
           {make_input({64, 32, 3, 3}, DType::Float32, 3, -0.2, 0.2), make_input({64}, DType::Float32, 4)},
           conv_attrs(64, FusedActivation::relu),
           conv},
          {"nChw16c, no bias, a residual",
           OpId::blocked_conv2d,
           [](uint64_t s) {
             return blocked(make_input({1, 32, 7, 7}, DType::Float32, s), 16);
           },
           {make_input({16, 32, 3, 3}, DType::Float32, 6, -0.2, 0.2), Tensor(), residual},
           conv_attrs(16, FusedActivation::none),
           conv},
          {"from_blocked of channels-last 64",
           OpId::from_blocked,
           [](uint64_t s) {
             return blocked(make_input({1, 64, 7, 7}, DType::Float32, s), 64);
           },
           {},
           FromBlockedAttrs{.channels = 64}.pack(),
           {0, 0}}};
}

Tensor run_on(const Call& c, const Tensor& x) {
  Tensors in{x};
  in.insert(in.end(), c.rest.begin(), c.rest.end());
  return dispatch1(c.op, in, c.attrs);
}

Tensor reference_of(const Call& c, const Tensor& x, const Tensor& like) {
  Tensors in{x};
  in.insert(in.end(), c.rest.begin(), c.rest.end());
  const Tensor y = make_tensor(like.shape(), like.dtype());
  const Tensor outs[1] = {y};
  kernel_for(c.op, Backend::Reference).run(OpCall{c.op, in, c.attrs}, std::span<const Tensor>(outs, 1));
  return y;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), size_t(a.nbytes())) == 0;
}

TEST_CASE("oneDNN bound arguments: repeated calls on new buffers equal the reference kernel",
          "[ops][layout][bound_args]") {
  for (const Call& c : calls()) {
    INFO(c.name);
    // Every output stays alive, so that each call writes a buffer of its own; the inputs differ.
    Tensors outs;
    for (uint64_t s = 10; s < 16; ++s) {
      const Tensor x = c.input(s);
      outs.push_back(run_on(c, x));
      CHECK(last_selected_backend() == Backend::OneDNN);
      DOPPEL_REQUIRE_CLOSE(outs.back(), reference_of(c, x, outs.back()), c.tol);
    }
    // The same input again into a buffer a later call wrote: the same bits as its first call.
    CHECK(same_bits(run_on(c, c.input(10)), outs.front()));
  }
}

TEST_CASE("oneDNN bound arguments: two threads calling the same primitives get one thread's bits",
          "[ops][layout][bound_args]") {
  const std::vector<Call> cs = calls();
  constexpr int kThreads = 2, kRuns = 20;
  // inputs[t][r]: thread t's r-th input, for call r % cs.size().
  std::vector<Tensors> inputs(kThreads), serial(kThreads), parallel(kThreads);
  for (int t = 0; t < kThreads; ++t)
    for (int r = 0; r < kRuns; ++r) {
      const Call& c = cs[size_t(r) % cs.size()];
      inputs[size_t(t)].push_back(c.input(uint64_t(100 * t + r)));
      serial[size_t(t)].push_back(run_on(c, inputs[size_t(t)].back()));
    }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRuns; ++r)
        parallel[size_t(t)].push_back(run_on(cs[size_t(r) % cs.size()], inputs[size_t(t)][size_t(r)]));
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t)
    for (int r = 0; r < kRuns; ++r) {
      INFO("thread " << t << ", run " << r << ": " << cs[size_t(r) % cs.size()].name);
      CHECK(same_bits(parallel[size_t(t)][size_t(r)], serial[size_t(t)][size_t(r)]));
    }
}

}  // namespace
}  // namespace doppel::testing
