// Gradients of the normalization, dropout and indexing ops against independent values:
// PyTorch's batch-norm backward formulas evaluated in plain double loops, dropout's mask,
// embedding's padding row, accumulation of repeated indices; and the two paths of the norm
// rules (fused backward op vs composed ops under create_graph) against each other.
#include <catch2/catch_approx.hpp>
#include <cmath>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "support/gradcheck.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

void require_near(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  REQUIRE(a.size() == b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    INFO("element " << k << ": " << a[k] << " vs " << b[k]);
    REQUIRE(std::fabs(a[k] - b[k]) <= tol * (1 + std::fabs(b[k])));
  }
}

struct BnGrads {
  std::vector<double> dx, dw, db;
};

// PyTorch's batch_norm backward (aten/src/ATen/native/Normalization.cpp) on [N, C, S] doubles:
// training: dx = w * invstd / n * (n * dy - sum(dy) - xhat * sum(dy * xhat)); eval: dx = w *
// invstd * dy with the running statistics; dw = sum(dy * xhat), db = sum(dy).
BnGrads torch_batch_norm_backward(const std::vector<double>& x, const std::vector<double>& dy,
                                  const std::vector<double>& w, const std::vector<double>& rm,
                                  const std::vector<double>& rv, int64_t N, int64_t C, int64_t S, bool training,
                                  double eps) {
  BnGrads r{std::vector<double>(x.size()), std::vector<double>(size_t(C)), std::vector<double>(size_t(C))};
  const double n = double(N * S);
  for (int64_t c = 0; c < C; ++c) {
    const auto at = [&](int64_t i, int64_t s) { return size_t((i * C + c) * S + s); };
    double mean = rm[size_t(c)], var = rv[size_t(c)];
    if (training) {
      double s1 = 0, s2 = 0;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t s = 0; s < S; ++s) s1 += x[at(i, s)];
      mean = s1 / n;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t s = 0; s < S; ++s) s2 += (x[at(i, s)] - mean) * (x[at(i, s)] - mean);
      var = s2 / n;
    }
    const double invstd = 1 / std::sqrt(var + eps);
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t s = 0; s < S; ++s) {
        sum_dy += dy[at(i, s)];
        sum_dy_xhat += dy[at(i, s)] * (x[at(i, s)] - mean) * invstd;
      }
    r.dw[size_t(c)] = sum_dy_xhat;
    r.db[size_t(c)] = sum_dy;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t s = 0; s < S; ++s) {
        const double xhat = (x[at(i, s)] - mean) * invstd;
        r.dx[at(i, s)] = training ? w[size_t(c)] * invstd / n * (n * dy[at(i, s)] - sum_dy - xhat * sum_dy_xhat)
                                  : w[size_t(c)] * invstd * dy[at(i, s)];
      }
  }
  return r;
}

void check_batch_norm(bool training, DType dt, double tol) {
  const int64_t N = 3, C = 4, S = 5;
  const double eps = 1e-5;
  const Tensor x0 = make_input({N, C, S}, DType::Float64, 1), dy0 = make_input({N, C, S}, DType::Float64, 2);
  const Tensor w0 = make_input({C}, DType::Float64, 3), b0 = make_input({C}, DType::Float64, 4);
  const Tensor rm0 = make_input({C}, DType::Float64, 5), rv0 = make_input({C}, DType::Float64, 6, 0.5, 1.5);
  const BnGrads want =
      torch_batch_norm_backward(x0.to_vector<double>(), dy0.to_vector<double>(), w0.to_vector<double>(),
                                rm0.to_vector<double>(), rv0.to_vector<double>(), N, C, S, training, eps);
  const Tensor x = x0.to(dt).set_requires_grad(true), w = w0.to(dt).set_requires_grad(true),
               b = b0.to(dt).set_requires_grad(true);
  const Tensor rm = rm0.to(dt), rv = rv0.to(dt);
  Tensor y = batch_norm(x, rm, rv, w, b, training, 0.1, eps);
  y.backward(dy0.to(dt));
  require_near(x.grad().to_vector<double>(), want.dx, tol);
  require_near(w.grad().to_vector<double>(), want.dw, tol);
  require_near(b.grad().to_vector<double>(), want.db, tol);
  // The running statistics are buffers: updating them must not pull them into the graph.
  CHECK(!rm.requires_grad());
}

}  // namespace

TEST_CASE("batch_norm gradients match PyTorch's formulas (training and eval)", "[grad_nn]") {
  for (bool training : {true, false}) {
    INFO("training " << training);
    check_batch_norm(training, DType::Float64, 1e-10);
    check_batch_norm(training, DType::Float32, 1e-4);  // the oneDNN backward
  }
}

TEST_CASE("norm backward ops: float32 runs on oneDNN and matches the reference", "[grad_nn]") {
  const DType f = DType::Float32;
  const Tensor x = make_input({4, 8, 6}, f, 1), g = make_input({4, 8, 6}, f, 2), w = make_input({8}, f, 3);
  for (bool training : {true, false}) {
    const OpOutputs fw =
        dispatch(OpId::batch_norm, {x, w, Tensor(), make_input({8}, f, 4), make_input({8}, f, 5, 0.5, 1.5)},
                 BatchNormAttrs{.training = training, .momentum = 0.1, .eps = 1e-5}.pack());
    const Attrs a = BatchNormBackwardAttrs{.training = training, .output_mask = {1, 1, 1}}.pack();
    const OpOutputs fast = dispatch(OpId::batch_norm_backward, {g, x, fw[1], fw[2], w}, a);
    CHECK(last_selected_backend() == Backend::OneDNN);
    ForceBackendGuard ref(Backend::Reference);
    const OpOutputs slow = dispatch(OpId::batch_norm_backward, {g, x, fw[1], fw[2], w}, a);
    for (int k = 0; k < 3; ++k) DOPPEL_REQUIRE_CLOSE(fast[k], slow[k], (Tolerance{1e-4, 1e-4}));
  }
  const Tensor lw = make_input({6}, f, 6);
  const OpOutputs fw = dispatch(OpId::layer_norm, {x, lw}, LayerNormAttrs{.normalized_shape = {6}, .eps = 1e-5}.pack());
  const Attrs a = LayerNormBackwardAttrs{.normalized_shape = {6}, .output_mask = {1, 1, 1}}.pack();
  const OpOutputs fast = dispatch(OpId::layer_norm_backward, {g, x, fw[1], fw[2], lw}, a);
  CHECK(last_selected_backend() == Backend::OneDNN);
  ForceBackendGuard ref(Backend::Reference);
  const OpOutputs slow = dispatch(OpId::layer_norm_backward, {g, x, fw[1], fw[2], lw}, a);
  for (int k = 0; k < 3; ++k) DOPPEL_REQUIRE_CLOSE(fast[k], slow[k], (Tolerance{1e-4, 1e-4}));
}

TEST_CASE("norm rules: the fused backward ops and the composed create_graph path agree", "[grad_nn]") {
  const DType d = DType::Float64;
  using Fn = std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>;
  const std::vector<std::pair<const char*, Fn>> cases = {
      {"batch_norm train",
       [](const Tensor& x, const Tensor& w, const Tensor& b) { return batch_norm(x, Tensor(), Tensor(), w, b, true); }},
      {"batch_norm eval",
       [](const Tensor& x, const Tensor& w, const Tensor& b) {
         return batch_norm(x, make_input({4}, DType::Float64, 9), make_input({4}, DType::Float64, 10, 0.5, 1.5), w, b,
                           false);
       }},
      {"layer_norm",
       [](const Tensor& x, const Tensor& w, const Tensor& b) {
         return layer_norm(x, {3, 4}, w, b);
       }},
      {"group_norm", [](const Tensor& x, const Tensor& w, const Tensor& b) { return group_norm(x, 2, w, b); }}};
  for (const auto& [name, f] : cases) {
    INFO(name);
    const Tensor x = grad_input(make_input({2, 4, 3, 4}, d, 1));
    const bool ln = std::string(name) == "layer_norm";
    const Tensor w = grad_input(make_input(ln ? IntList{3, 4} : IntList{4}, d, 2));
    const Tensor b = grad_input(make_input(ln ? IntList{3, 4} : IntList{4}, d, 3));
    const Tensor g = make_input({2, 4, 3, 4}, d, 4);
    const std::vector<Tensor> fused = grad({f(x, w, b)}, {x, w, b}, {g});
    const std::vector<Tensor> composed = grad({f(x, w, b)}, {x, w, b}, {g}, std::nullopt, /*create_graph=*/true);
    for (size_t k = 0; k < 3; ++k) {
      // grad_bias = sum(grad_out) depends on nothing that requires grad; the others do.
      CHECK(composed[k].requires_grad() == (k < 2));
      DOPPEL_REQUIRE_CLOSE(fused[k], composed[k].detach(), (Tolerance{1e-10, 1e-10}));
    }
  }
}

TEST_CASE("dropout's gradient uses the forward mask and scale", "[grad_nn]") {
  const double p = 0.4;
  Generator gen(77);
  const Tensor x = make_input({20, 30}, DType::Float32, 1, 0.5, 1.5).set_requires_grad(true);  // no zeros
  const Tensor y = dropout(x, p, true, &gen);
  y.backward(ones({20, 30}));
  const std::vector<float> yv = y.to_vector<float>(), gv = x.grad().to_vector<float>();
  int kept = 0;
  for (size_t k = 0; k < yv.size(); ++k) {
    const float want = yv[k] != 0 ? float(1 / (1 - p)) : 0.f;
    REQUIRE(gv[k] == Catch::Approx(want));
    kept += yv[k] != 0;
  }
  CHECK(kept > 250);
  CHECK(kept < 470);  // about 360 of 600
}

TEST_CASE("embedding: padding_idx gets no gradient and repeated indices accumulate", "[grad_nn]") {
  const Tensor w = make_input({5, 3}, DType::Float64, 1).set_requires_grad(true);
  const Tensor idx = tensor(std::vector<int64_t>{1, 1, 3, 2, 1, 2}, {2, 3});
  const Tensor gy = make_input({2, 3, 3}, DType::Float64, 2);
  embedding(idx, w, 2).backward(gy);
  const std::vector<double> g = w.grad().to_vector<double>(), v = gy.to_vector<double>();
  const auto row = [&](int64_t r) { return std::vector<double>(g.begin() + r * 3, g.begin() + r * 3 + 3); };
  const auto grad_row = [&](std::initializer_list<int> positions) {
    std::vector<double> s(3, 0.0);
    for (int pos : positions)
      for (int d = 0; d < 3; ++d) s[size_t(d)] += v[size_t(pos * 3 + d)];
    return s;
  };
  require_near(row(0), {0, 0, 0}, 0);
  require_near(row(1), grad_row({0, 1, 4}), 1e-12);
  require_near(row(2), {0, 0, 0}, 0);  // padding
  require_near(row(3), grad_row({2}), 1e-12);
  require_near(row(4), {0, 0, 0}, 0);
}

TEST_CASE("index_select and gather gradients accumulate repeated indices", "[grad_nn]") {
  const Tensor x = make_input({4, 2}, DType::Float64, 1).set_requires_grad(true);
  index_select(x, 0, tensor(std::vector<int64_t>{3, 0, 3, 3})).backward(ones({4, 2}, {.dtype = DType::Float64}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 1, 0, 0, 0, 0, 3, 3});
  const Tensor y = make_input({2, 3}, DType::Float64, 2).set_requires_grad(true);
  gather(y, 1, tensor(std::vector<int64_t>{2, 2, 0, 1}, {2, 2})).backward(ones({2, 2}, {.dtype = DType::Float64}));
  CHECK(y.grad().to_vector<double>() == std::vector<double>{0, 0, 2, 1, 1, 0});
}

TEST_CASE("cat and masked_fill gradients", "[grad_nn]") {
  const Tensor a = make_input({2, 2}, DType::Float64, 1).set_requires_grad(true);
  const Tensor b = make_input({2, 1}, DType::Float64, 2).set_requires_grad(true);
  const Tensor g = tensor(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  cat({a, b}, 1).backward(g);
  CHECK(a.grad().to_vector<double>() == std::vector<double>{1, 2, 4, 5});
  CHECK(b.grad().to_vector<double>() == std::vector<double>{3, 6});
  const Tensor x = make_input({3}, DType::Float64, 3).set_requires_grad(true);
  const Tensor mask = eq(tensor(std::vector<int64_t>{1, 0, 0, 1, 1, 0}, {2, 3}), 1);
  sum(masked_fill(x, mask, 7.0)).backward();  // x broadcast over 2 rows
  // Column 0 is filled in both rows, column 1 in one, column 2 in none.
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 1, 2});
}

}  // namespace doppel::testing
