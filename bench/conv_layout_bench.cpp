// The float32 convolution layouts the layout pass chooses between (graph/src/passes/
// layout_propagation.cpp), per convolution shape of the benchmark models (the small CNN of
// doppel_models.h, ResNet-18 at 224x224): blocked_conv2d (bias + relu) reading and writing
// nChw<b>c (b: the CPU's block, 16 with AVX-512, 8 with AVX2) against reading and writing
// channels-last ([N, 1, H, W, C], oneDNN's nhwc), the two calls interleaved (A B A B ...) in one process, medians of
// wall and process CPU time.
//   conv_layout_bench THREADS REPS [BATCH...]    (default batches 1 8 64; `pools`: the max pools only)
// Prints one line per shape and batch: nChw<b>c ms, channels-last ms, their ratio (> 1: channels-
// last faster), then each model's sum; then the models' max pools (blocked_max_pool2d) the same
// way, in float32, bf16 and int8.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "bench_util.h"
#include "doppel/dispatch.h"
#include "doppel/doppel.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/kernels/op_attrs/layout.h"

namespace {

using namespace doppel;

struct Shape2d {
  const char* model;
  const char* name;
  int64_t cin, hw, cout, k, stride, pad;
  int count;  // how many convolutions of the model have this shape
};

double process_cpu_s() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

double wall_s() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// The blocked_conv2d call of one layout: input blocked in `in_block` (0: plain), output in `out_block`.
struct Call {
  std::vector<Tensor> inputs;
  Attrs attrs;
  OpId op = OpId::blocked_conv2d;
  void run() const { dispatch1(op, inputs, attrs); }
};

// Times a and b interleaved; returns the medians {a CPU, a wall, b CPU, b wall} in ms.
std::vector<double> time_pair(const Call& a, const Call& b, int reps) {
  for (int w = 0; w < 3; ++w) a.run(), b.run();
  std::vector<double> t[4];
  for (int r = 0; r < reps; ++r)
    for (int side = 0; side < 2; ++side) {
      const double w0 = wall_s(), c0 = process_cpu_s();
      (side == 0 ? a : b).run();
      t[2 * side].push_back(1e3 * (process_cpu_s() - c0));
      t[2 * side + 1].push_back(1e3 * (wall_s() - w0));
    }
  return {bench::median(t[0]), bench::median(t[1]), bench::median(t[2]), bench::median(t[3])};
}

struct Pool {
  const char* name;
  int64_t c, hw, k, stride, pad;
};

// blocked_max_pool2d of [n, c, hw, hw] in blocks of `block`.
Call make_pool(const Pool& p, int64_t n, int64_t block, DType dt) {
  const Tensor x = randn({n, p.c, p.hw, p.hw}).to(dt);
  return {{dispatch1(OpId::to_blocked, {x}, ToBlockedAttrs{.block = block}.pack())},
          MaxPoolAttrs{.kernel_size = {p.k, p.k},
                       .stride = {p.stride, p.stride},
                       .padding = {p.pad, p.pad},
                       .dilation = {1, 1},
                       .ceil_mode = false}
              .pack(),
          OpId::blocked_max_pool2d};
}

Call make_call(const Shape2d& s, int64_t n, int64_t in_block, int64_t out_block) {
  const Tensor x = randn({n, s.cin, s.hw, s.hw}), w = randn({s.cout, s.cin, s.k, s.k}), b = randn({s.cout});
  const Tensor xin = in_block ? dispatch1(OpId::to_blocked, {x}, ToBlockedAttrs{.block = in_block}.pack()) : x;
  return {{xin, w, b},
          BlockedConv2dAttrs{.stride = {s.stride, s.stride},
                             .padding = {s.pad, s.pad},
                             .dilation = {1, 1},
                             .activation = int64_t(FusedActivation::relu),
                             .alpha = 0,
                             .beta = 0,
                             .block = out_block}
              .pack()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s THREADS REPS [BATCH...] [pools]\n", argv[0]);
    return 2;
  }
  set_num_threads(std::atoi(argv[1]));
  const int reps = std::atoi(argv[2]);
  std::vector<int64_t> batches;
  bool pools_only = false;  // a BATCH argument `pools`: only the max pools
  for (int a = 3; a < argc; ++a) {
    if (std::string(argv[a]) == "pools")
      pools_only = true;
    else
      batches.push_back(std::atoll(argv[a]));
  }
  if (batches.empty()) batches = {1, 8, 64};
  const std::vector<Shape2d> shapes = {
      {"cnn", "conv1 1->32 3x3 28", 1, 28, 32, 3, 1, 1, 1},
      {"cnn", "conv2 32->64 3x3 14", 32, 14, 64, 3, 1, 1, 1},
      {"resnet18", "stem 3->64 7x7 s2 224", 3, 224, 64, 7, 2, 3, 1},
      {"resnet18", "l1 64->64 3x3 56", 64, 56, 64, 3, 1, 1, 4},
      {"resnet18", "l2 64->128 3x3 s2 56", 64, 56, 128, 3, 2, 1, 1},
      {"resnet18", "l2 down 64->128 1x1 s2 56", 64, 56, 128, 1, 2, 0, 1},
      {"resnet18", "l2 128->128 3x3 28", 128, 28, 128, 3, 1, 1, 3},
      {"resnet18", "l3 128->256 3x3 s2 28", 128, 28, 256, 3, 2, 1, 1},
      {"resnet18", "l3 down 128->256 1x1 s2 28", 128, 28, 256, 1, 2, 0, 1},
      {"resnet18", "l3 256->256 3x3 14", 256, 14, 256, 3, 1, 1, 3},
      {"resnet18", "l4 256->512 3x3 s2 14", 256, 14, 512, 3, 2, 1, 1},
      {"resnet18", "l4 down 256->512 1x1 s2 14", 256, 14, 512, 1, 2, 0, 1},
      {"resnet18", "l4 512->512 3x3 7", 512, 7, 512, 3, 1, 1, 3},
  };
  const int64_t blk = onednn_channel_block();
  for (const int64_t n : batches) {
    std::map<std::string, double[2]> sums;
    for (const Shape2d& s : shapes) {
      if (pools_only || (std::string(s.model) == "resnet18" && n > 8)) continue;  // ResNet rows at B = 1 and 8
      // nChw<b>c: an input with fewer than b channels is read plain (as the pass does);
      // channels-last: the first layer (1-3 channels) reads its input plain too.
      const Call a = make_call(s, n, s.cin < blk ? 0 : blk, blk);
      const Call b = make_call(s, n, s.cin <= 3 ? 0 : s.cin, s.cout);
      const std::vector<double> t = time_pair(a, b, reps);
      std::printf("B=%-3lld %-30s nChw%lldc %8.3f ms (wall %8.3f)  channels-last %8.3f ms (wall %8.3f)  b/cl %.2f\n",
                  static_cast<long long>(n), s.name, static_cast<long long>(blk), t[0], t[1], t[2], t[3], t[0] / t[2]);
      sums[s.model][0] += s.count * t[0];
      sums[s.model][1] += s.count * t[2];
    }
    const Pool pools[] = {{"cnn pool1 32ch 28 2x2", 32, 28, 2, 2, 0},
                          {"cnn pool2 64ch 14 2x2", 64, 14, 2, 2, 0},
                          {"resnet18 pool 64ch 112 3x3 s2", 64, 112, 3, 2, 1}};
    for (const Pool& p : pools)
      for (const DType dt : {DType::Float32, DType::BFloat16, DType::Int8}) {
        if (p.hw > 28 && n > 8) continue;
        const std::vector<double> t = time_pair(make_pool(p, n, blk, dt), make_pool(p, n, p.c, dt), reps);
        std::printf(
            "B=%-3lld %-22s %-8s nChw%lldc %8.3f ms (wall %8.3f)  channels-last %8.3f ms (wall %8.3f)  b/cl %.2f\n",
            static_cast<long long>(n), p.name, std::string(dtype_name(dt)).c_str(), static_cast<long long>(blk), t[0],
            t[1], t[2], t[3], t[0] / t[2]);
      }
    for (const auto& [model, t] : sums)
      std::printf("B=%-3lld %-30s nChw%lldc %8.3f ms  channels-last %8.3f ms  b/cl %.2f (CPU ms, x count)\n",
                  static_cast<long long>(n), (model + " sum").c_str(), static_cast<long long>(blk), t[0], t[1],
                  t[0] / t[1]);
    std::fflush(stdout);
  }
  return 0;
}
