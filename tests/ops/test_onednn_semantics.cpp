// IEEE semantics on the oneDNN paths: results must not depend on which backend runs (tensor size
// around the oneDNN threshold, layout, thread count). Inputs mix NaN, ±Inf, ±0, denormals and
// ordinary values; results are compared bit for bit (NaN positions, signs of zero, denormals)
// against the reference kernels run on the same data, and the special cases against hand values.
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "doppel/kernels/parallel.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kDenorm = 1e-40f;

// oneDNN takes contiguous float32 elementwise ops from 4096 elements on: sizes on both sides.
const std::vector<Shape> kShapes = {{4095}, {4096}, {40000}, {63, 65}, {64, 64}, {4, 32, 320}};

// Special values interleaved with uniform values in [-3, 3).
Tensor special_input(IntList shape, uint64_t seed) {
  static const float specials[] = {kNaN,  kInf,  -kInf,  0.f,          -0.f,    kDenorm, -kDenorm, 1.f,
                                   -1.f,  0.5f,  -0.5f,  1.0001f,      0.9999f, 88.8f,   -104.f,   20.f,
                                   -20.f, 1e30f, -1e30f, 1.17549e-38f, 2.5f,    -2.5f,   3.5f,     1e-20f};
  Tensor t = make_input(shape, DType::Float32, seed, -3.0, 3.0);
  float* p = t.data_ptr<float>();
  const int64_t n = t.numel(), ns = int64_t(std::size(specials));
  for (int64_t i = 0; i < n; i += 3) p[i] = specials[(i / 3 + int64_t(seed)) % ns];
  return t;
}

// nullopt when a and b have equal shapes and dtypes and bitwise equal elements (any NaN matches
// any NaN), else the first difference.
std::optional<std::string> bit_mismatch(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype())
    return fmt::format("{}{} vs {}{}", dtype_name(a.dtype()), shape_str(a.shape()), dtype_name(b.dtype()),
                       shape_str(b.shape()));
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  const int64_t n = a.numel();
  if (a.dtype() == DType::Bool) {
    const bool *p = ac.data_ptr<bool>(), *q = bc.data_ptr<bool>();
    for (int64_t i = 0; i < n; ++i)
      if (p[i] != q[i]) return fmt::format("element {}: {} vs {}", i, p[i], q[i]);
    return std::nullopt;
  }
  const float *p = ac.data_ptr<float>(), *q = bc.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(p[i]) && std::isnan(q[i])) continue;
    if (std::bit_cast<uint32_t>(p[i]) != std::bit_cast<uint32_t>(q[i]))
      return fmt::format("element {}: {:a} vs {:a}", i, p[i], q[i]);
  }
  return std::nullopt;
}

#define REQUIRE_BITS_EQUAL(a, b)                    \
  do {                                              \
    auto mismatch_ = bit_mismatch((a), (b));        \
    INFO((mismatch_ ? *mismatch_ : std::string())); \
    REQUIRE(!mismatch_);                            \
  } while (0)

// f on the default backends with 1 and 2 threads equals f on the reference kernels, bitwise.
template <typename F>
void check_matches_reference(F&& f) {
  Tensor ref;
  {
    ForceBackendGuard g(Backend::Reference);
    ref = f();
  }
  const int threads = get_num_threads();
  for (int n : {1, 2}) {
    set_num_threads(n);
    const Tensor got = f();
    set_num_threads(threads);
    INFO(fmt::format("{} thread(s), last backend {}", n, backend_name(last_selected_backend())));
    REQUIRE_BITS_EQUAL(got, ref);
  }
}

float at(const Tensor& t, int64_t i) { return t.contiguous().data_ptr<float>()[i]; }

// How many elements of a bool tensor are true.
int64_t count_true(const Tensor& t) {
  const Tensor c = t.contiguous();
  int64_t n = 0;
  for (int64_t i = 0; i < c.numel(); ++i) n += c.data_ptr<bool>()[i] ? 1 : 0;
  return n;
}

// A [n] float32 tensor: `head` then ones up to n (so small and large sizes hold the same cases).
Tensor with_head(std::vector<float> head, int64_t n) {
  head.resize(size_t(n), 1.f);
  return tensor(head);
}

// The transcendental ops (exp, tanh, sigmoid, silu, elu, gelu, softplus) are tested below and in
// test_eltwise_ulp_sweep.cpp: oneDNN computes them within a few ULP of the reference.
TEST_CASE("oneDNN semantics: unary ops equal the reference kernels bitwise at every size", "[onednn_semantics]") {
  using UnaryFn = Tensor (*)(const Tensor&);
  const std::pair<const char*, UnaryFn> ops[] = {
      {"relu", [](const Tensor& x) { return relu(x); }},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.1); }},
      {"log", [](const Tensor& x) { return log(x); }},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }},
      {"abs", [](const Tensor& x) { return abs(x); }},
      {"neg", [](const Tensor& x) { return neg(x); }},
      {"round", [](const Tensor& x) { return round(x); }},
      {"clamp", [](const Tensor& x) { return clamp(x, Scalar(-1.5), Scalar(2.0)); }},
      {"clamp_min", [](const Tensor& x) { return clamp(x, Scalar(0.0), std::nullopt); }},
  };
  for (const auto& [name, f] : ops)
    for (const Shape& shape : kShapes) {
      INFO(fmt::format("{} on {}", name, shape_str(shape)));
      const Tensor x = special_input(shape, 7);
      check_matches_reference([&] { return f(x); });
    }
}

// oneDNN eltwise + fix-up (kernels/cpu/onednn/elementwise_eltwise.cpp) runs at every size, so a
// contiguous float32 result does not depend on the tensor's size or thread count: each prefix of
// a 40000-element input gives the prefix of its result bitwise, with 1 and 2 threads. Non-normal
// inputs (NaN, ±Inf, ±0, denormals) take the fix-up: bitwise the reference kernel's.
TEST_CASE("oneDNN semantics: transcendental ops are size- and thread-independent, specials exact",
          "[onednn_semantics]") {
  using UnaryFn = Tensor (*)(const Tensor&);
  const std::pair<const char*, UnaryFn> ops[] = {
      {"gelu", [](const Tensor& x) { return gelu(x); }}, {"gelu_tanh", [](const Tensor& x) { return gelu(x, true); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }}, {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
      {"exp", [](const Tensor& x) { return exp(x); }},   {"elu", [](const Tensor& x) { return elu(x, 0.7); }},
      {"silu", [](const Tensor& x) { return silu(x); }}, {"softplus", [](const Tensor& x) { return softplus(x); }},
  };
  const Tensor x = special_input({40000}, 7);
  const int threads = get_num_threads();
  for (const auto& [name, f] : ops) {
    INFO(name);
    const Tensor whole = f(x);
    Tensor ref;
    {
      ForceBackendGuard g(Backend::Reference);
      ref = f(x);
    }
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float v = at(x, i);
      if (std::isnormal(v)) continue;
      INFO(fmt::format("x = {:a}: {:a} vs reference {:a}", v, at(whole, i), at(ref, i)));
      REQUIRE((std::bit_cast<uint32_t>(at(whole, i)) == std::bit_cast<uint32_t>(at(ref, i)) ||
               (std::isnan(at(whole, i)) && std::isnan(at(ref, i)))));
    }
    // A 0-d tensor is computed like a 1-element one; an empty one gives an empty result.
    REQUIRE_BITS_EQUAL(f(x.narrow(0, 3, 1).reshape({})), whole.narrow(0, 3, 1).reshape({}));
    CHECK(f(x.narrow(0, 0, 0)).numel() == 0);
    for (int n : {1, 2})
      for (int64_t len : {int64_t(1), int64_t(7), int64_t(4095), int64_t(4096), int64_t(40000)}) {
        set_num_threads(n);
        const Tensor part = f(x.narrow(0, 0, len).contiguous());
        set_num_threads(threads);
        INFO(fmt::format("{} thread(s), first {} elements", n, len));
        CHECK(last_selected_backend() == Backend::OneDNN);
        REQUIRE_BITS_EQUAL(part, whole.narrow(0, 0, len));
      }
  }
}

// The fix-up reads the input after oneDNN wrote the output: in place and into a strided output
// (dispatch_out) it must still see the input.
TEST_CASE("oneDNN semantics: transcendental ops in place and into a strided output", "[onednn_semantics]") {
  for (OpId op : {OpId::exp, OpId::sigmoid, OpId::tanh}) {
    INFO(op_name(op));
    const Tensor x = special_input({64, 64}, 5);
    const Tensor expected = dispatch1(op, {x}, {});
    Tensor inplace = x.clone();
    dispatch_out(op, {inplace}, {}, {inplace});
    REQUIRE_BITS_EQUAL(inplace, expected);
    Tensor wide = zeros({64, 128});
    Tensor strided = wide.slice(1, 0, 128, 2);
    dispatch_out(op, {x}, {}, {strided});
    REQUIRE_BITS_EQUAL(strided, expected);
  }
}

TEST_CASE("oneDNN semantics: unary special values (hand values) at every size", "[onednn_semantics]") {
  for (int64_t n : {8, 4095, 4096, 40000}) {
    INFO(fmt::format("n = {}", n));
    const Tensor x = with_head({kNaN, kInf, -kInf, -0.f, kDenorm, 1.0001f}, n);
    CHECK(std::isnan(at(relu(x), 0)));
    CHECK(std::isnan(at(exp(x), 0)));
    CHECK(std::isnan(at(clamp(x, Scalar(-1.0), Scalar(1.0)), 0)));
    CHECK(std::isnan(at(sigmoid(x), 0)));
    CHECK(std::isnan(at(tanh(x), 0)));
    CHECK(at(gelu(x), 1) == kInf);
    CHECK(at(gelu(x, true), 1) == kInf);
    // Signed zeros as in PyTorch 1.13: relu, gelu_tanh, silu, tanh keep -0; gelu and elu give +0.
    CHECK(std::signbit(at(relu(x), 3)));
    CHECK(std::signbit(at(gelu(x, true), 3)));
    CHECK(std::signbit(at(silu(x), 3)));
    CHECK(std::signbit(at(tanh(x), 3)));
    CHECK(at(gelu(x), 3) == 0.f);
    CHECK(!std::signbit(at(gelu(x), 3)));
    CHECK(at(elu(x, 1.0), 3) == 0.f);
    CHECK(!std::signbit(at(elu(x, 1.0), 3)));
    CHECK(at(tanh(x), 4) == kDenorm);  // denormals are not flushed
    CHECK(at(gelu(x, true), 4) == 0.5f * kDenorm);
    CHECK(at(exp(with_head({-100.f}, n)), 0) == float(std::exp(-100.0)));  // denormal result
    CHECK(at(exp(x), 2) == 0.f);
    CHECK(std::signbit(at(neg(x), 4)));  // neg(+denormal) is -denormal
    CHECK(at(neg(x), 4) == -kDenorm);
    CHECK(std::signbit(at(neg(with_head({0.f}, n)), 0)));      // neg(+0) = -0
    CHECK(at(log(x), 4) == float(std::log(double(kDenorm))));  // denormals are not flushed
    CHECK(at(log(x), 5) == float(std::log(double(1.0001f))));  // correctly rounded near 1
    CHECK(at(sqrt(x), 4) == float(std::sqrt(double(kDenorm))));
    const Tensor lr = leaky_relu(x, 0.1);
    CHECK(std::isnan(at(lr, 0)));
    CHECK(at(lr, 1) == kInf);
    CHECK(at(lr, 2) == -kInf);
    CHECK(std::signbit(at(lr, 3)));
    CHECK(at(lr, 4) == kDenorm);
    CHECK(std::signbit(at(sqrt(x), 3)));  // sqrt(-0) = -0
    CHECK(std::isnan(at(sqrt(neg(x)), 5)));
    CHECK(at(abs(x), 3) == 0.f);
    CHECK(!std::signbit(at(abs(x), 3)));
  }
}

TEST_CASE("oneDNN semantics: binary ops and comparisons equal the reference bitwise, broadcast both ways",
          "[onednn_semantics]") {
  using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
  const std::pair<const char*, BinaryFn> ops[] = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }},
      {"eq", [](const Tensor& a, const Tensor& b) { return eq(a, b); }},
      {"ne", [](const Tensor& a, const Tensor& b) { return ne(a, b); }},
      {"lt", [](const Tensor& a, const Tensor& b) { return lt(a, b); }},
      {"le", [](const Tensor& a, const Tensor& b) { return le(a, b); }},
      {"gt", [](const Tensor& a, const Tensor& b) { return gt(a, b); }},
      {"ge", [](const Tensor& a, const Tensor& b) { return ge(a, b); }},
  };
  // Full-shape pairs on both sides of the threshold, and 2-d/3-d operands broadcast either way.
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{4095}, {4095}}, {{4096}, {4096}},    {{64, 64}, {64, 64}},    {{64, 64}, {64}}, {{64}, {64, 64}},
      {{63, 65}, {65}}, {{1, 65}, {63, 65}}, {{4, 32, 320}, {32, 1}}, {{40000}, {1}}};
  for (const auto& [name, f] : ops)
    for (const auto& [sa, sb] : shapes) {
      INFO(fmt::format("{} of {} and {}", name, shape_str(sa), shape_str(sb)));
      const Tensor a = special_input(sa, 3), b = special_input(sb, 5);
      check_matches_reference([&] { return f(a, b); });
    }
}

TEST_CASE("oneDNN semantics: comparisons with NaN are false (ne true) at every size", "[onednn_semantics]") {
  for (const Shape& shape : {Shape{4, 4}, Shape{64, 64}, Shape{16, 1024}}) {
    INFO(shape_str(shape));
    const Tensor a = full(shape, Scalar(kNaN)), one = full(shape, Scalar(1.0));
    const Tensor row = full({shape[1]}, Scalar(1.0));  // broadcast second operand
    for (const Tensor& b : {one, row}) {
      CHECK(count_true(gt(a, b)) == 0);
      CHECK(count_true(ge(a, b)) == 0);
      CHECK(count_true(lt(a, b)) == 0);
      CHECK(count_true(le(a, b)) == 0);
      CHECK(count_true(eq(a, b)) == 0);
      CHECK(count_true(ne(a, b)) == ne(a, b).numel());
      CHECK(count_true(lt(b, a)) == 0);  // broadcast first operand (swapped for oneDNN before)
      CHECK(count_true(ge(b, a)) == 0);
    }
    // lt/le after the broadcasting swap: row (first operand) < full tensor.
    const Tensor big = full(shape, Scalar(2.0));
    CHECK(count_true(lt(row, big)) == lt(row, big).numel());
    CHECK(count_true(le(row, big)) == le(row, big).numel());
    CHECK(count_true(gt(row, big)) == 0);
  }
}

TEST_CASE("oneDNN semantics: add/sub/mul/div keep denormals, signed zeros and NaN on oneDNN", "[onednn_semantics]") {
  const Tensor a = with_head({kDenorm, -0.f, -0.f, kInf, kNaN, 3e-39f}, 4096);
  const Tensor b = with_head({kDenorm, 0.f, -0.f, -kInf, 1.f, 1e-39f}, 4096);
  const Tensor s = add(a, b);
  CHECK(last_selected_backend() == Backend::OneDNN);
  CHECK(at(s, 0) == 2 * kDenorm);
  CHECK(!std::signbit(at(s, 1)));
  CHECK(std::signbit(at(s, 2)));  // -0 + -0 = -0
  CHECK(std::isnan(at(s, 3)));
  CHECK(std::isnan(at(s, 4)));
  CHECK(at(s, 5) == 3e-39f + 1e-39f);
  const Tensor d = sub(a, b);
  CHECK(at(d, 0) == 0.f);
  CHECK(std::signbit(at(d, 1)));  // -0 - 0 = -0
  CHECK(at(d, 5) == 3e-39f - 1e-39f);
  const Tensor m = mul(a, b);
  CHECK(at(m, 0) == 0.f);  // underflow to +0
  CHECK(std::signbit(at(m, 1)));
  CHECK(at(div(a, b), 5) == 3e-39f / 1e-39f);
}

TEST_CASE("oneDNN semantics: reductions and softmax propagate NaN and infinities", "[onednn_semantics]") {
  for (const Shape& shape : {Shape{8, 16}, Shape{64, 512}}) {
    INFO(shape_str(shape));
    Tensor x = make_input(shape, DType::Float32, 11);
    float* p = x.data_ptr<float>();
    const int64_t w = shape[1];
    p[0 * w + 3] = kNaN;                                   // row 0: NaN
    p[1 * w + 5] = kInf;                                   // row 1: +inf
    p[2 * w + 1] = -kInf;                                  // row 2: -inf
    p[3 * w + 0] = kInf, p[3 * w + 2] = -kInf;             // row 3: both
    for (int64_t j = 0; j < w; ++j) p[4 * w + j] = -kInf;  // row 4: all -inf
    const Tolerance tol{1e-5, 1e-6};
    for (auto f :
         {+[](const Tensor& t) { return sum(t, {1}); }, +[](const Tensor& t) { return mean(t, {1}); },
          +[](const Tensor& t) { return prod(t, {1}); }, +[](const Tensor& t) { return amax(t, {1}); },
          +[](const Tensor& t) { return amin(t, {1}); }, +[](const Tensor& t) { return amax(t, {0}); },
          +[](const Tensor& t) { return softmax(t, 1); }, +[](const Tensor& t) { return log_softmax(t, 1); }}) {
      Tensor ref;
      {
        ForceBackendGuard g(Backend::Reference);
        ref = f(x);
      }
      DOPPEL_REQUIRE_CLOSE(f(x), ref, tol);
    }
    CHECK(std::isnan(at(amax(x, {1}), 0)));
    CHECK(std::isnan(at(amin(x, {1}), 0)));
    CHECK(at(amax(x, {1}), 1) == kInf);
    CHECK(at(amin(x, {1}), 2) == -kInf);
    CHECK(std::isnan(at(sum(x, {1}), 3)));
    const Tensor sm = softmax(x, 1);
    CHECK(std::isnan(at(sm, 0)));          // a NaN row is NaN
    CHECK(std::isnan(at(sm, 1 * w + 5)));  // a row with +inf is NaN (inf - inf), as in PyTorch
    CHECK(std::isnan(at(sm, 1 * w)));
    CHECK(at(sm, 2 * w + 1) == 0.f);   // exp(-inf) is exactly 0
    CHECK(std::isnan(at(sm, 4 * w)));  // an all -inf row is NaN (0/0)
  }
}

TEST_CASE("oneDNN semantics: amax/amin of signed zeros and denormals equal the reference bitwise",
          "[onednn_semantics]") {
  for (const Shape& shape : {Shape{8, 16}, Shape{64, 512}}) {
    INFO(shape_str(shape));
    Tensor x = make_input(shape, DType::Float32, 13, -1.0, 0.0);
    float* p = x.data_ptr<float>();
    for (int64_t i = 0; i < x.numel(); i += 2) p[i] = (i / 2) % 3 == 0 ? -0.f : (i / 2) % 3 == 1 ? 0.f : -kDenorm;
    for (auto f : {+[](const Tensor& t) { return amax(t, {1}); }, +[](const Tensor& t) { return amin(t, {1}); },
                   +[](const Tensor& t) { return amax(t, {0}); }, +[](const Tensor& t) { return amin(t, {0}); }})
      check_matches_reference([&] { return f(x); });
  }
}

// Casts between float types run as oneDNN reorders from 4096 elements on: NaN, infinities, signed
// zeros, denormals and rounding must be those of the reference conversion (checked in float32,
// which holds every bfloat16/float16 value exactly).
TEST_CASE("oneDNN semantics: float casts equal the reference bitwise", "[onednn_semantics]") {
  for (const Shape& shape : {Shape{4095}, Shape{64, 64}, Shape{40000}}) {
    Tensor x = special_input(shape, 9);
    float* p = x.data_ptr<float>();
    for (int64_t i = 1; i < x.numel(); i += 7) p[i] = std::ldexp(p[i], -130);  // float32/float16 denormals
    for (DType to : {DType::BFloat16, DType::Float16}) {
      INFO(fmt::format("{} to {}", shape_str(shape), dtype_name(to)));
      check_matches_reference([&] { return to_dtype(to_dtype(x, to), DType::Float32); });
      const Tensor narrow = to_dtype(x, to);
      check_matches_reference([&] { return to_dtype(narrow, DType::Float32); });
    }
  }
}

// The activation post-ops of fused_linear / fused_conv2d / blocked_conv2d map NaN and infinities
// unlike the unary ops (relu(NaN) = 0, gelu(+inf) = NaN): such inputs take the reference kernel.
TEST_CASE("oneDNN semantics: fused activations keep NaN and infinities", "[onednn_semantics]") {
  const Attrs relu = FusedLinearAttrs{.activation = int64_t(FusedActivation::relu), .alpha = 0.0, .beta = 0.0}.pack();
  const Attrs gelu =
      FusedLinearAttrs{.activation = int64_t(FusedActivation::gelu_erf), .alpha = 0.0, .beta = 0.0}.pack();
  const Attrs sigm =
      FusedLinearAttrs{.activation = int64_t(FusedActivation::sigmoid), .alpha = 0.0, .beta = 0.0}.pack();
  Tensor x = make_input({96, 130}, DType::Float32, 31), w = make_input({70, 130}, DType::Float32, 32);
  const Tensor b = make_input({70}, DType::Float32, 33);
  x.data_ptr<float>()[0] = kNaN;        // row 0 all NaN
  x.data_ptr<float>()[130 + 1] = kInf;  // row 1: +-inf
  for (const Attrs& a : {relu, gelu, sigm}) {
    const Tensor y = dispatch1(OpId::fused_linear, {x, w, b}, a);
    CHECK(last_selected_backend() == Backend::OneDNN);
    CHECK(std::isnan(at(y, 0)));
    Tensor ref;
    {
      ForceBackendGuard g(Backend::Reference);
      ref = dispatch1(OpId::fused_linear, {x, w, b}, a);
    }
    DOPPEL_REQUIRE_CLOSE(y, ref, (Tolerance{1e-4, 1e-4}));
  }
  Tensor img = make_input({2, 8, 12, 12}, DType::Float32, 34);
  img.data_ptr<float>()[5] = kNaN;
  const Tensor k = make_input({16, 8, 3, 3}, DType::Float32, 35);
  const Attrs conv = FusedConv2dAttrs{.stride = {1, 1},
                                      .padding = {1, 1},
                                      .dilation = {1, 1},
                                      .groups = 1,
                                      .activation = int64_t(FusedActivation::relu),
                                      .alpha = 0.0,
                                      .beta = 0.0}
                         .pack();
  const Tensor y = dispatch1(OpId::fused_conv2d, {img, k}, conv);
  CHECK(last_selected_backend() == Backend::OneDNN);
  Tensor ref;
  {
    ForceBackendGuard g(Backend::Reference);
    ref = dispatch1(OpId::fused_conv2d, {img, k}, conv);
  }
  DOPPEL_REQUIRE_CLOSE(y, ref, (Tolerance{1e-4, 1e-4}));
  CHECK(std::isnan(at(y, 5)));
}

// max_pool2d / its backward / blocked_max_pool2d on float32 with NaN equal the float64 computation
// (whose reference kernel propagates NaN as PyTorch does) at small and large sizes.
TEST_CASE("oneDNN semantics: max pooling propagates NaN forward and routes its gradient to the NaN",
          "[onednn_semantics]") {
  for (const Shape& shape : {Shape{1, 2, 6, 6}, Shape{4, 16, 32, 32}}) {
    INFO(shape_str(shape));
    Tensor x = make_input(shape, DType::Float32, 21);
    float* p = x.data_ptr<float>();
    const int64_t hw = shape[2] * shape[3];
    p[0] = kNaN;           // plane 0, window (0, 0)
    p[hw + 7] = kNaN;      // plane 1, row 1 column 1
    p[2 * 7 + 3] = -kInf;  // plane 0: -inf does not win
    const Tensor x64 = to_dtype(x, DType::Float64);
    for (bool ceil : {false, true}) {
      const Tensor y = max_pool2d(x, {3, 3}, {2, 2}, {1, 1}, {1, 1}, ceil);
      CHECK(last_selected_backend() == Backend::OneDNN);
      const Tensor y64 = max_pool2d(x64, {3, 3}, {2, 2}, {1, 1}, {1, 1}, ceil);
      REQUIRE_BITS_EQUAL(y, to_dtype(y64, DType::Float32));
      CHECK(std::isnan(at(y, 0)));
      // Backward: the gradient of each NaN window goes to the NaN's position.
      const Tensor go = make_input(y.shape(), DType::Float32, 22);
      const Attrs attrs =
          MaxPoolAttrs{
              .kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .dilation = {1, 1}, .ceil_mode = ceil}
              .pack();
      const Tensor gi = dispatch1(OpId::max_pool2d_backward, {go, x}, attrs);
      CHECK(last_selected_backend() == Backend::OneDNN);
      const Tensor gi64 = dispatch1(OpId::max_pool2d_backward, {to_dtype(go, DType::Float64), x64}, attrs);
      REQUIRE_BITS_EQUAL(gi, to_dtype(gi64, DType::Float32));
      CHECK(at(gi, 0) == at(go, 0));
    }
    // The layout pass's blocked max pooling.
    const int64_t C = shape[1];
    const Tensor xb = dispatch1(OpId::to_blocked, {x}, ToBlockedAttrs{.block = 8}.pack());
    const Attrs pool =
        MaxPoolAttrs{.kernel_size = {2, 2}, .stride = {2, 2}, .padding = {0, 0}, .dilation = {1, 1}, .ceil_mode = false}
            .pack();
    const Tensor yb = dispatch1(OpId::blocked_max_pool2d, {xb}, pool);
    CHECK(last_selected_backend() == Backend::OneDNN);
    const Tensor y = dispatch1(OpId::from_blocked, {yb}, FromBlockedAttrs{.channels = C}.pack());
    REQUIRE_BITS_EQUAL(y, to_dtype(max_pool2d(x64, {2, 2}), DType::Float32));
  }
}

TEST_CASE("float32 log_softmax is accurate for outputs near 0 at every size", "[onednn_semantics]") {
  // One dominant score per row: its log-probability is a small negative number (~ -1e-3), where
  // oneDNN's approximate log of the row sum was off by ~1e-6 absolute (1e-3 relative). Checked
  // against a double computation, on both sides of the size thresholds.
  for (const int64_t w : {5, 64, 700, 4096}) {
    Tensor x = make_input({3, w}, DType::Float32, 17);
    float* p = x.data_ptr<float>();
    for (int64_t r = 0; r < 3; ++r) p[r * w] = 12.0f + float(r);
    const std::vector<float> y = log_softmax(x, 1).to_vector<float>();
    for (int64_t r = 0; r < 3; ++r) {
      double m = -INFINITY, s = 0;
      for (int64_t j = 0; j < w; ++j) m = std::max(m, double(p[r * w + j]));
      for (int64_t j = 0; j < w; ++j) s += std::exp(double(p[r * w + j]) - m);
      const double want = double(p[r * w]) - m - std::log(s);
      INFO("width " << w << " row " << r << ": " << y[size_t(r * w)] << " vs " << want);
      CHECK(std::abs(double(y[size_t(r * w)]) - want) <=
            4 * std::abs(want) * std::numeric_limits<float>::epsilon() + 1e-9);
    }
  }
}

}  // namespace
}  // namespace doppel::testing
