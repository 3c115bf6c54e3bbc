// MultiheadAttention and TransformerEncoderLayer against attention written out in double
// loops here from the modules' parameters.
#include <cmath>
#include <limits>

#include "doppel/nn/nn.h"
#include "support/gradcheck.h"
#include "support/test_util.h"

namespace doppel::testing {

namespace {

using Vec = std::vector<double>;

// rows x in  ->  rows x out with w [out, in] (+ b).
Vec lin(const Vec& x, int64_t rows, int64_t in, const Vec& w, const Vec& b, int64_t out, int64_t w_row0 = 0) {
  Vec y(size_t(rows * out));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = b.empty() ? 0.0 : b[size_t(w_row0 + o)];
      for (int64_t i = 0; i < in; ++i) acc += x[size_t(r * in + i)] * w[size_t((w_row0 + o) * in + i)];
      y[size_t(r * out + o)] = acc;
    }
  return y;
}

Vec layer_norm_rows(const Vec& x, int64_t rows, int64_t e, const Vec& w, const Vec& b, double eps) {
  Vec y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < e; ++i) m += x[size_t(r * e + i)] / double(e);
    for (int64_t i = 0; i < e; ++i) v += (x[size_t(r * e + i)] - m) * (x[size_t(r * e + i)] - m) / double(e);
    for (int64_t i = 0; i < e; ++i)
      y[size_t(r * e + i)] = (x[size_t(r * e + i)] - m) / std::sqrt(v + eps) * w[size_t(i)] + b[size_t(i)];
  }
  return y;
}

struct HandAttention {
  Vec out;      // [N, L, E]
  Vec weights;  // [N, L, S], averaged over heads
};

// Batch-first attention. `mask(n, h, l, s)` returns the additive mask (-inf for masked keys).
template <class Mask>
HandAttention hand_attention(const nn::MultiheadAttention& m, const Vec& q, const Vec& k, const Vec& v, int64_t n,
                             int64_t l, int64_t s, Mask mask) {
  const int64_t e = m.embed_dim, h = m.num_heads, d = m.head_dim;
  const Vec w = m.in_proj_weight.to_vector<double>(), b = m.in_proj_bias.to_vector<double>();
  const Vec wo = m.out_proj->weight.to_vector<double>(), bo = m.out_proj->bias.to_vector<double>();
  HandAttention r{Vec(size_t(n * l * e)), Vec(size_t(n * l * s), 0.0)};
  for (int64_t b_ = 0; b_ < n; ++b_) {
    const Vec qb(q.begin() + b_ * l * e, q.begin() + (b_ + 1) * l * e);
    const Vec kb(k.begin() + b_ * s * e, k.begin() + (b_ + 1) * s * e);
    const Vec vb(v.begin() + b_ * s * e, v.begin() + (b_ + 1) * s * e);
    const Vec qp = lin(qb, l, e, w, b, e, 0), kp = lin(kb, s, e, w, b, e, e), vp = lin(vb, s, e, w, b, e, 2 * e);
    Vec concat(size_t(l * e), 0.0);
    for (int64_t hh = 0; hh < h; ++hh)
      for (int64_t i = 0; i < l; ++i) {
        Vec sc(static_cast<size_t>(s));
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < s; ++j) {
          double dot = 0;
          for (int64_t dd = 0; dd < d; ++dd) dot += qp[size_t(i * e + hh * d + dd)] * kp[size_t(j * e + hh * d + dd)];
          sc[size_t(j)] = dot / std::sqrt(double(d)) + mask(b_, hh, i, j);
          mx = std::max(mx, sc[size_t(j)]);
        }
        double z = 0;
        for (double& x : sc) z += (x = std::exp(x - mx));
        for (int64_t j = 0; j < s; ++j) {
          const double p = sc[size_t(j)] / z;
          r.weights[size_t((b_ * l + i) * s + j)] += p / double(h);
          for (int64_t dd = 0; dd < d; ++dd) concat[size_t(i * e + hh * d + dd)] += p * vp[size_t(j * e + hh * d + dd)];
        }
      }
    const Vec o = lin(concat, l, e, wo, bo, e);
    std::copy(o.begin(), o.end(), r.out.begin() + b_ * l * e);
  }
  return r;
}

Tensor as_tensor(const Vec& v, IntList shape) { return tensor(v, shape); }

constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("nn::MultiheadAttention matches hand-written attention, with masks", "[nn_module]") {
  manual_seed(21);
  nn::MultiheadAttention mha(4, 2, 0.0, true, true, DType::Float64);
  {
    // Non-zero biases so the test sees them.
    NoGradGuard ng;
    copy_(mha.in_proj_bias, make_input({12}, DType::Float64, 1));
    copy_(mha.out_proj->bias, make_input({4}, DType::Float64, 2));
  }
  const int64_t n = 2, l = 3, s = 4;
  Tensor q = make_input({n, l, 4}, DType::Float64, 3), k = make_input({n, s, 4}, DType::Float64, 4),
         v = make_input({n, s, 4}, DType::Float64, 5);
  const Vec qv = q.to_vector<double>(), kv = k.to_vector<double>(), vv = v.to_vector<double>();
  const Tolerance tol{1e-10, 1e-12};

  SECTION("no mask") {
    auto [out, w] = mha.forward(q, k, v);
    const auto ref = hand_attention(mha, qv, kv, vv, n, l, s, [](auto...) { return 0.0; });
    DOPPEL_REQUIRE_CLOSE(out, as_tensor(ref.out, {n, l, 4}), tol);
    DOPPEL_REQUIRE_CLOSE(w, as_tensor(ref.weights, {n, l, s}), tol);
    auto [out2, none] = mha.forward(q, k, v, {}, /*need_weights=*/false);
    CHECK(!none.defined());
    DOPPEL_REQUIRE_CLOSE(out2, out, tol);
    auto [out3, per_head] = mha.forward(q, k, v, {}, true, {}, /*average_attn_weights=*/false);
    CHECK(per_head.shape() == Shape{n, 2, l, s});
    DOPPEL_REQUIRE_CLOSE(mean(per_head, {1}), w, tol);
  }
  SECTION("bool key padding and attention masks") {
    // Batch 0 ignores key 3, batch 1 ignores keys 0 and 1; query i may not see key i + 1.
    Tensor kpm = tensor(std::vector<uint8_t>{0, 0, 0, 1, 1, 1, 0, 0}, {n, s}).to(DType::Bool);
    Tensor am = tensor(std::vector<uint8_t>{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, {l, s}).to(DType::Bool);
    auto [out, w] = mha.forward(q, k, v, kpm, true, am);
    const auto mask = [](int64_t b, int64_t, int64_t i, int64_t j) {
      const bool pad = b == 0 ? j == 3 : j <= 1;
      return (pad || j == i + 1) ? -kInf : 0.0;
    };
    const auto ref = hand_attention(mha, qv, kv, vv, n, l, s, mask);
    DOPPEL_REQUIRE_CLOSE(out, as_tensor(ref.out, {n, l, 4}), tol);
    DOPPEL_REQUIRE_CLOSE(w, as_tensor(ref.weights, {n, l, s}), tol);
    CHECK(w.to_vector<double>()[3] == 0.0);  // batch 0, query 0, key 3 (padded)
  }
  SECTION("float per-head attention mask") {
    Tensor am = make_input({n * 2, l, s}, DType::Float64, 8);
    const Vec amv = am.to_vector<double>();
    auto [out, w] = mha.forward(q, k, v, {}, true, am);
    const auto ref = hand_attention(mha, qv, kv, vv, n, l, s, [&](int64_t b, int64_t hh, int64_t i, int64_t j) {
      return amv[size_t(((b * 2 + hh) * l + i) * s + j)];
    });
    DOPPEL_REQUIRE_CLOSE(out, as_tensor(ref.out, {n, l, 4}), tol);
    DOPPEL_REQUIRE_CLOSE(w, as_tensor(ref.weights, {n, l, s}), tol);
  }
  SECTION("sequence-first and unbatched layouts agree with batch-first") {
    auto [out, w] = mha.forward(q, k, v);
    nn::MultiheadAttention seq_first(4, 2, 0.0, true, /*batch_first=*/false, DType::Float64);
    seq_first.load_state_dict(mha.state_dict());
    auto [out_sf, w_sf] = seq_first.forward(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1));
    CHECK(out_sf.shape() == Shape{l, n, 4});
    DOPPEL_REQUIRE_CLOSE(out_sf.transpose(0, 1).contiguous(), out, tol);
    DOPPEL_REQUIRE_CLOSE(w_sf, w, tol);
    auto [out_u, w_u] = mha.forward(q.select(0, 1), k.select(0, 1), v.select(0, 1));
    CHECK(out_u.shape() == Shape{l, 4});
    DOPPEL_REQUIRE_CLOSE(out_u, out.select(0, 1).contiguous(), tol);
    DOPPEL_REQUIRE_CLOSE(w_u, w.select(0, 1).contiguous(), tol);
  }
  SECTION("errors") {
    CHECK_THROWS_AS(mha.forward(q, k, make_input({n, s + 1, 4}, DType::Float64, 1)), ShapeError);
    CHECK_THROWS_AS(mha.forward(q, k, v, ones({n, s + 1}).to(DType::Bool)), ShapeError);
    CHECK_THROWS_AS(mha.forward(q, k, v, {}, true, ones({l, s}, {.dtype = DType::Int32})), DTypeError);
    CHECK_THROWS_AS(mha(q), ValueError);
    CHECK_THROWS_AS(nn::MultiheadAttention(6, 4), ValueError);
  }
}

TEST_CASE("nn::MultiheadAttention gradients match finite differences", "[nn_module]") {
  manual_seed(8);
  nn::MultiheadAttention mha(4, 2, 0.0, true, true, DType::Float64);
  Tensor kpm = tensor(std::vector<uint8_t>{0, 1, 0, 0, 0, 0}, {2, 3}).to(DType::Bool);
  const auto f = [&](const std::vector<Tensor>& in) {
    auto [out, w] = mha.forward(in[0], in[1], in[2], kpm);
    return std::vector<Tensor>{out, w};
  };
  const std::vector<Tensor> in = {grad_input(make_input({2, 2, 4}, DType::Float64, 1)),
                                  grad_input(make_input({2, 3, 4}, DType::Float64, 2)),
                                  grad_input(make_input({2, 3, 4}, DType::Float64, 3))};
  const auto r = gradcheck(f, in);
  INFO(r.value_or(""));
  CHECK(!r);
  // Parameters get gradients too, and the masked key's value row none.
  sum(mha.forward(in[0], in[1], in[2], kpm).first).backward();
  for (const Tensor& p : mha.parameters()) CHECK(p.grad().defined());
  CHECK(in[2].grad().select(0, 0).select(0, 1).abs().sum().item<double>() == 0.0);
}

TEST_CASE("nn::MultiheadAttention dropout is active only in training and follows the seed", "[nn_module]") {
  nn::MultiheadAttention mha(8, 2, 0.5);
  Tensor x = make_input({2, 6, 8}, DType::Float32, 1);
  manual_seed(1);
  auto [a, wa] = mha.forward(x, x, x);
  manual_seed(1);
  auto [b, wb] = mha.forward(x, x, x);
  CHECK(a.to_vector<float>() == b.to_vector<float>());
  int64_t dropped = 0;
  for (float v : wa.to_vector<float>()) dropped += v == 0.0f;
  CHECK(dropped > 0);  // averaged weights: zero only where both heads dropped the entry
  mha.eval();
  auto [c, wc] = mha.forward(x, x, x);
  DOPPEL_REQUIRE_CLOSE(sum(wc, {-1}), ones({2, 6}), (Tolerance{1e-5, 1e-5}));
}

TEST_CASE("nn::TransformerEncoderLayer matches a composition from its parameters", "[nn_module]") {
  for (const bool norm_first : {false, true})
    for (const std::string act : {"relu", "gelu"}) {
      DYNAMIC_SECTION("norm_first=" << norm_first << " activation=" << act) {
        manual_seed(33);
        nn::TransformerEncoderLayer layer(nn::TransformerEncoderLayerOptions{.d_model = 4,
                                                                             .nhead = 2,
                                                                             .dim_feedforward = 6,
                                                                             .dropout = 0.3,
                                                                             .activation = act,
                                                                             .layer_norm_eps = 1e-5,
                                                                             .norm_first = norm_first,
                                                                             .dtype = DType::Float64});
        {
          NoGradGuard ng;
          for (const Tensor& p : layer.parameters()) copy_(p, make_input(p.shape(), DType::Float64, p.numel()) * 0.5);
        }
        layer.eval();  // dropout off
        const int64_t n = 2, s = 3, e = 4;
        Tensor x = make_input({n, s, e}, DType::Float64, 77);
        Tensor kpm = tensor(std::vector<uint8_t>{0, 0, 1, 0, 0, 0}, {n, s}).to(DType::Bool);
        const auto mask = [](int64_t b, int64_t, int64_t, int64_t j) { return b == 0 && j == 2 ? -kInf : 0.0; };

        const auto vec = [](const Tensor& t) { return t.to_vector<double>(); };
        const auto sa = [&](const Vec& in) { return hand_attention(*layer.self_attn, in, in, in, n, s, s, mask).out; };
        const auto ff = [&](const Vec& in) {
          Vec hdn = lin(in, n * s, e, vec(layer.linear1->weight), vec(layer.linear1->bias), 6);
          for (double& u : hdn) u = act == "relu" ? std::max(u, 0.0) : 0.5 * u * (1 + std::erf(u / std::sqrt(2.0)));
          return lin(hdn, n * s, 6, vec(layer.linear2->weight), vec(layer.linear2->bias), e);
        };
        const auto norm = [&](const nn::LayerNorm& ln, const Vec& in) {
          return layer_norm_rows(in, n * s, e, vec(ln.weight), vec(ln.bias), 1e-5);
        };
        const auto add = [](Vec a, const Vec& b) {
          for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
          return a;
        };
        Vec ref = vec(x);
        if (norm_first) {
          ref = add(ref, sa(norm(*layer.norm1, ref)));
          ref = add(ref, ff(norm(*layer.norm2, ref)));
        } else {
          ref = norm(*layer.norm1, add(ref, sa(ref)));
          ref = norm(*layer.norm2, add(ref, ff(ref)));
        }
        DOPPEL_REQUIRE_CLOSE(layer.forward(x, {}, kpm), as_tensor(ref, {n, s, e}), (Tolerance{1e-10, 1e-12}));
      }
    }
}

TEST_CASE("nn::TransformerEncoderLayer uses PyTorch's state dict names and trains", "[nn_module]") {
  manual_seed(4);
  nn::TransformerEncoderLayer layer(8, 2, 16, 0.1);
  std::vector<std::string> names;
  for (const auto& [k, t] : layer.state_dict()) names.push_back(k);
  CHECK(names == std::vector<std::string>{"self_attn.in_proj_weight", "self_attn.in_proj_bias",
                                          "self_attn.out_proj.weight", "self_attn.out_proj.bias", "linear1.weight",
                                          "linear1.bias", "linear2.weight", "linear2.bias", "norm1.weight",
                                          "norm1.bias", "norm2.weight", "norm2.bias"});
  // Training mode (dropout active): a backward pass reaches every parameter.
  Tensor x = make_input({2, 5, 8}, DType::Float32, 6);
  Tensor y = layer(x);
  CHECK(y.shape() == Shape{2, 5, 8});
  sum(y * y).backward();
  for (const auto& [k, p] : layer.named_parameters()) {
    INFO(k);
    REQUIRE(p.grad().defined());
    for (float g : p.grad().to_vector<float>()) REQUIRE(std::isfinite(g));
  }
  CHECK_THROWS_AS(nn::TransformerEncoderLayer(8, 2, 16, 0.1, "swish"), ValueError);
}

}  // namespace doppel::testing
