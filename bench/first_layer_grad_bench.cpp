// The weight and bias gradient of first-layer convolutions (fewer than 8 input channels):
// doppel's few-channel kernel (kernels/cpu/onednn/few_channel_weight_grad.h), called through
// blocked_conv2d_backward (the output gradient in the CPU's channel block, as in a training graph)
// and through convolution_backward (plain, as in eager), against oneDNN's weights pass as the
// kernels ran it before: on channels-last operands (the output gradient reordered from the block
// per call), and in the layouts oneDNN picks (`any`). Interleaved call by call in one process.
//   first_layer_grad_bench THREADS REPS [SHAPE...]   (SHAPE: an index into the list below; default all)
// Prints per shape the median process CPU ms per call of each way, its ratio to the blocked call,
// and the largest difference of each way's weight gradient from the blocked call's, relative to
// the largest magnitude.
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "bench_util.h"
#include "doppel/dispatch.h"
#include "doppel/doppel.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/linalg.h"

namespace {

using dnnl::memory;
using namespace doppel;

struct FirstLayer {
  const char* name;
  int64_t batch, cin, hw, cout, k, stride, pad;
};

struct Way {
  std::string name;
  std::function<void()> run;
  std::function<std::vector<float>()> grad_weight;
  std::vector<double> cpu;
};

// oneDNN's weights pass reading src and diff_dst in `tag` (any: oneDNN's pick), from x in nchw and
// the output gradient in the channel block, diff_weights back in oihw: what
// convolution_backward.cpp ran before the few-channel kernel.
Way onednn_way(const std::string& name, memory::format_tag tag, const FirstLayer& s, int64_t oh, const Tensor& x,
               const Tensor& gy_blocked) {
  static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  const memory::dims xd{s.batch, s.cin, s.hw, s.hw}, yd{s.batch, s.cout, oh, oh}, wd{s.cout, s.cin, s.k, s.k};
  const memory::dims st{s.stride, s.stride}, dl{0, 0}, pl{s.pad, s.pad};
  const int64_t pr = (oh - 1) * s.stride + s.k - s.hw - s.pad;
  const memory::dims prr{pr, pr};
  const auto f32 = memory::data_type::f32;
  const memory::desc x_want(xd, f32, tag), y_want(yd, f32, tag), w_any(wd, f32, memory::format_tag::any),
      b_md({s.cout}, f32, memory::format_tag::a);
  dnnl::primitive_attr attr;
  attr.set_fpmath_mode(dnnl::fpmath_mode::strict);
  const dnnl::convolution_forward::primitive_desc hint(eng, dnnl::prop_kind::forward_training,
                                                       dnnl::algorithm::convolution_direct, x_want, w_any, b_md, y_want,
                                                       st, dl, pl, prr, attr);
  const dnnl::convolution_backward_weights::primitive_desc pd(eng, dnnl::algorithm::convolution_direct, x_want, w_any,
                                                              b_md, y_want, st, dl, pl, prr, hint, attr);
  auto x_user = std::make_shared<memory>(memory::desc(xd, f32, memory::format_tag::nchw), eng, x.data_ptr<float>());
  const memory::format_tag block_tag =
      onednn_channel_block() == 16 ? memory::format_tag::nChw16c : memory::format_tag::nChw8c;
  auto y_user = std::make_shared<memory>(memory::desc(yd, f32, block_tag), eng, gy_blocked.data_ptr<float>());
  auto xs = std::make_shared<memory>(pd.src_desc(), eng), ys = std::make_shared<memory>(pd.diff_dst_desc(), eng),
       ws = std::make_shared<memory>(pd.diff_weights_desc(), eng), bs = std::make_shared<memory>(b_md, eng),
       w_user = std::make_shared<memory>(memory::desc(wd, f32, memory::format_tag::oihw), eng);
  auto prim = std::make_shared<dnnl::convolution_backward_weights>(pd);
  auto rx = std::make_shared<dnnl::reorder>(*x_user, *xs), ry = std::make_shared<dnnl::reorder>(*y_user, *ys),
       rw = std::make_shared<dnnl::reorder>(*ws, *w_user);
  auto stream = std::make_shared<dnnl::stream>(eng);
  Way w{name + " (" + pd.impl_info_str() + ")", nullptr, nullptr, {}};
  w.run = [=] {
    rx->execute(*stream, *x_user, *xs);
    ry->execute(*stream, *y_user, *ys);
    prim->execute(
        *stream,
        {{DNNL_ARG_SRC, *xs}, {DNNL_ARG_DIFF_DST, *ys}, {DNNL_ARG_DIFF_WEIGHTS, *ws}, {DNNL_ARG_DIFF_BIAS, *bs}});
    rw->execute(*stream, *ws, *w_user);
    stream->wait();
  };
  w.grad_weight = [=] {
    const auto* p = static_cast<const float*>(w_user->get_data_handle());
    return std::vector<float>(p, p + wd[0] * wd[1] * wd[2] * wd[3]);
  };
  return w;
}

void bench_shape(const FirstLayer& s, int reps) {
  const int64_t oh = (s.hw + 2 * s.pad - s.k) / s.stride + 1, b = onednn_channel_block();
  manual_seed(3);
  const Tensor x = randn({s.batch, s.cin, s.hw, s.hw}), w = randn({s.cout, s.cin, s.k, s.k}),
               gy = randn({s.batch, s.cout, oh, oh});
  const Tensor gy_blocked = dispatch1(OpId::to_blocked, {gy}, ToBlockedAttrs{.block = b}.pack());
  const ConvolutionBackwardAttrs plain{.stride = {s.stride, s.stride},
                                       .padding = {s.pad, s.pad},
                                       .dilation = {1, 1},
                                       .groups = 1,
                                       .transposed = false,
                                       .output_padding = {0, 0},
                                       .output_mask = {0, 1, 1}};
  const Attrs blocked_attrs = BlockedConv2dBackwardAttrs{
      .stride = {s.stride, s.stride},
      .padding = {s.pad, s.pad},
      .dilation = {1, 1},
      .output_mask = {0, 1, 1}}.pack();
  auto blocked_out = std::make_shared<Tensor>(), plain_out = std::make_shared<Tensor>();
  std::vector<Way> ways;
  ways.push_back({"doppel, blocked gradient",
                  [=] {
                    *blocked_out = dispatch(OpId::blocked_conv2d_backward, {gy_blocked, x, w}, blocked_attrs)[1];
                  },
                  [=] { return blocked_out->to_vector<float>(); },
                  {}});
  ways.push_back({"doppel, plain gradient (eager)",
                  [=] {
                    *plain_out = dispatch(OpId::convolution_backward, {gy, x, w}, plain.pack())[1];
                  },
                  [=] { return plain_out->to_vector<float>(); },
                  {}});
  ways.push_back(onednn_way("oneDNN nhwc", memory::format_tag::nhwc, s, oh, x, gy_blocked));
  ways.push_back(onednn_way("oneDNN any", memory::format_tag::any, s, oh, x, gy_blocked));
  for (Way& way : ways) way.run();  // primitives made, caches filled
  for (int r = 0; r < reps; ++r)
    for (Way& way : ways) {
      const double t0 = bench::process_cpu_ms();
      way.run();
      way.cpu.push_back(bench::process_cpu_ms() - t0);
    }
  const std::vector<float> ref = ways[0].grad_weight();
  float scale = 0;
  for (float v : ref) scale = std::max(scale, std::abs(v));
  const double base = bench::median(ways[0].cpu);
  std::printf("%s: batch %lld, %lld->%lld, %lldx%lld, kernel %lld stride %lld pad %lld\n", s.name,
              static_cast<long long>(s.batch), static_cast<long long>(s.cin), static_cast<long long>(s.cout),
              static_cast<long long>(s.hw), static_cast<long long>(s.hw), static_cast<long long>(s.k),
              static_cast<long long>(s.stride), static_cast<long long>(s.pad));
  for (const Way& way : ways) {
    const std::vector<float> got = way.grad_weight();
    double diff = 0;
    for (size_t i = 0; i < got.size(); ++i) diff = std::max(diff, double(std::abs(got[i] - ref[i])));
    const double m = bench::median(way.cpu);
    std::printf("  %-58s %9.3f ms  %5.2fx  max diff %.1e\n", way.name.c_str(), m, m / base, diff / scale);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1, reps = argc > 2 ? std::atoi(argv[2]) : 11;
  set_num_threads(threads);
  const FirstLayer shapes[] = {{"the small CNN's first layer", 64, 1, 28, 32, 3, 1, 1},
                               {"RGB 3x3", 64, 3, 32, 32, 3, 1, 1},
                               {"4 channels", 64, 4, 32, 16, 3, 1, 1},
                               {"ResNet stem 7x7 stride 2", 8, 3, 224, 64, 7, 2, 3}};
  if (argc > 3)
    for (int i = 3; i < argc; ++i) bench_shape(shapes[std::atoi(argv[i])], reps);
  else
    for (const FirstLayer& s : shapes) bench_shape(s, reps);
  return 0;
}
