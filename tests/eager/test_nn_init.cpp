// nn::init: gains, fans, distribution statistics, and each layer's PyTorch default init.
#include <algorithm>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <cmath>
#include <numeric>

#include "doppel/nn/nn.h"
#include "support/test_util.h"

namespace doppel::testing {

using Catch::Matchers::WithinRel;

namespace {

struct Stats {
  double min, max, mean, std;
};

Stats stats_of(const Tensor& t) {
  const std::vector<double> v = t.to_vector<double>();
  Stats s{*std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()), 0, 0};
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(ss / double(v.size()));
  return s;
}

// Uniform(-b, b) with many samples: inside the bounds, reaching close to them, std b/sqrt(3).
void check_uniform(const Tensor& t, double bound) {
  INFO("bound " << bound << ", shape " << shape_str(t.shape()));
  const Stats s = stats_of(t);
  CHECK(s.min >= -bound);
  CHECK(s.max <= bound);
  CHECK(s.min < -0.98 * bound);
  CHECK(s.max > 0.98 * bound);
  CHECK(std::abs(s.mean) < 0.03 * bound);
  CHECK_THAT(s.std, WithinRel(bound / std::sqrt(3.0), 0.03));
}

void check_normal(const Tensor& t, double mean, double std) {
  const Stats s = stats_of(t);
  CHECK(std::abs(s.mean - mean) < 0.03 * std);
  CHECK_THAT(s.std, WithinRel(std, 0.03));
}

}  // namespace

TEST_CASE("nn::init: gains and fans follow PyTorch", "[nn_module]") {
  using nn::init::calculate_gain;
  CHECK(calculate_gain("linear") == 1.0);
  CHECK(calculate_gain("conv2d") == 1.0);
  CHECK(calculate_gain("sigmoid") == 1.0);
  CHECK(calculate_gain("tanh") == 5.0 / 3.0);
  CHECK(calculate_gain("relu") == std::sqrt(2.0));
  CHECK(calculate_gain("selu") == 0.75);
  CHECK_THAT(calculate_gain("leaky_relu"), WithinRel(std::sqrt(2.0 / (1 + 0.01 * 0.01)), 1e-15));
  CHECK_THAT(calculate_gain("leaky_relu", std::sqrt(5.0)), WithinRel(std::sqrt(1.0 / 3.0), 1e-15));
  CHECK_THROWS_AS(calculate_gain("swish"), ValueError);

  const auto [fi, fo] = nn::init::calculate_fan_in_and_fan_out(zeros({8, 4, 3, 5}));
  CHECK(fi == 4 * 15);
  CHECK(fo == 8 * 15);
  const auto [li, lo] = nn::init::calculate_fan_in_and_fan_out(zeros({7, 3}));
  CHECK(li == 3);
  CHECK(lo == 7);
  CHECK_THROWS_AS(nn::init::calculate_fan_in_and_fan_out(zeros({5})), ShapeError);
  CHECK_THROWS_AS(nn::init::kaiming_uniform_(zeros({5})), ShapeError);
  CHECK_THROWS_AS(nn::init::kaiming_uniform_(zeros({5, 5}), 0, "fan_avg"), ValueError);
  CHECK_THROWS_AS(nn::init::normal_(zeros({5}, {.dtype = DType::Int64})), DTypeError);
}

TEST_CASE("nn::init: kaiming and xavier bounds and standard deviations", "[nn_module]") {
  manual_seed(11);
  Tensor w = empty({256, 512});
  nn::init::kaiming_uniform_(w, 0.0, "fan_in", "relu");
  check_uniform(w, std::sqrt(2.0) * std::sqrt(3.0 / 512));
  nn::init::kaiming_uniform_(w, 0.0, "fan_out", "relu");
  check_uniform(w, std::sqrt(2.0) * std::sqrt(3.0 / 256));
  nn::init::kaiming_normal_(w, 0.0, "fan_in", "relu");
  check_normal(w, 0.0, std::sqrt(2.0) / std::sqrt(512.0));
  nn::init::kaiming_normal_(w, 0.2, "fan_out");  // leaky_relu with slope 0.2
  check_normal(w, 0.0, std::sqrt(2.0 / 1.04) / std::sqrt(256.0));

  Tensor c = empty({64, 32, 3, 3}, {.dtype = DType::Float64});
  nn::init::xavier_uniform_(c, 2.0);
  check_uniform(c, 2.0 * std::sqrt(6.0 / (32 * 9 + 64 * 9)));
  nn::init::xavier_normal_(c);
  check_normal(c, 0.0, std::sqrt(2.0 / (32 * 9 + 64 * 9)));

  nn::init::normal_(w, 3.0, 0.5);
  check_normal(w, 3.0, 0.5);
  nn::init::uniform_(w, -0.25, 0.75);
  const Stats u = stats_of(w);
  CHECK(u.min >= -0.25);
  CHECK(u.max <= 0.75);
  CHECK(std::abs(u.mean - 0.25) < 0.01);
  nn::init::constant_(w, 1.5);
  CHECK(stats_of(w).min == 1.5);
  CHECK(stats_of(w).max == 1.5);
  nn::init::zeros_(w);
  CHECK(stats_of(w).max == 0.0);
  nn::init::ones_(w);
  CHECK(stats_of(w).min == 1.0);
}

TEST_CASE("nn::init: initializing a parameter keeps it a leaf and records no history", "[nn_module]") {
  Tensor p = zeros({4, 4}).set_requires_grad(true);
  nn::init::kaiming_uniform_(p);
  CHECK(p.is_leaf());
  CHECK(p.requires_grad());
  CHECK(grad_fn_name(p).empty());
  CHECK(stats_of(p).max > 0.0);
}

TEST_CASE("nn: layers use PyTorch's default initialization", "[nn_module]") {
  manual_seed(3);
  nn::Linear fc(784, 512);
  // kaiming_uniform_(a=sqrt(5)) gives bound sqrt(6 / ((1 + 5) * fan_in)) = 1 / sqrt(fan_in).
  check_uniform(fc.weight, 1.0 / 28.0);
  const Stats b = stats_of(fc.bias);
  CHECK(b.min >= -1.0 / 28.0);
  CHECK(b.max <= 1.0 / 28.0);
  CHECK(b.max > 0.9 / 28.0);
  CHECK(b.min < -0.9 / 28.0);

  nn::Conv2d conv(nn::Conv2dOptions{.in = 16, .out = 64, .kernel = 5});
  check_uniform(conv.weight, 1.0 / std::sqrt(16.0 * 25));
  CHECK(stats_of(conv.bias).max <= 1.0 / std::sqrt(16.0 * 25));
  nn::Conv1d c1(nn::Conv1dOptions{.in = 16, .out = 1024, .kernel = 3, .groups = 2});
  CHECK(c1.weight.shape() == Shape{1024, 8, 3});
  check_uniform(c1.weight, 1.0 / std::sqrt(8.0 * 3));
  // Transposed conv weights are [in, out/groups, kh, kw]: fan_in is out/groups * kh * kw.
  nn::ConvTranspose2d ct(nn::ConvTranspose2dOptions{.in = 64, .out = 32, .kernel = {3, 2}});
  CHECK(ct.weight.shape() == Shape{64, 32, 3, 2});
  check_uniform(ct.weight, 1.0 / std::sqrt(32.0 * 6));
  CHECK(stats_of(ct.bias).max <= 1.0 / std::sqrt(32.0 * 6));

  nn::Embedding emb(1000, 64, /*padding_idx=*/-1);
  CHECK(*emb.padding_idx == 999);
  const Stats e = stats_of(emb.weight.narrow(0, 0, 999));
  CHECK(std::abs(e.mean) < 0.02);
  CHECK_THAT(e.std, WithinRel(1.0, 0.03));
  CHECK(stats_of(emb.weight.select(0, 999)).max == 0.0);
  CHECK(stats_of(emb.weight.select(0, 999)).min == 0.0);

  nn::BatchNorm2d bn(6);
  nn::LayerNorm ln(std::vector<int64_t>{3, 4});
  nn::GroupNorm gn(2, 6);
  for (const Tensor& t : {bn.weight, ln.weight, gn.weight, bn.running_var}) CHECK(stats_of(t).min == 1.0);
  for (const Tensor& t : {bn.bias, ln.bias, gn.bias, bn.running_mean}) CHECK(stats_of(t).max == 0.0);
  CHECK(ln.weight.shape() == Shape{3, 4});
  CHECK(bn.num_batches_tracked.dtype() == DType::Int64);
  CHECK(bn.num_batches_tracked.dim() == 0);

  nn::MultiheadAttention mha(64, 4);
  CHECK(mha.in_proj_weight.shape() == Shape{192, 64});
  check_uniform(mha.in_proj_weight, std::sqrt(6.0 / (64 + 192)));
  CHECK(stats_of(mha.in_proj_bias).max == 0.0);
  CHECK(stats_of(mha.out_proj->bias).max == 0.0);
  CHECK(stats_of(mha.out_proj->bias).min == 0.0);
  CHECK(stats_of(mha.out_proj->weight).max <= 1.0 / 8.0);
}

TEST_CASE("nn: a seed reproduces a model's initialization", "[nn_module]") {
  manual_seed(42);
  nn::TransformerEncoderLayer a(8, 2, 16);
  manual_seed(42);
  nn::TransformerEncoderLayer b(8, 2, 16);
  nn::TransformerEncoderLayer c(8, 2, 16);
  const StateDict sa = a.state_dict(), sb = b.state_dict(), sc = c.state_dict();
  REQUIRE(sa.size() == sb.size());
  bool any_diff = false;
  for (size_t i = 0; i < sa.size(); ++i) {
    CHECK(sa[i].second.to_vector<float>() == sb[i].second.to_vector<float>());
    any_diff = any_diff || sa[i].second.to_vector<float>() != sc[i].second.to_vector<float>();
  }
  CHECK(any_diff);
}

}  // namespace doppel::testing
