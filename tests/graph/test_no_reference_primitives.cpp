// No oneDNN primitive runs its reference implementation by accident (doppel/kernels/onednn_audit.h
// records every one that runs): the benchmark models (bench/doppel_models.h) trained eagerly and
// compiled and run for inference eagerly, compiled (layout propagation included) and through an
// exported file in the runtime; and a set of convolution shapes (1 to 24 channels, odd sizes,
// strides, dilation, groups, depthwise), each the middle layer of a chain whose first convolution
// it reads (blocked, in a compiled inference graph). Every result is compared with eager.
#include <catch2/catch_test_macros.hpp>
#include <string>

#include "audit_test_util.h"
#include "doppel/dispatch.h"
#include "doppel/graph/compile.h"
#include "doppel/graph/export.h"
#include "doppel/graph/ir.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/onednn_audit.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/runtime/model.h"
#include "doppel_models.h"
#include "export_test_util.h"
#include "support/test_util.h"
#include "support/train_step.h"

namespace doppel {
namespace {

using testing::make_input;
using testing::require_no_reference_primitives;
using Tensors = std::vector<Tensor>;
const testing::Tolerance kTol{1e-4, 1e-5};

// Eval mode without autograd: eager, the compiled inference graph, and the exported file run by
// the runtime (with `parity_samples`, export's parity check runs the graph too); both compared
// with eager.
void check_inference(nn::Module& m, const Tensor& x, const std::string& what, int parity_samples = 0) {
  m.eval();
  reset_onednn_reference_primitives();
  Tensor want;
  {
    NoGradGuard ng;
    want = m.forward(x);
  }
  require_no_reference_primitives(what + ", eager inference");
  graph::PassOptions passes;
  passes.inference = true;
  CompiledFunction f = compile(
      [&m](const Tensors& in) {
        NoGradGuard ng;
        return Tensors{m.forward(in[0])};
      },
      {.state_names = m.state_dict(), .passes = passes});
  for (int k = 0; k < 3; ++k) DOPPEL_REQUIRE_CLOSE(f({x})[0], want, kTol);  // eager warm-up, trace, replay
  REQUIRE(f.num_graph_runs() == 1);
  require_no_reference_primitives(what + ", compiled inference");
  testing::TempPath path;
  export_model(f, {x}, path.str(), {.parity_samples = parity_samples});
  const runtime::Model model = runtime::Model::load(path.str());
  DOPPEL_REQUIRE_CLOSE(model.run({x})[0], want, kTol);
  require_no_reference_primitives(what + ", export and runtime");
}

TEST_CASE("no oneDNN reference primitive: benchmark models, training steps eager and compiled", "[onednn_audit]") {
  for (const std::string kind : {"mlp", "cnn"}) {
    for (const std::string opt : {"sgd", "adam"}) {
      INFO(kind << " " << opt);
      manual_seed(0);
      auto eager_model = bench::make_model(kind);
      manual_seed(0);
      auto graph_model = bench::make_model(kind);
      auto eager_opt = bench::make_optimizer(opt, eager_model->parameters());
      auto graph_opt = bench::make_optimizer(opt, graph_model->parameters());
      auto eager_step = testing::cross_entropy_step(*eager_model, *eager_opt);
      CompiledFunction graph_step = compile(testing::cross_entropy_step(*graph_model, *graph_opt));
      reset_onednn_reference_primitives();
      const Tensor y = tensor(std::vector<int64_t>{3, 0, 9, 5}, {4});
      for (int s = 0; s < 5; ++s) {
        INFO("step " << s);
        const Tensor x = make_input({4, 1, 28, 28}, DType::Float32, uint64_t(300 + s));
        manual_seed(uint64_t(100 + s));  // the same dropout masks on both sides
        const Tensor le = eager_step({x, y})[0];
        require_no_reference_primitives(kind + " " + opt + ", eager training step");
        manual_seed(uint64_t(100 + s));
        DOPPEL_REQUIRE_CLOSE(graph_step({x, y})[0], le, kTol);
        require_no_reference_primitives(kind + " " + opt + ", compiled training step");
      }
      CHECK(graph_step.num_graph_runs() == 3);
    }
  }
}

TEST_CASE("no oneDNN reference primitive: benchmark models, inference eager, compiled and runtime", "[onednn_audit]") {
  for (const std::string kind : {"mlp", "cnn"}) {
    for (int64_t batch : {1, 5}) {
      manual_seed(1);
      auto model = bench::make_model(kind);
      check_inference(*model, make_input({batch, 1, 28, 28}, DType::Float32, 7),
                      kind + " batch " + std::to_string(batch), /*parity_samples=*/1);
    }
  }
}

// The layout pass blocks activations in the channel block this CPU's oneDNN kernels take
// (onednn_channel_block): with AVX2 a fixed 16-channel block ran the blocked convolutions on the
// reference kernel and the blocked pools as oneDNN's ref:any, 25x slower than eager. ctest also
// runs this case with ONEDNN_MAX_CPU_ISA=AVX2 (tests/CMakeLists.txt: onednn_audit_avx2), where
// the inference graph runs channels-last instead (the last convolution's block is its 64
// channels). Only the replay is audited: eager pooling on nchw has no optimized AVX2 kernel
// (simple_nchw).
TEST_CASE("no oneDNN reference primitive: compiled CNN inference in this CPU's channel block", "[onednn_audit]") {
  manual_seed(1);
  auto model = bench::make_model("cnn");
  model->eval();
  const Tensor x = make_input({2, 1, 28, 28}, DType::Float32, 8);
  Tensor want;
  {
    NoGradGuard ng;
    want = model->forward(x);
  }
  graph::PassOptions passes;
  passes.inference = true;
  CompiledFunction f = compile(
      [&model](const Tensors& in) {
        NoGradGuard ng;
        return Tensors{model->forward(in[0])};
      },
      {.passes = passes});
  f({x});  // eager warm-up
  f({x});  // trace
  reset_onednn_reference_primitives();
  DOPPEL_REQUIRE_CLOSE(f({x})[0], want, kTol);
  REQUIRE(f.num_graph_runs() == 1);
  require_no_reference_primitives("compiled CNN inference, replay");
  const int64_t block = onednn_channel_block();
  const std::string text = graph::to_text(*f.graph_for({x}));
  INFO("channel block " << block << ", graph:\n" << text);
  CHECK((text.find("blocked_conv2d") != std::string::npos) == (block > 0));
  if (block == 0) return;
  CHECK(text.find(fmt::format("block={})", block == 8 ? 64 : block)) != std::string::npos);
  const Tensor xb =
      dispatch1(OpId::to_blocked, {make_input({2, 32, 14, 14}, DType::Float32, 9)}, {Attr::of_int(block)});
  dispatch1(OpId::blocked_conv2d, {xb, make_input({64, 32, 3, 3}, DType::Float32, 10)},
            {Attr::of_ints({1, 1}), Attr::of_ints({1, 1}), Attr::of_ints({1, 1}),
             Attr::of_int(int64_t(FusedActivation::relu)), Attr::of_float(0), Attr::of_float(0), Attr::of_int(block)});
  CHECK(last_selected_backend() == Backend::OneDNN);
  require_no_reference_primitives("blocked_conv2d in the channel block");
}

// The middle convolution of conv(3 -> cin) -> ReLU -> conv under test -> ReLU -> max pool ->
// conv(cout -> 16): in an inference graph its input is the first convolution's blocked output.
struct ConvCase {
  int64_t cin, cout, kernel, stride, padding, dilation, groups, h, w;
};

std::string describe(const ConvCase& c) {
  return fmt::format("conv {}->{} k{} s{} p{} d{} g{} on {}x{}", c.cin, c.cout, c.kernel, c.stride, c.padding,
                     c.dilation, c.groups, c.h, c.w);
}

std::shared_ptr<nn::Module> conv_chain(const ConvCase& c) {
  manual_seed(3);
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 3, .out = c.cin, .kernel = 3, .padding = 1}),
      std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = c.cin,
                                                     .out = c.cout,
                                                     .kernel = c.kernel,
                                                     .stride = c.stride,
                                                     .padding = c.padding,
                                                     .dilation = c.dilation,
                                                     .groups = c.groups}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = c.cout, .out = 16, .kernel = 3, .padding = 1})});
}

std::vector<ConvCase> conv_cases() {
  std::vector<ConvCase> cases;
  for (int64_t cin : {1, 3, 8, 12, 16, 24}) {
    cases.push_back({cin, 16, 3, 1, 1, 1, 1, 10, 10});
    cases.push_back({cin, 8, 3, 2, 1, 1, 1, 11, 13});                      // stride 2, odd sizes
    cases.push_back({cin, 24, 1, 1, 0, 1, 1, 9, 7});                       // 1x1
    cases.push_back({cin, 12, 5, 1, 2, 2, 1, 12, 9});                      // dilation 2
    cases.push_back({cin, 2 * cin, 3, 1, 1, 1, cin, 8, 11});               // depthwise (channel multiplier 2)
    if (cin % 2 == 0) cases.push_back({cin, cin, 3, 2, 0, 1, 2, 13, 10});  // 2 groups, no padding
  }
  return cases;
}

TEST_CASE("no oneDNN reference primitive: convolution shapes, eager training and inference, compiled, runtime",
          "[onednn_audit]") {
  for (const ConvCase& c : conv_cases()) {
    const std::string what = describe(c);
    INFO(what);
    auto model = conv_chain(c);
    model->train();
    reset_onednn_reference_primitives();
    Tensor x = make_input({2, 3, c.h, c.w}, DType::Float32, 5);
    model->forward(x).sum().backward();
    require_no_reference_primitives(what + ", eager forward and backward");
    check_inference(*model, x, what);
  }
}

// The case: conv(3->8) -> conv(8->8) -> conv(8->16) compiled for inference ran the middle
// one as oneDNN's ref:any convolution on a blocked 8-channel input, ~1000x slower than eager (and
// export's parity check, which runs the graph, took seconds).
TEST_CASE("no oneDNN reference primitive: conv 3->8->8->16 compiled for inference", "[onednn_audit]") {
  manual_seed(4);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 3, .out = 8, .kernel = 3, .padding = 1}),
      std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 8, .out = 8, .kernel = 3, .padding = 1}),
      std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 8, .out = 16, .kernel = 3, .padding = 1})});
  check_inference(*model, make_input({2, 3, 16, 16}, DType::Float32, 6), "conv 3->8->8->16", /*parity_samples=*/2);
}

// The kernel itself, given a blocked input with fewer than 16 channels (what the layout pass no
// longer produces): it reads the input through a reorder instead of oneDNN's ref:any
// convolution, and computes what the plain convolution computes.
TEST_CASE("no oneDNN reference primitive: blocked_conv2d with a blocked 8-channel input", "[onednn_audit]") {
  const Tensor x = make_input({2, 8, 9, 7}, DType::Float32, 1), w = make_input({16, 8, 3, 3}, DType::Float32, 2),
               b = make_input({16}, DType::Float32, 3);
  const Tensor xb = dispatch1(OpId::to_blocked, {x}, {Attr::of_int(16)});
  const Attrs attrs{
      Attr::of_ints({1, 1}), Attr::of_ints({1, 1}), Attr::of_ints({1, 1}), Attr::of_int(int64_t(FusedActivation::relu)),
      Attr::of_float(0),     Attr::of_float(0),     Attr::of_int(16)};
  reset_onednn_reference_primitives();
  const Tensor yb = dispatch1(OpId::blocked_conv2d, {xb, w, b}, attrs);
  CHECK(last_selected_backend() == Backend::OneDNN);
  require_no_reference_primitives("blocked_conv2d, blocked 8-channel input");
  ForceBackendGuard reference(Backend::Reference);  // the oracle: the plain loops, blocked
  DOPPEL_REQUIRE_CLOSE(yb, dispatch1(OpId::blocked_conv2d, {xb, w, b}, attrs), kTol);
}

// oneDNN's softmax across a non-innermost axis is its ref:any, 7x slower than the reference
// kernel: declined, forward and backward (the reference loops compute it).
TEST_CASE("no oneDNN reference primitive: softmax across a non-innermost axis, forward and backward",
          "[onednn_audit]") {
  const Tensor x = make_input({64, 33}, DType::Float32, 11);
  Tensor want_y, want_g;
  {
    ForceBackendGuard reference(Backend::Reference);
    const Tensor xr = x.detach();
    xr.set_requires_grad();
    want_y = softmax(xr, 0);
    (want_y * want_y).sum().backward();
    want_g = xr.grad();
  }
  reset_onednn_reference_primitives();
  const Tensor xg = x.detach();
  xg.set_requires_grad();
  const Tensor y = softmax(xg, 0);
  (y * y).sum().backward();
  require_no_reference_primitives("softmax over dim 0 of [64, 33]");
  DOPPEL_REQUIRE_CLOSE(y, want_y, kTol);
  DOPPEL_REQUIRE_CLOSE(xg.grad(), want_g, kTol);
}

}  // namespace
}  // namespace doppel
