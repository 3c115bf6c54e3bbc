// Winograd F(2×2, 3×3) and F(4×4, 3×3) (kernels/cpu/onednn/winograd_conv.h) against oneDNN's direct
// convolution at ResNet-18's 3×3 stride-1 convolutions (64@56², 128@28², 256@14², 512@7², pad 1,
// bias + ReLU, channels-last float32, batch B), interleaved call by call in one process. The direct
// convolution is what blocked_conv2d runs without Winograd: forward_inference, weights prepacked in
// the layout oneDNN picks (`any`), a ReLU post-op.
// The small CNN's second convolution (32->64@14²) follows.
//   winograd_conv_bench THREADS REPS [BATCH=8] [CHUNKS=0,...] [SHAPES=CIN:COUT:HW,...]
// Prints per shape the median process CPU ms per call of each way, its ratio to the direct
// convolution, and the largest difference from it relative to the output's largest magnitude.
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "cpu/onednn/winograd_conv.h"
#include "doppel/kernels/parallel.h"

namespace {

using dnnl::memory;
using doppel::onednn::WinogradConv;
using doppel::onednn::WinogradGeometry;

struct Way {
  std::string name;
  std::function<void()> run;
  std::vector<float>* out;
  std::vector<double> cpu;
};

void bench_shape(int64_t batch, int64_t cin, int64_t c, int64_t hw, int reps, const std::vector<int64_t>& chunks) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  std::mt19937 gen(7);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(size_t(batch * hw * hw * cin)), w(size_t(c * cin * 9)), bias(static_cast<size_t>(c));
  for (float& v : x) v = nd(gen);
  for (float& v : w) v = nd(gen) / std::sqrt(float(9 * cin));
  for (float& v : bias) v = 0.1f * nd(gen);

  const memory::desc xd({batch, cin, hw, hw}, memory::data_type::f32, memory::format_tag::nhwc);
  const memory::desc yd({batch, c, hw, hw}, memory::data_type::f32, memory::format_tag::nhwc);
  const memory::desc wd({c, cin, 3, 3}, memory::data_type::f32, memory::format_tag::oihw);
  const memory::desc bd({c}, memory::data_type::f32, memory::format_tag::a);
  const memory::desc w_any({c, cin, 3, 3}, memory::data_type::f32, memory::format_tag::any);
  dnnl::post_ops po;
  po.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  dnnl::convolution_forward::primitive_desc pd(eng, dnnl::prop_kind::forward_inference,
                                               dnnl::algorithm::convolution_direct, xd, w_any, bd, yd, {1, 1}, {0, 0},
                                               {1, 1}, {1, 1}, attr);
  dnnl::convolution_forward conv(pd);
  memory xm(xd, eng, x.data()), wm(pd.weights_desc(), eng), bm(bd, eng, bias.data());
  memory w_user(wd, eng, w.data());
  dnnl::reorder(w_user, wm).execute(s, w_user, wm);
  std::vector<float> direct_out(size_t(batch * hw * hw * c));
  memory ym(yd, eng, direct_out.data());

  doppel::Tensor wt = doppel::make_tensor({c, cin, 3, 3}, doppel::DType::Float32, doppel::kCPU);
  std::copy(w.begin(), w.end(), wt.data_ptr<float>());
  const WinogradGeometry g{batch, cin, c, hw, hw, hw, hw, 1, 1};

  std::vector<Way> ways;
  ways.push_back(
      {std::string("direct ") + pd.impl_info_str(),
       [&] {
         conv.execute(s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, ym}});
         s.wait();
       },
       &direct_out,
       {}});
  std::vector<std::unique_ptr<WinogradConv>> plans;
  std::vector<std::vector<float>> outs;
  outs.reserve(8);
  for (int m : {2, 4})
    for (int64_t chunk : chunks) {
      auto plan = WinogradConv::make(g, m, true, chunk);
      if (!plan) continue;
      outs.emplace_back(direct_out.size());
      std::vector<float>* out = &outs.back();
      WinogradConv* p = plan.get();
      plans.push_back(std::move(plan));
      std::ostringstream name;
      name << "F(" << m << "x" << m << ",3x3) chunk " << (chunk ? std::to_string(chunk) : "auto");
      ways.push_back(
          {name.str(), [=, &x, &wt, &bias] { p->run(x.data(), wt, true, bias.data(), false, out->data()); }, out, {}});
    }
  for (Way& way : ways) way.run(), way.run(), way.run();  // warm: weights transformed and cached
  for (int r = 0; r < reps; ++r)
    for (Way& way : ways) {
      const double c0 = bench::process_cpu_ms();
      way.run();
      way.cpu.push_back(bench::process_cpu_ms() - c0);
    }
  const double base = bench::median(ways[0].cpu);
  double scale = 0;
  for (float v : direct_out) scale = std::max(scale, double(std::fabs(v)));
  for (Way& way : ways) {
    double err = 0;
    for (size_t i = 0; i < direct_out.size(); ++i)
      err = std::max(err, std::fabs(double((*way.out)[i]) - direct_out[i]));
    std::printf("B=%lld %3lld->%3lld@%-3lld %-34s %9.3f ms  %5.2fx  max|diff|/max|y| %.2e\n", (long long)batch,
                (long long)cin, (long long)c, (long long)hw, way.name.c_str(), bench::median(way.cpu),
                bench::median(way.cpu) / base, err / scale);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s THREADS REPS [BATCH=8] [CHUNKS=0,...] [SHAPES=CIN:COUT:HW,...]\n", argv[0]);
    return 2;
  }
  const int threads = std::atoi(argv[1]), reps = std::atoi(argv[2]);
  const int64_t batch = argc > 3 ? std::atoll(argv[3]) : 8;
  std::vector<int64_t> chunks;
  std::stringstream list(argc > 4 ? argv[4] : "0");
  for (std::string item; std::getline(list, item, ',');) chunks.push_back(std::atoll(item.c_str()));
  doppel::set_num_threads(threads);
  std::stringstream shapes(argc > 5 ? argv[5] : "64:64:56,128:128:28,256:256:14,512:512:7,32:64:14");
  for (std::string item; std::getline(shapes, item, ',');) {
    int64_t cin = 0, cout = 0, hw = 0;
    if (std::sscanf(item.c_str(), "%lld:%lld:%lld", (long long*)&cin, (long long*)&cout, (long long*)&hw) != 3)
      return 2;
    bench_shape(batch, cin, cout, hw, reps, chunks);
  }
  return 0;
}
