// How a ResNet residual is best added to a float32 convolution: oneDNN alone at ResNet-18's
// residual convolutions (3x3, stride 1, bias + relu, 64@56², 128@28², 256@14², 512@7² at batch
// B), in channels-last (nhwc) and nChw8c (AVX2's block), all ways of both layouts interleaved
// call by call (A B C D ... A B C D ...) in one process:
//   relu        no residual: the convolution alone (the floor)
//   sum         post-ops sum(1) + relu, dst already holding the residual: what blocked_conv2d
//               runs (kernels/cpu/onednn/layout.cpp; the runtime writes the output over the
//               residual's buffer, graph/src/runtime/in_place.cpp, so nothing is copied)
//   sum f32     the same with the sum's data type given (f32) rather than taken from dst
//   binary      post-ops binary_add(residual in its own buffer) + relu
//   plain+add   the convolution without post-ops, then one pass y = max(y + residual, 0)
// then every other implementation oneDNN offers for `sum` with the same layouts
// (primitive_desc::next_impl(); not the reference and SSE4.1 ones, 3-6x slower).
//   conv_residual_bench THREADS REPS [BATCH=8]
// Prints per shape, layout and way the median process CPU ms and wall ms per call, the ratio to
// channels-last `sum` (what doppel runs on AVX2) and the implementation.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_util.h"

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

enum class Way { relu, sum, sum_f32, binary, plain_add };

// The buffers of one layout: input, output, residual.
struct Buffers {
  std::string layout;
  memory x, y, residual;
};

struct Variant {
  std::string name, impl;
  Way way;
  dnnl::convolution_forward prim;
  memory weights;
  const Buffers* buffers;
  std::vector<double> cpu, wall;
};

void fill(const memory& m, float v) {
  auto* p = static_cast<float*>(m.get_data_handle());
  std::fill(p, p + m.get_desc().get_size() / sizeof(float), v);
}

dnnl::primitive_attr attr_of(Way way, const memory::desc& dst) {
  dnnl::post_ops po;
  if (way == Way::sum) po.append_sum(1.f);
  if (way == Way::sum_f32) po.append_sum(1.f, 0, memory::data_type::f32);
  if (way == Way::binary) po.append_binary(dnnl::algorithm::binary_add, dst);
  if (way != Way::plain_add) po.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  attr.set_fpmath_mode(dnnl::fpmath_mode::strict);  // as doppel's convolutions
  return attr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s THREADS REPS [BATCH=8]\n", argv[0]);
    return 2;
  }
  omp_set_num_threads(std::atoi(argv[1]));
  const int reps = std::atoi(argv[2]);
  const int64_t n = argc > 3 ? std::atoll(argv[3]) : 8;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  const int64_t shapes[][2] = {{64, 56}, {128, 28}, {256, 14}, {512, 7}};  // channels, height = width
  const auto wall0 = bench::Clock::now();
  const double cpu0 = bench::process_cpu_ms();
  for (const auto& [c, hw] : shapes) {
    const memory::desc w_any({c, c, 3, 3}, memory::data_type::f32, Tag::any);
    const memory::desc bias_md({c}, memory::data_type::f32, Tag::x);
    memory bias(bias_md, eng);
    fill(bias, 0.5f);
    std::vector<Buffers> buffers;
    buffers.reserve(2);
    std::vector<Variant> vs;
    for (const auto& [tag, layout] : {std::pair{Tag::nhwc, "nhwc"}, std::pair{Tag::nChw8c, "nChw8c"}}) {
      const memory::desc act({n, c, hw, hw}, memory::data_type::f32, tag);
      buffers.push_back({layout, memory(act, eng), memory(act, eng), memory(act, eng)});
      const Buffers& b = buffers.back();
      for (const memory& m : {b.x, b.y, b.residual}) fill(m, 0.5f);
      auto make_pd = [&](Way way) {
        return dnnl::convolution_forward::primitive_desc(eng, dnnl::prop_kind::forward_inference,
                                                         dnnl::algorithm::convolution_direct, act, w_any, bias_md, act,
                                                         {1, 1}, {0, 0}, {1, 1}, {1, 1}, attr_of(way, act));
      };
      auto add = [&](const std::string& name, Way way, const dnnl::convolution_forward::primitive_desc& pd) {
        memory w(pd.weights_desc(), eng);
        fill(w, 1e-3f);
        vs.push_back({name, pd.impl_info_str(), way, dnnl::convolution_forward(pd), w, &b, {}, {}});
      };
      add("relu", Way::relu, make_pd(Way::relu));
      add("sum", Way::sum, make_pd(Way::sum));
      add("sum f32", Way::sum_f32, make_pd(Way::sum_f32));
      add("binary", Way::binary, make_pd(Way::binary));
      add("plain+add", Way::plain_add, make_pd(Way::plain_add));
      for (auto pd = make_pd(Way::sum); pd.next_impl();) {
        const std::string impl = pd.impl_info_str();
        if (pd.src_desc() == act && pd.dst_desc() == act && impl.find("ref") == std::string::npos &&
            impl.find("sse41") == std::string::npos)
          add("sum", Way::sum, pd);
      }
    }
    for (int r = -2; r < reps; ++r)  // two warm-up rounds
      for (Variant& v : vs) {
        const Buffers& b = *v.buffers;
        auto* yp = static_cast<float*>(b.y.get_data_handle());
        const auto* rp = static_cast<const float*>(b.residual.get_data_handle());
        const size_t count = b.y.get_desc().get_size() / sizeof(float);
        const auto w0 = bench::Clock::now();
        const double c0 = bench::process_cpu_ms();
        std::unordered_map<int, memory> args{
            {DNNL_ARG_SRC, b.x}, {DNNL_ARG_WEIGHTS, v.weights}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, b.y}};
        if (v.way == Way::binary) args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, b.residual);
        v.prim.execute(s, args);
        s.wait();
        if (v.way == Way::plain_add) {
#pragma omp parallel for
          for (size_t i = 0; i < count; ++i) yp[i] = std::max(yp[i] + rp[i], 0.f);
        }
        if (r >= 0) {
          v.cpu.push_back(bench::process_cpu_ms() - c0);
          v.wall.push_back(1e3 * bench::seconds_since(w0));
        }
        if (v.way == Way::sum || v.way == Way::sum_f32)
          fill(b.y, 0.5f);  // untimed: the next sum reads a residual again
      }
    const double sum_cpu = bench::median(vs[1].cpu);  // channels-last sum
    for (const Variant& v : vs)
      std::printf("B=%-3lld %3lld@%-3lld %-6s %-10s %-16s %8.3f ms CPU (wall %8.3f)  / nhwc sum %.3f\n",
                  static_cast<long long>(n), static_cast<long long>(c), static_cast<long long>(hw),
                  v.buffers->layout.c_str(), v.name.c_str(), v.impl.c_str(), bench::median(v.cpu),
                  bench::median(v.wall), bench::median(v.cpu) / sum_cpu);
    std::fflush(stdout);
  }
  const double wall = bench::seconds_since(wall0), cpu = bench::process_cpu_ms() - cpu0;
  std::printf("run: wall %.2f s, process CPU %.2f s (%.0f%%)\n", wall, cpu / 1e3, 100 * cpu / 1e3 / wall);
  return 0;
}
