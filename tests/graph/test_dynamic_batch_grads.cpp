// Gradients of batch-averaged losses through a graph with a dynamic batch dimension. Their rules
// divide by counts that depend on the batch size; a count computed in C++ from the traced shapes
// would be frozen into the graph as a constant, so a graph traced at batch 64 would divide by 64
// at batch 7. Each loss term gets its own compiled function, so a failure names the rule.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/generators/catch_generators_range.hpp>
#include <functional>
#include <string>

#include "doppel/graph/compile.h"
#include "doppel/nn/nn.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;
using Tensors = std::vector<Tensor>;

constexpr int64_t kFeatures = 12, kClasses = 4;

// in: x [b, 12], y [b, 4] (regression target), t [b] (class indices in -1..3; -1 is ignored),
// p [b, 4] (class probabilities). h = linear(x) [b, 4].
struct Term {
  const char* name;
  std::function<Tensor(const Tensor& h, const Tensors& in)> loss;
};

const Term kTerms[] = {
    {"mean", [](const Tensor& h, const Tensors&) { return h.mean(); }},
    {"mean over the batch dim", [](const Tensor& h, const Tensors&) { return sum(mean(h * h, {0})); }},
    {"mse_loss", [](const Tensor& h, const Tensors& in) { return mse_loss(h, in[1]); }},
    {"l1_loss", [](const Tensor& h, const Tensors& in) { return l1_loss(h, in[1]); }},
    {"smooth_l1_loss", [](const Tensor& h, const Tensors& in) { return smooth_l1_loss(h, in[1]); }},
    {"binary_cross_entropy_with_logits",
     [](const Tensor& h, const Tensors& in) { return binary_cross_entropy_with_logits(h, sigmoid(in[1])); }},
    {"var over the batch dim", [](const Tensor& h, const Tensors&) { return sum(var(h, {0})); }},
    {"std over the batch dim", [](const Tensor& h, const Tensors&) { return sum(doppel::std(h, {0}, 0)); }},
    {"var over all, correction 2", [](const Tensor& h, const Tensors&) { return var(h, {}, 2); }},
    {"cross_entropy, index targets with ignored samples",
     [](const Tensor& h, const Tensors& in) { return cross_entropy(h, in[2], Reduction::Mean, -1); }},
    {"cross_entropy, probability targets, label smoothing",
     [](const Tensor& h, const Tensors& in) { return cross_entropy(h, in[3], Reduction::Mean, -100, 0.1); }},
    {"cross_entropy, probability targets, target gradient",
     [](const Tensor& h, const Tensors& in) { return cross_entropy(h, softmax(h * in[3], 1)); }},
    {"nll_loss with ignored samples",
     [](const Tensor& h, const Tensors& in) { return nll_loss(log_softmax(h, 1), in[2], Reduction::Mean, -1); }},
};

Tensors batch(int64_t b) {
  const uint64_t s = uint64_t(b) * 10;
  return {make_input({b, kFeatures}, DType::Float32, s), make_input({b, kClasses}, DType::Float32, s + 1),
          make_input({b}, DType::Int64, s + 2, -1, kClasses),
          softmax(make_input({b, kClasses}, DType::Float32, s + 3), 1)};
}

TEST_CASE("compile: loss gradients traced at batch 64 equal eager at batches 7 and 64", "[graph][trace]") {
  const Term& term = kTerms[GENERATE(Catch::Generators::range(size_t(0), std::size(kTerms)))];
  INFO(term.name);
  manual_seed(11);
  nn::Linear model(kFeatures, kClasses);
  auto fn = [&](const Tensors& in) {
    const Tensor loss = term.loss(model.forward(in[0]), in);
    loss.backward();
    Tensors out{loss};
    for (const Tensor& p : model.parameters()) out.push_back(p.grad());
    return out;
  };
  CompiledFunction f =
      compile(fn, {.dynamic = {{0, 0, "batch"}, {1, 0, "batch"}, {2, 0, "batch"}, {3, 0, "batch"}}, .warmup = false});
  for (int64_t b : {64, 7, 64}) {
    INFO("batch " << b);
    const Tensors in = batch(b);
    for (const Tensor& p : model.parameters()) p.set_grad(Tensor());
    const Tensors got = f(in);
    for (const Tensor& p : model.parameters()) p.set_grad(Tensor());
    const Tensors want = fn(in);
    REQUIRE(got.size() == want.size());
    for (size_t k = 0; k < want.size(); ++k) DOPPEL_REQUIRE_CLOSE(got[k], want[k], (testing::Tolerance{1e-5, 1e-6}));
  }
  CHECK(f.num_traces() == 1);
}

}  // namespace
}  // namespace doppel
