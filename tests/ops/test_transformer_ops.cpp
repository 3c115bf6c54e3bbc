// Specs and value tests of scaled_dot_product_attention, rms_norm, apply_rotary and their
// backward ops. Oracles: the attention formula, RMS normalization and rotary embedding written
// as plain double loops in this file (with key/value heads repeated explicitly for GQA and the
// masks materialised), finite differences (the generic gradcheck), and a compiled training step
// against the same step run eagerly.
#include <catch2/catch_approx.hpp>
#include <cmath>
#include <limits>

#include "doppel/graph/compile.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/transformer.h"
#include "doppel/nn/nn.h"
#include "doppel/nn/rms_norm.h"
#include "doppel/ops/transformer.h"
#include "doppel/optim/optim.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

using namespace transformer_attrs;

const std::vector<DType> kFloatDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};
constexpr double kInf = std::numeric_limits<double>::infinity();

Attrs sdpa_attrs(bool causal = false, std::optional<double> scale = {}, bool gqa = false, double p = 0,
                 int64_t seed = 77, int64_t offset = 5) {
  return SdpaAttrs{
      .dropout_p = p, .is_causal = causal, .scale = scale, .enable_gqa = gqa, .seed = seed, .offset = offset}
      .pack();
}

Attrs sdpa_bw_attrs(bool causal = false, std::optional<double> scale = {}, bool gqa = false, double p = 0) {
  return SdpaBackwardAttrs{.dropout_p = p, .is_causal = causal, .scale = scale, .enable_gqa = gqa}.pack();
}

// A bool mask from a predicate on (row, column), shape [L, S].
Tensor bool_mask(int64_t L, int64_t S, bool (*attend)(int64_t, int64_t)) {
  std::vector<uint8_t> m;
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = 0; j < S; ++j) m.push_back(attend(i, j));
  return to_dtype(tensor(m, {L, S}), DType::Bool);
}

// [B, L, H, E] permuted to [B, H, L, E]: the heads layout Hugging Face models hand to attention.
Tensor heads_view(IntList bhle, DType dt, uint64_t seed) {
  const Tensor t = make_input({bhle[0], bhle[2], bhle[1], bhle[3]}, dt, seed);
  return t.transpose(1, 2);
}

struct Case {
  std::string name;
  Tensor q, k, v, mask;
  Attrs attrs;
};

std::vector<Case> sdpa_cases(DType dt) {
  const auto in = [&](IntList s, uint64_t seed) { return make_input(s, dt, seed); };
  return {
      {"L != S, E != Ev", in({2, 3, 4, 8}, 1), in({2, 3, 5, 8}, 2), in({2, 3, 5, 6}, 3), {}, sdpa_attrs()},
      {"causal", in({1, 2, 5, 4}, 4), in({1, 2, 5, 4}, 5), in({1, 2, 5, 4}, 6), {}, sdpa_attrs(true)},
      {"causal L < S (top-left)", in({2, 3, 4}, 7), in({2, 6, 4}, 8), in({2, 6, 3}, 9), {}, sdpa_attrs(true)},
      {"bool mask broadcast", in({2, 2, 3, 4}, 10), in({2, 2, 5, 4}, 11), in({2, 2, 5, 4}, 12),
       bool_mask(3, 5, [](int64_t i, int64_t j) { return (i + j) % 3 != 0; }), sdpa_attrs()},
      {"float mask [B, 1, L, S]", in({2, 2, 3, 4}, 13), in({2, 2, 5, 4}, 14), in({2, 2, 5, 4}, 15),
       make_input({2, 1, 3, 5}, dt, 16, -3, 1), sdpa_attrs()},
      {"key padding mask [S]", in({2, 3, 4}, 17), in({2, 5, 4}, 18), in({2, 5, 2}, 19),
       to_dtype(tensor(std::vector<uint8_t>{1, 1, 0, 1, 0}, {5}), DType::Bool), sdpa_attrs()},
      {"gqa", in({1, 4, 3, 4}, 20), in({1, 2, 5, 4}, 21), in({1, 2, 5, 3}, 22), {}, sdpa_attrs(false, {}, true)},
      {"gqa causal one kv head",
       in({2, 3, 4, 4}, 23),
       in({2, 1, 4, 4}, 24),
       in({2, 1, 4, 4}, 25),
       {},
       sdpa_attrs(true, {}, true)},
      {"scale", in({1, 3, 4}, 26), in({1, 3, 4}, 27), in({1, 3, 4}, 28), {}, sdpa_attrs(false, 0.3)},
      {"2-d, one key", in({3, 4}, 29), in({1, 4}, 30), in({1, 2}, 31), {}, sdpa_attrs()},
      {"broadcast batch", in({2, 1, 3, 4}, 32), in({1, 3, 5, 4}, 33), in({3, 5, 2}, 34), {}, sdpa_attrs()},
      {"fully masked row", in({1, 3, 4}, 35), in({1, 4, 4}, 36), in({1, 4, 4}, 37),
       bool_mask(3, 4, [](int64_t i, int64_t) { return i != 1; }), sdpa_attrs()},
      {"transposed heads",
       heads_view({2, 3, 5, 4}, dt, 38),
       heads_view({2, 3, 6, 4}, dt, 39),
       heads_view({2, 3, 6, 4}, dt, 40),
       {},
       sdpa_attrs(true)},
      {"dropout",
       in({1, 2, 4, 3}, 41),
       in({1, 2, 5, 3}, 42),
       in({1, 2, 5, 3}, 43),
       {},
       sdpa_attrs(false, {}, false, 0.4)},
      {"empty queries", in({2, 0, 4}, 44), in({2, 3, 4}, 45), in({2, 3, 4}, 46), {}, sdpa_attrs()},
      {"no keys", in({2, 3, 4}, 47), in({2, 0, 4}, 48), in({2, 0, 5}, 49), {}, sdpa_attrs()},
      // oneDNN's chunking: 200 * 200 scores per head, 6 heads per chunk and a tail of 2 ...
      {"head chunks", in({1, 8, 200, 8}, 50), in({1, 8, 200, 8}, 51), in({1, 8, 200, 8}, 52), {}, sdpa_attrs(true)},
      // ... and blocks of query rows once one head's [L, S] exceeds the budget (2^18 scores).
      {"row blocks", in({1, 600, 8}, 53), in({1, 520, 8}, 54), in({1, 520, 4}, 55),
       make_input({600, 520}, dt, 56, -1, 1), sdpa_attrs()},
  };
}

std::vector<Sample> sdpa_samples(DType dt) {
  std::vector<Sample> out;
  for (Case& c : sdpa_cases(dt)) {
    std::vector<Tensor> in{c.q, c.k, c.v};
    if (c.mask.defined()) in.push_back(c.mask.dtype() == DType::Bool ? c.mask : to_dtype(c.mask, dt));
    out.push_back({c.name, in, c.attrs});
  }
  return out;
}

std::vector<ErrorSample> sdpa_errors() {
  const DType f = DType::Float32;
  const Tensor q = make_input({2, 4, 3, 8}, f, 1), k = make_input({2, 4, 5, 8}, f, 2),
               v = make_input({2, 4, 5, 6}, f, 3);
  return {
      {"mask and is_causal", {q, k, v, make_input({3, 5}, f, 4)}, sdpa_attrs(true), ErrorKind::Value, "is_causal"},
      {"embedding sizes differ", {q, make_input({2, 4, 5, 7}, f, 5), v}, sdpa_attrs(), ErrorKind::Shape, "embedding"},
      {"key/value lengths differ",
       {q, k, make_input({2, 4, 6, 6}, f, 6)},
       sdpa_attrs(),
       ErrorKind::Shape,
       "sequence length"},
      {"integer query",
       {make_input({3, 8}, DType::Int64, 7), make_input({5, 8}, DType::Int64, 8), make_input({5, 8}, DType::Int64, 9)},
       sdpa_attrs(),
       ErrorKind::DType,
       "floating"},
      {"mixed dtypes", {q, to_dtype(k, DType::Float64), v}, sdpa_attrs(), ErrorKind::DType, "key"},
      {"heads without enable_gqa",
       {q, make_input({2, 2, 5, 8}, f, 10), make_input({2, 2, 5, 6}, f, 11)},
       sdpa_attrs(),
       ErrorKind::Shape,
       "scaled_dot_product_attention"},
      {"gqa heads do not divide",
       {q, make_input({2, 3, 5, 8}, f, 12), make_input({2, 3, 5, 6}, f, 13)},
       sdpa_attrs(false, {}, true),
       ErrorKind::Shape,
       "multiple"},
      {"mask dtype", {q, k, v, make_input({3, 5}, DType::Int32, 14)}, sdpa_attrs(), ErrorKind::DType, "attn_mask"},
      {"mask shape",
       {q, k, v, make_input({4, 5}, f, 15)},
       sdpa_attrs(),
       ErrorKind::Shape,
       "scaled_dot_product_attention"},
      {"dropout above 1", {q, k, v}, sdpa_attrs(false, {}, false, 1.5), ErrorKind::Value, "dropout_p"},
      {"1-d query", {make_input({8}, f, 16), k, v}, sdpa_attrs(), ErrorKind::Shape, "2 dims"}};
}

DOPPEL_OP_SPEC(sdpa_spec) {
  return OpSpec{
      .op = OpId::scaled_dot_product_attention, .dtypes = kFloatDTypes, .samples = sdpa_samples, .errors = sdpa_errors};
}

Tensor rng_pair(int64_t seed, int64_t offset) { return tensor(std::vector<int64_t>{seed, offset}, {2}); }

std::vector<Sample> sdpa_backward_samples(DType dt) {
  std::vector<Sample> out;
  for (Case& c : sdpa_cases(dt)) {
    if (c.q.numel() > 2000) continue;  // the reference backward is the oracle: keep it small
    const auto a = SdpaAttrs::of(c.attrs);
    const OpOutputs fwd = dispatch(
        OpId::scaled_dot_product_attention,
        c.mask.defined() ? std::vector<Tensor>{c.q, c.k, c.v, c.mask} : std::vector<Tensor>{c.q, c.k, c.v}, c.attrs);
    std::vector<Tensor> in{make_input(fwd[0].shape(), dt, 99), c.q, c.k, c.v, fwd[1]};
    if (c.mask.defined()) in.push_back(c.mask);
    out.push_back({c.name, in, sdpa_bw_attrs(a.is_causal, a.scale, a.enable_gqa, a.dropout_p)});
  }
  return out;
}

DOPPEL_OP_SPEC(sdpa_backward_spec) {
  return OpSpec{.op = OpId::scaled_dot_product_attention_backward,
                .dtypes = kFloatDTypes,
                .samples = sdpa_backward_samples,
                .errors = [] {
                  const DType f = DType::Float32;
                  const Tensor q = make_input({3, 4}, f, 1), k = make_input({5, 4}, f, 2);
                  return std::vector<ErrorSample>{{"grad_out shape",
                                                   {make_input({3, 5}, f, 3), q, k, k, rng_pair(1, 0)},
                                                   sdpa_bw_attrs(),
                                                   ErrorKind::Shape,
                                                   "grad_out"},
                                                  {"rng dtype",
                                                   {make_input({3, 4}, f, 3), q, k, k, make_input({2}, f, 4)},
                                                   sdpa_bw_attrs(),
                                                   ErrorKind::DType,
                                                   "rng"}};
                }};
}

Attrs rms_attrs(IntList ns, std::optional<double> eps = {}) {
  return RmsNormAttrs{.normalized_shape = ns, .eps = eps}.pack();
}

std::vector<Sample> rms_norm_samples(DType dt) {
  return {{"rows weight", {make_input({4, 6}, dt, 1), make_input({6}, dt, 2)}, rms_attrs({6}, 1e-5)},
          {"two normalized dims", {make_input({2, 3, 4}, dt, 3), make_input({3, 4}, dt, 4)}, rms_attrs({3, 4})},
          {"no weight, default eps", {make_input({5, 7}, dt, 5)}, rms_attrs({7})},
          {"zeros (eps only)", {zeros({2, 4}, {.dtype = dt}), make_input({4}, dt, 6)}, rms_attrs({4}, 1e-2)},
          {"1-d", {make_input({10}, dt, 7), make_input({10}, dt, 8)}, rms_attrs({10}, 1e-6)},
          {"empty rows", {make_input({3, 0, 4}, dt, 9)}, rms_attrs({4})},
          {"large", {make_input({64, 1024}, dt, 10), make_input({1024}, dt, 11)}, rms_attrs({1024}, 1e-6)}};
}

DOPPEL_OP_SPEC(rms_norm_spec) {
  return OpSpec{
      .op = OpId::rms_norm,
      .dtypes = kFloatDTypes,
      .samples = rms_norm_samples,
      .errors =
          [] {
            const DType f = DType::Float32;
            return std::vector<ErrorSample>{
                {"shape does not end with normalized_shape",
                 {make_input({4, 6}, f, 1)},
                 rms_attrs({5}),
                 ErrorKind::Shape,
                 "normalized_shape"},
                {"weight shape",
                 {make_input({4, 6}, f, 1), make_input({5}, f, 2)},
                 rms_attrs({6}),
                 ErrorKind::Shape,
                 "weight"},
                {"integer input", {make_input({4, 6}, DType::Int64, 3)}, rms_attrs({6}), ErrorKind::DType, "rms_norm"},
                {"negative eps", {make_input({4, 6}, f, 1)}, rms_attrs({6}, -1.0), ErrorKind::Value, "eps"},
                {"empty normalized_shape", {make_input({4, 6}, f, 1)}, rms_attrs({}), ErrorKind::Value, "rms_norm"}};
          },
      .gradgradcheck = true};
}

std::vector<Sample> rms_norm_backward_samples(DType dt) {
  std::vector<Sample> out;
  for (const Sample& s : rms_norm_samples(dt)) {
    const auto a = RmsNormAttrs::of(s.attrs);
    const OpOutputs fwd = dispatch(OpId::rms_norm, s.inputs, s.attrs);
    const Tensor w = s.inputs.size() > 1 ? s.inputs[1] : Tensor();
    for (const Shape& mask : {Shape{1, 1}, Shape{1, 0}, Shape{0, 1}})
      out.push_back({s.name + " mask " + shape_str(mask),
                     {make_input(s.inputs[0].shape(), dt, 50), s.inputs[0], fwd[1], w},
                     RmsNormBackwardAttrs{.normalized_shape = a.normalized_shape, .output_mask = mask}.pack()});
  }
  return out;
}

DOPPEL_OP_SPEC(rms_norm_backward_spec) {
  return OpSpec{
      .op = OpId::rms_norm_backward, .dtypes = kFloatDTypes, .samples = rms_norm_backward_samples, .errors = [] {
        const DType f = DType::Float32;
        return std::vector<ErrorSample>{{"output_mask length",
                                         {make_input({4, 6}, f, 1), make_input({4, 6}, f, 2), make_input({4, 1}, f, 3)},
                                         RmsNormBackwardAttrs{.normalized_shape = {6}, .output_mask = {1, 1, 1}}.pack(),
                                         ErrorKind::Value,
                                         "output_mask"},
                                        {"rstd size",
                                         {make_input({4, 6}, f, 1), make_input({4, 6}, f, 2), make_input({3, 1}, f, 3)},
                                         RmsNormBackwardAttrs{.normalized_shape = {6}, .output_mask = {1, 1}}.pack(),
                                         ErrorKind::Shape,
                                         "rstd"}};
      }};
}

std::vector<Sample> apply_rotary_samples(DType dt) {
  const auto in = [&](IntList s, uint64_t seed) { return make_input(s, dt, seed); };
  return {{"same shape", {in({3, 8}, 1), in({3, 8}, 2), in({3, 8}, 3)}, {}},
          {"HF broadcast [B, 1, L, D]", {in({2, 3, 5, 4}, 4), in({2, 1, 5, 4}, 5), in({2, 1, 5, 4}, 6)}, {}},
          {"table [L, D]", {in({2, 3, 5, 6}, 7), in({5, 6}, 8), in({5, 6}, 9)}, {}},
          {"empty", {in({0, 4}, 10), in({4}, 11), in({4}, 12)}, {}},
          {"large", {in({4, 16, 64, 64}, 13), in({64, 64}, 14), in({64, 64}, 15)}, {}}};
}

DOPPEL_OP_SPEC(apply_rotary_spec) {
  return OpSpec{.op = OpId::apply_rotary,
                .dtypes = kFloatDTypes,
                .samples = apply_rotary_samples,
                .errors =
                    [] {
                      const DType f = DType::Float32;
                      return std::vector<ErrorSample>{
                          {"odd last dim",
                           {make_input({3, 5}, f, 1), make_input({5}, f, 2), make_input({5}, f, 3)},
                           {},
                           ErrorKind::Shape,
                           "even"},
                          {"cos does not broadcast",
                           {make_input({3, 4}, f, 1), make_input({2, 4}, f, 2), make_input({4}, f, 3)},
                           {},
                           ErrorKind::Shape,
                           "apply_rotary"},
                          {"dtype mismatch",
                           {make_input({3, 4}, f, 1), make_input({4}, DType::Float64, 2), make_input({4}, f, 3)},
                           {},
                           ErrorKind::DType,
                           "cos"}};
                    },
                .gradgradcheck = true};
}

// ---- The double-precision oracles.

std::vector<double> values(const Tensor& t) { return contiguous_of(to_dtype(t, DType::Float64)).to_vector<double>(); }

// Index of `idx` (over `shape`) in a tensor of shape `of` broadcast to it (numpy rules).
int64_t broadcast_index(IntList shape, const std::vector<int64_t>& idx, IntList of) {
  int64_t flat = 0;
  const size_t lead = shape.size() - of.size();
  for (size_t d = 0; d < of.size(); ++d) flat = flat * of[d] + (of[d] == 1 ? 0 : idx[lead + d]);
  return flat;
}

// Attention from the formula: key/value heads repeated (repeat_kv), masks materialised, safe
// softmax (a row of only -inf gives zeros), no dropout.
std::vector<double> naive_sdpa(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal,
                               std::optional<double> scale, bool gqa, Shape& out_shape) {
  const int64_t L = q.size(-2), E = q.size(-1), S = k.size(-2), Ev = v.size(-1);
  const auto lead = [](const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); };
  const Shape qb = lead(q), kb = lead(k), vb = lead(v);
  // repeat_kv: under gqa, key/value head h of the batch reads their head h / (H / Hk).
  const auto widened = [&](Shape b) {
    if (gqa) b.back() = qb.back();
    return b;
  };
  const Shape batch = broadcast_shapes("test", broadcast_shapes("test", qb, widened(kb)), widened(vb));
  out_shape = batch;
  out_shape.push_back(L);
  out_shape.push_back(Ev);
  const auto qv = values(q), kv = values(k), vv = values(v);
  const std::vector<double> mv = mask.defined() ? values(mask) : std::vector<double>{};
  const double sc = scale ? *scale : 1 / std::sqrt(double(E));
  std::vector<double> out;
  const int64_t nb = numel_of(batch);
  std::vector<int64_t> idx(batch.size());
  for (int64_t n = 0; n < nb; ++n) {
    int64_t rest = n;
    for (size_t d = batch.size(); d-- > 0;) {
      idx[d] = rest % batch[d];
      rest /= batch[d];
    }
    const auto base = [&](const Shape& b) {
      std::vector<int64_t> id = idx;
      if (gqa && b.back() != 1) id.back() /= batch.back() / b.back();
      return broadcast_index(batch, id, b);
    };
    const int64_t qo = base(qb) * L * E, ko = base(kb) * S * E, vo = base(vb) * S * Ev;
    for (int64_t i = 0; i < L; ++i) {
      std::vector<double> s(static_cast<size_t>(S));
      bool all = true;
      double mx = -kInf;
      for (int64_t j = 0; j < S; ++j) {
        double d = 0;
        for (int64_t e = 0; e < E; ++e) d += qv[size_t(qo + i * E + e)] * kv[size_t(ko + j * E + e)];
        d *= sc;
        if (causal && j > i) d = -kInf;
        if (mask.defined()) {
          std::vector<int64_t> mi = idx;
          mi.push_back(i);
          mi.push_back(j);
          Shape full = batch;
          full.push_back(L);
          full.push_back(S);
          const double m = mv[size_t(broadcast_index(full, mi, mask.shape()))];
          d = mask.dtype() == DType::Bool ? (m != 0 ? d : -kInf) : d + m;
        }
        s[size_t(j)] = d;
        all = all && d == -kInf;
        mx = std::max(mx, d);
      }
      double sum = 0;
      for (double& x : s) sum += (x = all ? 0 : std::exp(x - mx));
      for (int64_t e = 0; e < Ev; ++e) {
        double acc = 0;
        for (int64_t j = 0; j < S; ++j) acc += (all ? 0 : s[size_t(j)] / sum) * vv[size_t(vo + j * Ev + e)];
        out.push_back(acc);
      }
    }
  }
  return out;
}

void require_values(const Tensor& got, const Shape& shape, const std::vector<double>& want, double tol) {
  REQUIRE(got.shape() == shape);
  const std::vector<double> g = values(got);
  REQUIRE(g.size() == want.size());
  for (size_t k = 0; k < g.size(); ++k) {
    INFO("element " << k << ": got " << g[k] << " want " << want[k]);
    if (std::isnan(want[k]))
      REQUIRE(std::isnan(g[k]));
    else
      REQUIRE(std::abs(g[k] - want[k]) <= tol * (1 + std::abs(want[k])));
  }
}

TEST_CASE("scaled_dot_product_attention matches the attention formula in every float dtype", "[transformer]") {
  for (DType dt : kFloatDTypes) {
    for (Case& c : sdpa_cases(dt)) {
      const auto a = SdpaAttrs::of(c.attrs);
      const bool half = dt == DType::BFloat16 || dt == DType::Float16;
      if (a.dropout_p > 0 || (half && c.q.numel() > 2000)) continue;
      INFO(dtype_name(dt) << " " << c.name);
      Shape shape;
      const std::vector<double> want = naive_sdpa(c.q, c.k, c.v, c.mask, a.is_causal, a.scale, a.enable_gqa, shape);
      const Tensor got = scaled_dot_product_attention(c.q, c.k, c.v, c.mask, 0, a.is_causal, a.scale, a.enable_gqa);
      // 16-bit outputs: the double result of the rounded inputs, rounded once more (float32 sums).
      const double tol = dt == DType::Float64   ? 1e-12
                         : dt == DType::Float32 ? 2e-5
                         : dt == DType::Float16 ? 2e-3
                                                : 1e-2;
      require_values(got, shape, want, tol);
    }
  }
}

TEST_CASE("scaled_dot_product_attention uses oneDNN for float32 on both sides of its chunk budget", "[transformer]") {
  for (Case& c : sdpa_cases(DType::Float32)) {
    if (c.q.numel() == 0 || c.k.numel() == 0) continue;
    INFO(c.name);
    std::vector<Tensor> in{c.q, c.k, c.v};
    if (c.mask.defined()) in.push_back(c.mask);
    dispatch(OpId::scaled_dot_product_attention, in, c.attrs);
    CHECK(last_selected_backend() == Backend::OneDNN);
  }
}

TEST_CASE("scaled_dot_product_attention_backward: oneDNN matches the reference on both sides of the chunk budget",
          "[transformer]") {
  for (Case& c : sdpa_cases(DType::Float32)) {
    if (c.name != "head chunks" && c.name != "row blocks" && c.name != "transposed heads") continue;
    for (const double p : {0.0, 0.3}) {
      INFO(c.name << " dropout " << p);
      const auto a = SdpaAttrs::of(c.attrs);
      std::vector<Tensor> fwd_in{c.q, c.k, c.v};
      if (c.mask.defined()) fwd_in.push_back(c.mask);
      const Attrs fa = sdpa_attrs(a.is_causal, a.scale, a.enable_gqa, p, 11, 3);
      const OpOutputs fwd = dispatch(OpId::scaled_dot_product_attention, fwd_in, fa);
      std::vector<Tensor> in{make_input(fwd[0].shape(), DType::Float32, 7), c.q, c.k, c.v, fwd[1]};
      if (c.mask.defined()) in.push_back(c.mask);
      const Attrs ba = sdpa_bw_attrs(a.is_causal, a.scale, a.enable_gqa, p);
      OpOutputs ref;
      {
        ForceBackendGuard g(Backend::Reference);
        ref = dispatch(OpId::scaled_dot_product_attention_backward, in, ba);
      }
      const OpOutputs fast = dispatch(OpId::scaled_dot_product_attention_backward, in, ba);
      CHECK(last_selected_backend() == Backend::OneDNN);
      for (int k = 0; k < 3; ++k) DOPPEL_REQUIRE_CLOSE(fast[k], ref[k], (Tolerance{1e-4, 2e-5}));
    }
  }
}

TEST_CASE("scaled_dot_product_attention: masked rows are 0, NaN and Inf propagate as softmax does", "[transformer]") {
  for (DType dt : {DType::Float32, DType::Float64}) {
    INFO(dtype_name(dt));
    const Tensor q = make_input({1, 3, 2}, dt, 1), k = make_input({1, 4, 2}, dt, 2), v = make_input({1, 4, 2}, dt, 3);
    // A float mask of -inf everywhere on row 0, and a +inf score in row 2 (softmax: NaN row).
    std::vector<double> m(12, 0.0);
    for (int j = 0; j < 4; ++j) m[size_t(j)] = -kInf;
    m[8] = kInf;
    const Tensor mask = to_dtype(tensor(m, {3, 4}), dt);
    const std::vector<double> out = values(scaled_dot_product_attention(q, k, v, mask));
    CHECK(out[0] == 0.0);
    CHECK(out[1] == 0.0);
    CHECK(std::isfinite(out[2]));
    CHECK(std::isnan(out[4]));
    CHECK(std::isnan(out[5]));
    // A NaN in one key makes every row NaN (each row's scores include it); a -inf-only row still 0.
    std::vector<double> kn = values(k);
    kn[3] = std::nan("");
    const std::vector<double> nan_out = values(scaled_dot_product_attention(q, to_dtype(tensor(kn, {1, 4, 2}), dt), v));
    for (double x : nan_out) CHECK(std::isnan(x));
    // The gradient of a fully masked row is 0 and does not poison the other rows.
    const Tensor qg = q.detach().set_requires_grad(true);
    scaled_dot_product_attention(qg, k, v, bool_mask(3, 4, [](int64_t i, int64_t) { return i != 0; })).sum().backward();
    const std::vector<double> gq = values(qg.grad());
    CHECK(gq[0] == 0.0);
    CHECK(gq[1] == 0.0);
    for (double x : gq) CHECK(std::isfinite(x));
  }
}

TEST_CASE("scaled_dot_product_attention dropout: statistics, p = 0 exactness, seeded determinism", "[transformer]") {
  // With q = k = 0 every weight is 1 / S; with v = I the output row is the row of weights after
  // dropout: 0 or 1 / (S (1 - p)).
  const int64_t S = 64, L = 64;
  const double p = 0.3;
  const Tensor q = zeros({4, L, 8}), k = zeros({4, S, 8}), v = expand(eye(S), {4, S, S});
  manual_seed(123);
  const std::vector<double> out = values(scaled_dot_product_attention(q, k, v, {}, p));
  int64_t dropped = 0;
  for (double x : out) {
    if (x == 0) {
      ++dropped;
      continue;
    }
    REQUIRE(x == Catch::Approx(1.0 / (double(S) * (1 - p))).epsilon(1e-6));
  }
  const double frac = double(dropped) / double(out.size());
  CHECK(std::abs(frac - p) < 0.01);  // 16384 draws: sd 0.0036
  // The rows' drop fractions vary (draws are independent across rows, not one shared mask).
  CHECK(values(scaled_dot_product_attention(q, k, v, {}, p)) != out);
  manual_seed(123);
  CHECK(values(scaled_dot_product_attention(q, k, v, {}, p)) == out);
  // p = 0 is exactly the attention without dropout.
  const Tensor a = make_input({2, 5, 4}, DType::Float32, 1), b = make_input({2, 6, 4}, DType::Float32, 2);
  const Tensor c = make_input({2, 6, 3}, DType::Float32, 3);
  CHECK(values(scaled_dot_product_attention(a, b, c, {}, 0.0)) ==
        values(dispatch(OpId::scaled_dot_product_attention, {a, b, c}, sdpa_attrs(false, {}, false, 0, 1, 2))[0]));
}

TEST_CASE("scaled_dot_product_attention: a float attn_mask requiring grad and double backward are refused",
          "[transformer]") {
  const Tensor q = make_input({3, 4}, DType::Float64, 1).set_requires_grad(true);
  const Tensor k = make_input({5, 4}, DType::Float64, 2), v = make_input({5, 4}, DType::Float64, 3);
  const Tensor m = make_input({3, 5}, DType::Float64, 4).set_requires_grad(true);
  CHECK(error_message<ValueError>([&] { scaled_dot_product_attention(q, k, v, m); }).find("detach") !=
        std::string::npos);
  const Tensor out = scaled_dot_product_attention(q, k, v).sum();
  CHECK(error_message<ValueError>([&] {
          grad({out}, {q}, {}, /*retain_graph=*/false, /*create_graph=*/true);
        }).find("double backward") != std::string::npos);
}

TEST_CASE("rms_norm matches its formula; eps defaults to the dtype's machine epsilon", "[transformer]") {
  for (DType dt : {DType::Float32, DType::Float64}) {
    INFO(dtype_name(dt));
    const Tensor x = make_input({3, 2, 5}, dt, 1), w = make_input({2, 5}, dt, 2);
    const double eps = dt == DType::Float32 ? 1.1920928955078125e-07 : 2.220446049250313e-16;
    const std::vector<double> xv = values(x), wv = values(w);
    std::vector<double> want;
    for (int r = 0; r < 3; ++r) {
      double q = 0;
      for (int i = 0; i < 10; ++i) q += xv[size_t(r * 10 + i)] * xv[size_t(r * 10 + i)];
      const double rs = 1 / std::sqrt(q / 10 + eps);
      for (int i = 0; i < 10; ++i) want.push_back(xv[size_t(r * 10 + i)] * rs * wv[size_t(i)]);
    }
    require_values(rms_norm(x, {2, 5}, w), x.shape(), want, dt == DType::Float32 ? 1e-6 : 1e-14);
    // eps matters on a zero row: 0 * rsqrt(eps) = 0, finite.
    for (double y : values(rms_norm(zeros({1, 4}, {.dtype = dt}), {4}))) CHECK(y == 0.0);
  }
}

TEST_CASE("nn::RMSNorm: a weight of ones, HF's parameter name, forward = rms_norm", "[transformer]") {
  nn::RMSNorm m({6}, 1e-6);
  const auto params = m.named_parameters();
  REQUIRE(params.size() == 1);
  CHECK(params[0].first == "weight");
  CHECK(values(params[0].second) == std::vector<double>(6, 1.0));
  const Tensor x = make_input({2, 6}, DType::Float32, 3);
  CHECK(values(m.forward(x)) == values(rms_norm(x, {6}, m.weight, 1e-6)));
  nn::RMSNorm plain({6}, std::nullopt, /*elementwise_affine=*/false);
  CHECK(plain.named_parameters().empty());
}

TEST_CASE("apply_rotary matches Hugging Face's rotate-half formula", "[transformer]") {
  const Tensor x = make_input({2, 3, 4, 6}, DType::Float64, 1);
  const Tensor c = make_input({2, 1, 4, 6}, DType::Float64, 2), s = make_input({2, 1, 4, 6}, DType::Float64, 3);
  const std::vector<double> xv = values(x), cv = values(c), sv = values(s);
  std::vector<double> want;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t l = 0; l < 4; ++l)
        for (int64_t d = 0; d < 6; ++d) {
          const int64_t xi = ((b * 3 + h) * 4 + l) * 6, ci = (b * 4 + l) * 6;
          const double rot = d < 3 ? -xv[size_t(xi + d + 3)] : xv[size_t(xi + d - 3)];
          want.push_back(xv[size_t(xi + d)] * cv[size_t(ci + d)] + rot * sv[size_t(ci + d)]);
        }
  require_values(apply_rotary(x, c, s), x.shape(), want, 1e-14);
}

// A tiny pre-norm attention block: RMSNorm, q/k/v projections, rotary embedding, causal GQA
// attention with dropout, output projection.
struct Block : nn::Module {
  Block() : nn::Module("Block") {
    norm = register_module("norm", std::make_shared<nn::RMSNorm>(std::vector<int64_t>{8}));
    q = register_module("q", std::make_shared<nn::Linear>(8, 8));
    kv = register_module("kv", std::make_shared<nn::Linear>(8, 8));
    o = register_module("o", std::make_shared<nn::Linear>(8, 8));
  }
  Tensor forward(const Tensor& x) override {
    const int64_t B = x.size(0), L = x.size(1);
    const Tensor h = norm->forward(x);
    const Tensor qh = q->forward(h).reshape({B, L, 4, 2}).transpose(1, 2);
    const std::vector<Tensor> kvh = chunk(kv->forward(h).reshape({B, L, 2, 4}).transpose(1, 2), 2, -1);
    const Tensor pos = arange(0, L, 1, TensorOptions{.dtype = DType::Float32}).unsqueeze(-1);
    const Tensor ang = cat({pos, pos}, -1);
    const Tensor cs = doppel::cos(ang), sn = doppel::sin(ang);
    const Tensor att = scaled_dot_product_attention(apply_rotary(qh, cs, sn), apply_rotary(kvh[0], cs, sn), kvh[1], {},
                                                    0.25, true, std::nullopt, true);
    return o->forward(att.transpose(1, 2).reshape({B, L, 8}));
  }
  std::shared_ptr<nn::RMSNorm> norm;
  std::shared_ptr<nn::Linear> q, kv, o;
};

TEST_CASE("a tiny attention block's training step compiled equals eager", "[transformer][compile]") {
  manual_seed(5);
  auto eager_model = std::make_shared<Block>();
  manual_seed(5);
  auto graph_model = std::make_shared<Block>();
  optim::SGD eager_opt(eager_model->parameters(), {.lr = 0.1});
  optim::SGD graph_opt(graph_model->parameters(), {.lr = 0.1});
  const auto make_step = [](Block& m, optim::SGD& opt) {
    return [&m, &opt](const std::vector<Tensor>& in) {
      opt.zero_grad();
      const Tensor y = m.forward(in[0]);
      const Tensor loss = mean(mul(y, y));
      loss.backward();
      opt.step();
      return std::vector<Tensor>{loss.detach()};
    };
  };
  auto eager_step = make_step(*eager_model, eager_opt);
  CompiledFunction graph_step = compile(make_step(*graph_model, graph_opt));
  for (int call = 0; call < 4; ++call) {
    INFO("call " << call);
    const std::vector<Tensor> in{make_input({2, 5, 8}, DType::Float32, uint64_t(10 + call))};
    manual_seed(uint64_t(100 + call));
    const Tensor le = eager_step(in)[0];
    manual_seed(uint64_t(100 + call));
    const Tensor lg = graph_step(in)[0];
    DOPPEL_REQUIRE_CLOSE(lg, le, (Tolerance{1e-6, 1e-7}));
    const auto g = graph_model->named_parameters(), w = eager_model->named_parameters();
    for (size_t k = 0; k < w.size(); ++k) {
      INFO("parameter " << w[k].first);
      DOPPEL_REQUIRE_CLOSE(g[k].second, w[k].second, (Tolerance{1e-6, 1e-7}));
    }
  }
  CHECK(graph_step.num_graph_runs() >= 2);
}

}  // namespace
}  // namespace doppel::testing
