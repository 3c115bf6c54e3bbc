// Specs and value tests of the normalization ops (batch/layer/group norm) and dropout.
#include <catch2/catch_approx.hpp>
#include <cmath>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/factory.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kFloatDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};

Attrs bn_attrs(bool training, double momentum = 0.1, double eps = 1e-5) {
  return BatchNormAttrs{.training = training, .momentum = momentum, .eps = eps}.pack();
}

// Positive values for running variances.
Tensor positive(IntList shape, DType dt, uint64_t seed) { return make_input(shape, dt, seed, 0.5, 1.5); }

std::vector<Sample> batch_norm_samples(DType dt) {
  std::vector<Sample> out;
  const auto full = [&](std::string name, Shape shape, bool training, uint64_t seed) {
    const int64_t C = shape[1];
    out.push_back({name,
                   {make_input(shape, dt, seed), make_input({C}, dt, seed + 1), make_input({C}, dt, seed + 2),
                    make_input({C}, dt, seed + 3), positive({C}, dt, seed + 4)},
                   bn_attrs(training)});
  };
  full("train NCHW affine running", {4, 3, 5, 6}, true, 1);
  full("eval NCHW affine running", {4, 3, 5, 6}, false, 10);
  full("eval NCW", {2, 4, 7}, false, 20);
  full("train 5-d", {2, 3, 2, 3, 4}, true, 30);
  full("eval empty batch", {0, 3, 4}, false, 40);
  full("train large", {8, 32, 20, 20}, true, 50);
  out.push_back({"train NC plain", {make_input({8, 5}, dt, 60)}, bn_attrs(true, 0.2, 1e-3)});
  out.push_back({"train NC weight only", {make_input({6, 3}, dt, 70), make_input({3}, dt, 71)}, bn_attrs(true)});
  return out;
}

std::vector<ErrorSample> batch_norm_errors() {
  const DType f = DType::Float32;
  const Tensor x = make_input({4, 3, 2}, f, 1);
  return {
      {"weight with the wrong channel count", {x, make_input({4}, f, 2)}, bn_attrs(true), ErrorKind::Shape, "weight"},
      {"eval without running stats", {x}, bn_attrs(false), ErrorKind::Value, "running_mean"},
      {"integer input", {make_input({4, 3}, DType::Int32, 3)}, bn_attrs(true), ErrorKind::DType, "batch_norm"},
      {"1-d input", {make_input({4}, f, 4)}, bn_attrs(true), ErrorKind::Shape, "batch_norm"},
      {"one value per channel in training",
       {make_input({1, 3}, f, 5)},
       bn_attrs(true),
       ErrorKind::Value,
       "more than 1 value"},
      {"running_mean without running_var",
       {x, Tensor(), Tensor(), make_input({3}, f, 6)},
       bn_attrs(true),
       ErrorKind::Value,
       "running_var"}};
}

Attrs ln_attrs(IntList shape, double eps = 1e-5) {
  return LayerNormAttrs{.normalized_shape = shape, .eps = eps}.pack();
}

std::vector<Sample> layer_norm_samples(DType dt) {
  return {{"rows affine", {make_input({4, 6}, dt, 1), make_input({6}, dt, 2), make_input({6}, dt, 3)}, ln_attrs({6})},
          {"two normalized dims",
           {make_input({2, 3, 4}, dt, 4), make_input({3, 4}, dt, 5), make_input({3, 4}, dt, 6)},
           ln_attrs({3, 4})},
          {"no affine", {make_input({5, 7}, dt, 7)}, ln_attrs({7}, 1e-3)},
          {"weight only", {make_input({3, 8}, dt, 8), make_input({8}, dt, 9)}, ln_attrs({8})},
          {"1-d", {make_input({10}, dt, 10), make_input({10}, dt, 11), make_input({10}, dt, 12)}, ln_attrs({10})},
          {"empty rows", {make_input({3, 0, 4}, dt, 13)}, ln_attrs({4})},
          {"large",
           {make_input({64, 1024}, dt, 14), make_input({1024}, dt, 15), make_input({1024}, dt, 16)},
           ln_attrs({1024})}};
}

std::vector<ErrorSample> layer_norm_errors() {
  const DType f = DType::Float32;
  return {
      {"shape does not end with normalized_shape",
       {make_input({4, 6}, f, 1)},
       ln_attrs({5}),
       ErrorKind::Shape,
       "normalized_shape"},
      {"weight shape", {make_input({4, 6}, f, 1), make_input({5}, f, 2)}, ln_attrs({6}), ErrorKind::Shape, "weight"},
      {"integer input", {make_input({4, 6}, DType::Int64, 3)}, ln_attrs({6}), ErrorKind::DType, "layer_norm"},
      {"empty normalized_shape", {make_input({4, 6}, f, 1)}, ln_attrs({}), ErrorKind::Value, "layer_norm"}};
}

Attrs gn_attrs(int64_t groups, double eps = 1e-5) { return GroupNormAttrs{.num_groups = groups, .eps = eps}.pack(); }

std::vector<Sample> group_norm_samples(DType dt) {
  return {
      {"NCHW affine", {make_input({2, 6, 4, 4}, dt, 1), make_input({6}, dt, 2), make_input({6}, dt, 3)}, gn_attrs(3)},
      {"NCL no affine", {make_input({3, 4, 5}, dt, 4)}, gn_attrs(2)},
      {"NC one channel per group", {make_input({2, 4}, dt, 5), make_input({4}, dt, 6), Tensor()}, gn_attrs(2)},
      {"empty batch", {make_input({0, 4, 3}, dt, 7)}, gn_attrs(2)},
      {"large", {make_input({4, 32, 16, 16}, dt, 8), make_input({32}, dt, 9), make_input({32}, dt, 10)}, gn_attrs(8)}};
}

Attrs drop_attrs(double p, bool training, int64_t seed = 1234, int64_t offset = 0) {
  return DropoutAttrs{.p = p, .training = training, .seed = seed, .offset = offset}.pack();
}

std::vector<Sample> dropout_samples(DType dt) {
  return {{"p=0.3", {make_input({100, 37}, dt, 1)}, drop_attrs(0.3, true)},
          {"p=0.3 offset", {make_input({10, 7}, dt, 2)}, drop_attrs(0.3, true, 99, 17)},
          {"p=0", {make_input({5, 6}, dt, 3)}, drop_attrs(0, true)},
          {"p=1", {make_input({5, 6}, dt, 4)}, drop_attrs(1, true)},
          {"eval", {make_input({5, 6}, dt, 5)}, drop_attrs(0.5, false)},
          {"0-d", {make_input({}, dt, 6)}, drop_attrs(0.5, true)},
          {"empty", {make_input({0, 5}, dt, 7)}, drop_attrs(0.5, true)},
          {"large", {make_input({300, 400}, dt, 8)}, drop_attrs(0.5, true, 7, 3)}};
}

// What the naive loops below compute: normalized values before the affine step, and the
// statistics.
struct Naive {
  std::vector<double> y, mean, invstd;
};

}  // namespace

DOPPEL_OP_SPEC(batch_norm_spec) {
  return OpSpec{.op = OpId::batch_norm,
                .dtypes = kFloatDTypes,
                .samples = batch_norm_samples,
                .errors = batch_norm_errors,
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(layer_norm_spec) {
  return OpSpec{.op = OpId::layer_norm,
                .dtypes = kFloatDTypes,
                .samples = layer_norm_samples,
                .errors = layer_norm_errors,
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(group_norm_spec) {
  return OpSpec{.op = OpId::group_norm,
                .dtypes = kFloatDTypes,
                .samples = group_norm_samples,
                .errors =
                    [] {
                      const DType f = DType::Float32;
                      return std::vector<ErrorSample>{
                          {"groups do not divide channels",
                           {make_input({2, 6, 3}, f, 1)},
                           gn_attrs(4),
                           ErrorKind::Value,
                           "num_groups"},
                          {"weight channel count",
                           {make_input({2, 6, 3}, f, 1), make_input({5}, f, 2)},
                           gn_attrs(3),
                           ErrorKind::Shape,
                           "weight"},
                          {"1-d input", {make_input({6}, f, 1)}, gn_attrs(3), ErrorKind::Shape, "group_norm"}};
                    },
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(dropout_spec) {
  return OpSpec{
      .op = OpId::dropout,
      .dtypes = kFloatDTypes,
      .samples = dropout_samples,
      .errors =
          [] {
            return std::vector<ErrorSample>{
                {"p above 1", {make_input({4}, DType::Float32, 1)}, drop_attrs(1.5, true), ErrorKind::Value, "dropout"},
                {"negative p",
                 {make_input({4}, DType::Float32, 1)},
                 drop_attrs(-0.1, true),
                 ErrorKind::Value,
                 "dropout"},
                {"integer input",
                 {make_input({4}, DType::Int32, 1)},
                 drop_attrs(0.5, true),
                 ErrorKind::DType,
                 "dropout"}};
          },
      .gradgradcheck = true};
}

namespace {

// x: contiguous double values of shape [N, C, S]; normalizes each channel over (N, S).
Naive naive_batch_norm(const std::vector<double>& x, int64_t N, int64_t C, int64_t S, double eps) {
  Naive r{std::vector<double>(x.size()), {}, {}};
  for (int64_t c = 0; c < C; ++c) {
    double s = 0, q = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) s += x[size_t((n * C + c) * S + i)];
    const double mean = s / double(N * S);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) q += std::pow(x[size_t((n * C + c) * S + i)] - mean, 2);
    const double invstd = 1 / std::sqrt(q / double(N * S) + eps);
    r.mean.push_back(mean);
    r.invstd.push_back(invstd);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i)
        r.y[size_t((n * C + c) * S + i)] = (x[size_t((n * C + c) * S + i)] - mean) * invstd;
  }
  return r;
}

// Normalizes each of the `blocks` consecutive runs of x.size() / blocks values.
Naive naive_blocks(const std::vector<double>& x, int64_t blocks, double eps) {
  const int64_t len = int64_t(x.size()) / blocks;
  return naive_batch_norm(x, 1, blocks, len, eps);
}

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

void require_near(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  REQUIRE(a.size() == b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    INFO("element " << k << ": " << a[k] << " vs " << b[k]);
    REQUIRE(std::fabs(a[k] - b[k]) <= tol * (1 + std::fabs(b[k])));
  }
}

}  // namespace

TEST_CASE("batch_norm matches a naive loop, on the reference and on oneDNN", "[ops][nn]") {
  const int64_t N = 3, C = 2, S = 6;
  for (DType dt : {DType::Float64, DType::Float32}) {
    for (Backend be : {Backend::Reference, Backend::OneDNN}) {
      if (dt == DType::Float64 && be == Backend::OneDNN) continue;  // oneDNN has no f64 batch norm
      const Tensor x = make_input({N, C, 2, 3}, dt, 5);
      const Tensor w = tensor(std::vector<double>{1.5, -0.5}).to(dt), b = tensor(std::vector<double>{0.25, 2}).to(dt);
      OpOutputs o;
      {
        ForceBackendGuard g(be);
        o = dispatch(OpId::batch_norm, {x, w, b, Tensor(), Tensor()}, bn_attrs(true, 0.1, 1e-5));
        REQUIRE(last_selected_backend() == be);
      }
      const Naive r = naive_batch_norm(values(x), N, C, S, 1e-5);
      std::vector<double> want(r.y);
      for (size_t k = 0; k < want.size(); ++k) {
        const size_t c = (k / size_t(S)) % size_t(C);
        want[k] = want[k] * (c == 0 ? 1.5 : -0.5) + (c == 0 ? 0.25 : 2);
      }
      const double tol = dt == DType::Float64 ? 1e-12 : 1e-5;
      require_near(values(o[0]), want, tol);
      require_near(values(o[1]), r.mean, tol);
      require_near(values(o[2]), r.invstd, tol);
      CHECK(o[3].shape() == Shape{0});  // no running stats given
    }
  }
}

TEST_CASE("batch_norm updates running stats with the unbiased variance, eval uses them", "[ops][nn]") {
  // Channel 0: {1, 2, 3, 6}, channel 1: {0, 0, 4, 4} as [N=2, C=2, S=2].
  const Tensor x = tensor(std::vector<float>{1, 2, 0, 0, 3, 6, 4, 4}, {2, 2, 2});
  Tensor rm = tensor(std::vector<float>{0.5f, -1.f}), rv = tensor(std::vector<float>{2.f, 1.f});
  const Tensor y = batch_norm(x, rm, rv, {}, {}, /*training=*/true, /*momentum=*/0.1, 1e-5);
  // means 3 and 2; unbiased variances (4+1+0+9)/3 = 14/3 and (4+4+4+4)/3 = 16/3.
  const std::vector<float> rmv = rm.to_vector<float>(), rvv = rv.to_vector<float>();
  CHECK(rmv[0] == Catch::Approx(0.9 * 0.5 + 0.1 * 3));
  CHECK(rmv[1] == Catch::Approx(0.9 * -1 + 0.1 * 2));
  CHECK(rvv[0] == Catch::Approx(0.9 * 2 + 0.1 * 14.0 / 3));
  CHECK(rvv[1] == Catch::Approx(0.9 * 1 + 0.1 * 16.0 / 3));
  // Training output uses the biased variance (14/4 for channel 0): (1 - 3) / sqrt(3.5 + eps).
  CHECK(y.to_vector<float>()[0] == Catch::Approx(-2 / std::sqrt(3.5 + 1e-5)));

  // Eval: (x - running_mean) / sqrt(running_var + eps) * w + b, and no update.
  const Tensor w = tensor(std::vector<float>{2.f, 1.f}), b = tensor(std::vector<float>{0.f, 1.f});
  const std::vector<float> before = rm.to_vector<float>();
  const Tensor e = batch_norm(x, rm, rv, w, b, /*training=*/false);
  CHECK(rm.to_vector<float>() == before);
  CHECK(e.to_vector<float>()[0] == Catch::Approx((1 - rmv[0]) / std::sqrt(rvv[0] + 1e-5) * 2));
  CHECK(e.to_vector<float>()[2] == Catch::Approx((0 - rmv[1]) / std::sqrt(rvv[1] + 1e-5) * 1 + 1));
  // The eval op reports the running statistics it used.
  const OpOutputs o = dispatch(OpId::batch_norm, {x, w, b, rm, rv}, bn_attrs(false));
  CHECK(o[1].to_vector<float>() == rm.to_vector<float>());
  CHECK(o[2].to_vector<float>()[1] == Catch::Approx(1 / std::sqrt(rvv[1] + 1e-5)));
}

TEST_CASE("layer_norm matches a naive loop, on the reference and on oneDNN", "[ops][nn]") {
  const Tensor x = make_input({3, 2, 4}, DType::Float32, 9);
  const Tensor w = make_input({2, 4}, DType::Float32, 10), b = make_input({2, 4}, DType::Float32, 11);
  const Naive r = naive_blocks(values(x), 3, 1e-5);
  const std::vector<double> wv = values(w), bv = values(b);
  std::vector<double> want(r.y);
  for (size_t k = 0; k < want.size(); ++k) want[k] = want[k] * wv[k % 8] + bv[k % 8];
  for (Backend be : {Backend::Reference, Backend::OneDNN}) {
    ForceBackendGuard g(be);
    const OpOutputs o = dispatch(OpId::layer_norm, {x, w, b}, ln_attrs({2, 4}));
    REQUIRE(last_selected_backend() == be);
    require_near(values(o[0]), want, 1e-5);
    CHECK(o[1].shape() == Shape{3, 1, 1});
    require_near(values(o[1]), r.mean, 1e-5);
    require_near(values(o[2]), r.invstd, 1e-5);
  }
  // The eager function picks oneDNN for float32.
  layer_norm(x, {2, 4}, w, b);
  CHECK(last_selected_backend() == Backend::OneDNN);
}

TEST_CASE("16-bit norms compute in float and round once", "[ops][nn]") {
  for (DType dt : {DType::BFloat16, DType::Float16}) {
    const Tensor x = make_input({4, 2, 8}, dt, 21);
    const Naive ln = naive_blocks(values(x), 4, 1e-5);
    const Naive bn = naive_batch_norm(values(x), 4, 2, 8, 1e-5);
    const Naive gn = naive_blocks(values(x), 4 * 2, 1e-5);
    ForceBackendGuard g(Backend::Reference);
    const double tol = dt == DType::BFloat16 ? 8e-3 : 1e-3;  // one rounding of the output
    require_near(values(layer_norm(x, {2, 8})), ln.y, tol);
    require_near(values(group_norm(x, 2)), gn.y, tol);
    const OpOutputs o = dispatch(OpId::batch_norm, {x}, bn_attrs(true));
    require_near(values(o[0]), bn.y, tol);
    CHECK(o[1].dtype() == DType::Float32);
    require_near(values(o[1]), bn.mean, 1e-6);
  }
}

TEST_CASE("group_norm matches a naive loop", "[ops][nn]") {
  const Tensor x = make_input({2, 6, 3}, DType::Float64, 12);
  const Tensor w = make_input({6}, DType::Float64, 13), b = make_input({6}, DType::Float64, 14);
  const Naive r = naive_blocks(values(x), 2 * 3, 1e-5);  // 3 groups of 2 channels x 3 values
  const std::vector<double> wv = values(w), bv = values(b);
  std::vector<double> want(r.y);
  for (size_t k = 0; k < want.size(); ++k) want[k] = want[k] * wv[(k / 3) % 6] + bv[(k / 3) % 6];
  const OpOutputs o = dispatch(OpId::group_norm, {x, w, b}, gn_attrs(3));
  require_near(values(o[0]), want, 1e-12);
  CHECK(o[1].shape() == Shape{2, 3});
  require_near(values(o[1]), r.mean, 1e-12);
  require_near(values(o[2]), r.invstd, 1e-12);
  require_near(values(group_norm(x, 3, w, b)), want, 1e-12);
}

TEST_CASE("dropout: reproducible, scaled, keeps about 1 - p", "[ops][nn]") {
  const Tensor x = full({100000}, 2.0);
  Generator g1(42), g2(42), g3(43);
  const Tensor a = dropout(x, 0.3, true, &g1), b = dropout(x, 0.3, true, &g2), c = dropout(x, 0.3, true, &g3);
  const std::vector<float> av = a.to_vector<float>();
  CHECK(av == b.to_vector<float>());
  CHECK(av != c.to_vector<float>());
  // A second draw from the same generator gives a different mask.
  CHECK(dropout(x, 0.3, true, &g1).to_vector<float>() != av);
  int64_t kept = 0;
  for (float v : av) {
    REQUIRE((v == 0.f || v == Catch::Approx(2.0 / 0.7)));
    kept += v != 0.f;
  }
  CHECK(double(kept) / 1e5 == Catch::Approx(0.7).margin(0.01));
  // The mask output agrees with the values and the draw matches the uniform factory's stream.
  const OpOutputs o = dispatch(OpId::dropout, {x}, drop_attrs(0.3, true, 5, 8));
  const Tensor u = dispatch1(
      OpId::uniform, {},
      RandomOpAttrs{.shape = {100000}, .a = 0, .b = 1, .dtype = DType::Float32, .device = kCPU, .seed = 5, .offset = 8}
          .pack());
  const std::vector<bool> mask = o[1].to_vector<bool>();
  const std::vector<float> uv = u.to_vector<float>();
  for (size_t k = 0; k < mask.size(); ++k) REQUIRE(mask[k] == (uv[k] >= 0.3f));

  CHECK(dropout(x, 0.0, true).to_vector<float>() == x.to_vector<float>());
  for (float v : dropout(x, 1.0, true).to_vector<float>()) REQUIRE(v == 0.f);
  CHECK(dropout(x, 0.5, false).is_same(x));
  CHECK_THROWS_AS(dropout(x, 1.5, false), ValueError);
}

}  // namespace doppel::testing
