// A small ResNet compiled for inference (graph/src/passes/layout_propagation.cpp: channels-last at
// batch 1 and with AVX2 at every batch, nChw16c otherwise): a 7x7 stride-2 stem on a 3-channel input of odd size, the
// 3x3 stride-2 max pool, an identity block, a downsampling block (1x1 stride-2 shortcut), a block whose convolution
// adds its own input (conv(h) + h), the global average pool, flatten and a linear head. Compiled and exported ->
// runtime, at batch 1, 8 and a dynamic batch, it equals the eager function (within 1e-4), runs no oneDNN reference
// primitive, pools the head on the blocked value (a mean over H and W, then from_blocked of the pooled values only, or
// none at all channels-last), and every residual convolution writes over its dying residual
// (graph/src/runtime/in_place.cpp) except the one whose residual is its own input.
#include <catch2/catch_test_macros.hpp>
#include <string>

#include "audit_test_util.h"
#include "doppel/graph/compile.h"
#include "doppel/graph/executor.h"
#include "doppel/graph/export.h"
#include "doppel/graph/ir.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/nn/nn.h"
#include "doppel/runtime/model.h"
#include "export_test_util.h"
#include "graph/pass_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;
using testing::make_input;

struct TinyResNet {
  nn::Conv2d stem{nn::Conv2dOptions{.in = 3, .out = 16, .kernel = 7, .stride = 2, .padding = 3}};
  nn::Conv2d a1{16, 16, 3, 1, 1}, a2{16, 16, 3, 1, 1};                         // identity block
  nn::Conv2d b1{16, 32, 3, 2, 1}, b2{32, 32, 3, 1, 1}, down{16, 32, 1, 2, 0};  // downsampling block
  nn::Conv2d c1{32, 32, 3, 1, 1};                                              // conv(h) + h
  nn::Linear fc{32, 10};
  Tensors operator()(const Tensors& in) {
    NoGradGuard ng;
    Tensor h = max_pool2d(relu(stem.forward(in[0])), {3, 3}, {2, 2}, {1, 1});
    h = relu(a2.forward(relu(a1.forward(h))) + h);
    h = relu(b2.forward(relu(b1.forward(h))) + down.forward(h));
    h = relu(c1.forward(h) + h);
    return {fc.forward(flatten(adaptive_avg_pool2d(h, {1, 1}), 1))};
  }
};

graph::PassOptions inference() {
  graph::PassOptions o;
  o.inference = true;
  o.verify = true;
  return o;
}

// The residual convolutions of g: {writes over its residual} per node, in graph order.
std::vector<bool> residual_in_place(const std::shared_ptr<const graph::Graph>& g, const Tensors& in) {
  graph::Executor ex(g);
  const graph::MemoryReport r = ex.memory_report(in);
  std::vector<bool> got;
  for (const graph::Node& n : g->nodes()) {
    if (n.op != OpId::blocked_conv2d || n.inputs.size() < 4) continue;
    bool own = false;  // the output heads a buffer of its own
    for (const graph::MemoryReport::Buffer& b : r.buffers) own = own || b.value == n.outputs[0];
    got.push_back(!own);
  }
  return got;
}

TEST_CASE(
    "ResNet inference: stem, pool, identity/downsampling/self residual blocks, head; compiled and runtime "
    "equal eager, residuals written in place",
    "[graph][layout][resnet]") {
  manual_seed(21);
  TinyResNet net;
  struct Variant {
    const char* name;
    int64_t batch;
    bool dynamic;
  };
  for (const Variant& v :
       {Variant{"batch 1 (channels-last)", 1, false}, Variant{"batch 8 (nChw16c; AVX2: channels-last)", 8, false},
        Variant{"dynamic batch", 5, true}}) {
    INFO(v.name);
    const Tensor x = make_input({v.batch, 3, 29, 27}, DType::Float32, 5);
    const Tensor want = net({x})[0];
    CompileOptions opts{.passes = inference()};
    if (v.dynamic) opts.dynamic = {{0, 0, "batch"}};
    CompiledFunction f = compile([&net](const Tensors& in) { return net(in); }, opts);
    f({x});  // eager warm-up
    f({x});  // trace
    reset_onednn_reference_primitives();
    DOPPEL_REQUIRE_CLOSE(f({x})[0], want, (testing::Tolerance{1e-4, 1e-4}));
    REQUIRE(f.num_graph_runs() == 1);
    testing::require_no_reference_primitives("compiled");
    const auto g = f.graph_for({x});
    REQUIRE(g != nullptr);
    INFO(graph::to_text(*g));
    CHECK(testing::count_op(*g, OpId::blocked_conv2d) == 7);
    CHECK(testing::count_op(*g, OpId::blocked_max_pool2d) == 1);
    // The head: the global average pool is a mean over the blocked value's H and W. nChw16c: the
    // one conversion back reads the pooled [N, 32] values, not the [N, 32, 4, 4] activation;
    // channels-last: none (blocked_flatten: the flatten reads the pooled channels-last value).
    CHECK(testing::count_op(*g, OpId::adaptive_avg_pool2d) == 0);
    CHECK(testing::count_op(*g, OpId::mean) == 1);
    const bool channels_last = v.batch == 1 || onednn_channel_block() == 8;  // nChw16c with AVX-512
    CHECK(testing::count_op(*g, OpId::from_blocked) == (channels_last ? 0 : 1));
    if (!channels_last) CHECK(graph::to_text(*g).find(", 32, 1, 1] = from_blocked(") != std::string::npos);
    // Three residual convolutions; the last adds its own input, which it reads while writing.
    CHECK(residual_in_place(g, {x}) == std::vector<bool>{true, true, false});
    testing::TempPath path;
    export_model(f, {x}, path.str());
    const runtime::Model model = runtime::Model::load(path.str());
    DOPPEL_REQUIRE_CLOSE(model.run({x})[0], want, (testing::Tolerance{1e-4, 1e-4}));
    testing::require_no_reference_primitives("runtime");
    if (v.dynamic) {
      const Tensor x6 = make_input({6, 3, 29, 27}, DType::Float32, 6);
      // The eager oracle first: its NCHW pools have no optimized AVX2 kernel (simple_nchw).
      const Tensor want6 = net({x6})[0];
      reset_onednn_reference_primitives();
      DOPPEL_REQUIRE_CLOSE(f({x6})[0], want6, (testing::Tolerance{1e-4, 1e-4}));
      DOPPEL_REQUIRE_CLOSE(model.run({x6})[0], want6, (testing::Tolerance{1e-4, 1e-4}));
      testing::require_no_reference_primitives("another batch");
    }
  }
}

TEST_CASE("ResNet inference: residuals written in place give the bits of the out-of-place plan",
          "[graph][layout][resnet]") {
  manual_seed(22);
  TinyResNet net;
  for (const int64_t batch : {1, 8}) {
    INFO("batch " << batch);
    const Tensors in = {make_input({batch, 3, 29, 27}, DType::Float32, 7)};
    CompileOptions opts{.passes = inference()};
    CompiledFunction f = compile([&net](const Tensors& x) { return net(x); }, opts);
    f(in);
    f(in);
    const auto g = f.graph_for(in);
    REQUIRE(g != nullptr);
    graph::Executor in_place(g, {.in_place = true}), out_of_place(g, {.in_place = false});
    const Tensor a = in_place.run(in)[0], b = out_of_place.run(in)[0];
    CHECK(a.to_vector<float>() == b.to_vector<float>());
  }
}

}  // namespace
}  // namespace doppel
