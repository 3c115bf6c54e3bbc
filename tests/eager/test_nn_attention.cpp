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

// Every parameter, in named_parameters order i, filled with 0.5 * sin(0.7 k + i) over its flat
// index k (as the PyTorch script below does).
void fill_sines(nn::Module& m) {
  NoGradGuard ng;
  int64_t i = 0;
  for (const auto& [name, p] : m.named_parameters()) {
    Vec v(size_t(p.numel()));
    for (size_t k = 0; k < v.size(); ++k) v[k] = 0.5 * std::sin(0.7 * double(k) + double(i));
    copy_(p, as_tensor(v, p.shape()));
    ++i;
  }
}

// x [L=3, N=2, E=4] = cos(0.3 k) over the flat index k.
Tensor cosine_input(DType dtype) {
  Vec v(24);
  for (size_t k = 0; k < v.size(); ++k) v[k] = std::cos(0.3 * double(k));
  return as_tensor(v, {3, 2, 4}).to(dtype);
}

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
  nn::MultiheadAttention mha(8, 2, 0.5, true, /*batch_first=*/true);
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
                                                                             .batch_first = true,
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

TEST_CASE("nn::MultiheadAttention and TransformerEncoderLayer default to PyTorch's (L, N, E) layout", "[nn_module]") {
  // PyTorch 1.13 (Debian's torch), float64: torch.nn.MultiheadAttention(4, 2) and
  // torch.nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0), eval(), parameters
  // filled as fill_sines, called on cosine_input (sequence first, PyTorch's default); the
  // flattened outputs and attention weights.
  const Vec torch_mha_out = {0.08013291291042338,  -0.45863865924156655, -0.12031821261944997, -0.9390744699831409,
                             -0.1046073467735066,  -0.2806098946444439,  -0.2710633115056207,  -0.8330324347465514,
                             -0.25306900506115343, -0.16741443408725215, -0.33591223681650184, -0.8240236829112124,
                             -0.08469362172495308, -0.34498056847641606, -0.16967406261741547, -0.9597241917267434,
                             0.1490167136902505,   -0.5722868912663396,  0.024961792983195286, -1.0991983718209288,
                             0.15407447857134093,  -0.5269923196473969,  -0.06545108647866338, -0.9741148736135794};
  const Vec torch_mha_weights = {0.20358125289211196, 0.4617360347208245,  0.33468271238706354, 0.5666725631333963,
                                 0.14934724215136208, 0.2839801947152415,  0.13120665505669174, 0.6032048554273115,
                                 0.26558848951599673, 0.31498693782897685, 0.19633276834358032, 0.4886802938274428,
                                 0.32993437771935136, 0.33354000200815065, 0.336525620272498,   0.2439751477636093,
                                 0.5943546702520925,  0.1616701819842981};
  const Vec torch_layer_out = {-0.8909464907320512, -0.3315973323922651,  0.554263820346372,  0.24265360664719582,
                               -0.8808262328783463, -0.4076881430338318,  0.573052155704131,  0.26086448682693925,
                               -0.8508710984838133, -0.4920148680914957,  0.6115754462752196, 0.25690001007282565,
                               -0.8549292812848556, -0.3577361010231635,  0.6047663562198332, 0.20046946532283083,
                               -0.8945177372279007, -0.23320128486293357, 0.5279917446288503, 0.21220599119305744,
                               -0.8975074456258677, -0.2920472291320054,  0.5380073212193706, 0.2374377795234272};

  SECTION("MultiheadAttention") {
    nn::MultiheadAttention seq_first(4, 2);  // every default: float32, sequence first
    CHECK_FALSE(seq_first.batch_first);
    fill_sines(seq_first);
    const Tensor x = cosine_input(DType::Float32);
    auto [out, w] = seq_first.forward(x, x, x);
    DOPPEL_REQUIRE_CLOSE(out, as_tensor(torch_mha_out, {3, 2, 4}).to(DType::Float32), (Tolerance{1e-5, 1e-6}));
    DOPPEL_REQUIRE_CLOSE(w, as_tensor(torch_mha_weights, {2, 3, 3}).to(DType::Float32), (Tolerance{1e-5, 1e-6}));

    nn::MultiheadAttention batch_first(4, 2, 0.0, true, /*batch_first=*/true, DType::Float64);
    fill_sines(batch_first);
    const Tensor xb = cosine_input(DType::Float64).transpose(0, 1);
    auto [out_b, w_b] = batch_first.forward(xb, xb, xb);
    DOPPEL_REQUIRE_CLOSE(out_b.transpose(0, 1), as_tensor(torch_mha_out, {3, 2, 4}), (Tolerance{1e-12, 1e-14}));
    DOPPEL_REQUIRE_CLOSE(w_b, as_tensor(torch_mha_weights, {2, 3, 3}), (Tolerance{1e-12, 1e-14}));
  }
  SECTION("TransformerEncoderLayer") {
    CHECK_FALSE(nn::TransformerEncoderLayer(4, 2).options.batch_first);
    nn::TransformerEncoderLayer seq_first(
        nn::TransformerEncoderLayerOptions{.d_model = 4, .nhead = 2, .dim_feedforward = 6, .dtype = DType::Float64});
    CHECK_FALSE(seq_first.self_attn->batch_first);
    nn::TransformerEncoderLayer batch_first(nn::TransformerEncoderLayerOptions{
        .d_model = 4, .nhead = 2, .dim_feedforward = 6, .batch_first = true, .dtype = DType::Float64});
    for (nn::TransformerEncoderLayer* layer : {&seq_first, &batch_first}) {
      fill_sines(*layer);
      layer->eval();
    }
    const Tensor x = cosine_input(DType::Float64);
    const Tensor expected = as_tensor(torch_layer_out, {3, 2, 4});
    DOPPEL_REQUIRE_CLOSE(seq_first(x), expected, (Tolerance{1e-12, 1e-14}));
    DOPPEL_REQUIRE_CLOSE(batch_first(x.transpose(0, 1)).transpose(0, 1), expected, (Tolerance{1e-12, 1e-14}));
  }
}

}  // namespace doppel::testing
