// Specs and value tests of the view ops (view, permute, slice, select, expand, squeeze,
// unsqueeze) and the eager helpers built on them (reshape, flatten, narrow, transpose, t).
#include <limits>

#include "doppel/kernels/op_attrs/views.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kAllDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8,
                                       DType::UInt8,   DType::Int32,   DType::Int64,    DType::Bool};

Tensor in(IntList shape, DType t = DType::Float32, uint64_t seed = 1) { return make_input(shape, t, seed); }
Attrs slice_attrs(int64_t d, int64_t a, int64_t b, int64_t s) {
  return SliceAttrs{.dim = d, .start = a, .end = b, .step = s}.pack();
}

// Storage sharing: the view's elements live in the base's memory block.
bool shares(const Tensor& v, const Tensor& base) { return v.storage().get() == base.storage().get(); }

std::vector<float> fv(const Tensor& t) { return t.to_vector<float>(); }
std::vector<float> iota(int n, float from = 0) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) v[size_t(k)] = from + float(k);
  return v;
}
Tensor iota_t(IntList shape) { return arange(0, numel_of(shape), 1, TensorOptions{}).reshape(shape); }

}  // namespace

DOPPEL_OP_SPEC(view_spec) {
  return OpSpec{.op = OpId::view,
                .dtypes = kAllDTypes,
                .samples =
                    [](DType t) {
                      return std::vector<Sample>{
                          {"split", {in({6, 4}, t)}, ViewAttrs{.shape = {2, 3, 4}}.pack()},
                          {"infer -1", {in({6, 4}, t)}, ViewAttrs{.shape = {-1, 8}}.pack()},
                          {"flatten", {in({2, 3, 4}, t)}, ViewAttrs{.shape = {24}}.pack()},
                          {"0-d to 1", {in({}, t)}, ViewAttrs{.shape = {1, 1}}.pack()},
                          {"1 to 0-d", {in({1}, t)}, ViewAttrs{.shape = {}}.pack()},
                          {"empty", {in({0, 3}, t)}, ViewAttrs{.shape = {3, 0, 5}}.pack()},
                          {"transposed split", {transpose(in({4, 6}, t), 0, 1)}, ViewAttrs{.shape = {6, 2, 2}}.pack()},
                          {"large", {in({128, 300}, t)}, ViewAttrs{.shape = {300, -1}}.pack()}};
                    },
                .errors =
                    [] {
                      const Tensor x = in({2, 3});
                      return std::vector<ErrorSample>{
                          {"wrong numel", {x}, ViewAttrs{.shape = {7}}.pack(), ErrorKind::Shape, "view"},
                          {"two -1", {x}, ViewAttrs{.shape = {-1, -1}}.pack(), ErrorKind::Shape, "view"},
                          {"negative size", {x}, ViewAttrs{.shape = {-2, -3}}.pack(), ErrorKind::Shape, "view"},
                          {"-1 with zero", {in({0, 3})}, ViewAttrs{.shape = {0, -1}}.pack(), ErrorKind::Shape, "view"},
                          {"incompatible strides",
                           {transpose(in({4, 6}), 0, 1)},
                           ViewAttrs{.shape = {24}}.pack(),
                           ErrorKind::Shape,
                           "view"}};
                    },
                // A padded copy of the input is not viewable as the samples ask; layouts matter here.
                .test_noncontiguous = false};
}

DOPPEL_OP_SPEC(permute_spec) {
  return OpSpec{
      .op = OpId::permute,
      .dtypes = kAllDTypes,
      .samples =
          [](DType t) {
            return std::vector<Sample>{{"3-d", {in({2, 3, 4}, t)}, PermuteAttrs{.dims = {2, 0, 1}}.pack()},
                                       {"negative dims", {in({2, 3, 4}, t)}, PermuteAttrs{.dims = {-1, -3, -2}}.pack()},
                                       {"0-d", {in({}, t)}, PermuteAttrs{.dims = {}}.pack()},
                                       {"empty", {in({0, 3}, t)}, PermuteAttrs{.dims = {1, 0}}.pack()},
                                       {"large", {in({64, 300}, t)}, PermuteAttrs{.dims = {1, 0}}.pack()}};
          },
      .errors =
          [] {
            const Tensor x = in({2, 3, 4});
            return std::vector<ErrorSample>{
                {"duplicate dim", {x}, PermuteAttrs{.dims = {0, 0, 1}}.pack(), ErrorKind::Index, "permute"},
                {"dim out of range", {x}, PermuteAttrs{.dims = {0, 1, 3}}.pack(), ErrorKind::Index, "permute"},
                {"too few dims", {x}, PermuteAttrs{.dims = {0, 1}}.pack(), ErrorKind::Shape, "permute"}};
          }};
}

DOPPEL_OP_SPEC(slice_spec) {
  return OpSpec{.op = OpId::slice,
                .dtypes = kAllDTypes,
                .samples =
                    [](DType t) {
                      return std::vector<Sample>{
                          {"middle", {in({5, 4}, t)}, slice_attrs(0, 1, 4, 1)},
                          {"step 2", {in({5, 7}, t)}, slice_attrs(1, 0, 7, 2)},
                          {"step 3 negative dim", {in({5, 7}, t)}, slice_attrs(-1, 1, 7, 3)},
                          {"negative start/end", {in({9}, t)}, slice_attrs(0, -5, -1, 1)},
                          {"clamped end", {in({4, 3}, t)}, slice_attrs(0, 2, 100, 1)},
                          {"clamped start", {in({4, 3}, t)}, slice_attrs(0, -100, 2, 1)},
                          {"end before start", {in({4, 3}, t)}, slice_attrs(0, 3, 1, 1)},
                          {"empty input", {in({0, 3}, t)}, slice_attrs(0, 0, 5, 1)},
                          {"huge step",
                           {in({5, 2}, t)},
                           slice_attrs(0, 1, std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max())},
                          {"large", {in({300, 64}, t)}, slice_attrs(0, 7, 290, 4)}};
                    },
                .errors =
                    [] {
                      const Tensor x = in({4, 3});
                      return std::vector<ErrorSample>{
                          {"dim out of range", {x}, slice_attrs(2, 0, 1, 1), ErrorKind::Index, "slice"},
                          {"0-d", {in({})}, slice_attrs(0, 0, 1, 1), ErrorKind::Index, "slice"},
                          {"step 0", {x}, slice_attrs(0, 0, 4, 0), ErrorKind::Value, "slice"},
                          {"negative step", {x}, slice_attrs(0, 0, 4, -1), ErrorKind::Value, "slice"}};
                    }};
}

DOPPEL_OP_SPEC(select_spec) {
  return OpSpec{
      .op = OpId::select,
      .dtypes = kAllDTypes,
      .samples =
          [](DType t) {
            return std::vector<Sample>{{"row", {in({4, 3}, t)}, SelectAttrs{.dim = 0, .index = 2}.pack()},
                                       {"column", {in({4, 3}, t)}, SelectAttrs{.dim = 1, .index = 0}.pack()},
                                       {"negative index", {in({4, 3}, t)}, SelectAttrs{.dim = -1, .index = -2}.pack()},
                                       {"to 0-d", {in({5}, t)}, SelectAttrs{.dim = 0, .index = 4}.pack()},
                                       {"empty rest", {in({3, 0}, t)}, SelectAttrs{.dim = 0, .index = 1}.pack()},
                                       {"large", {in({10, 200, 30}, t)}, SelectAttrs{.dim = 1, .index = 150}.pack()}};
          },
      .errors =
          [] {
            const Tensor x = in({4, 3});
            return std::vector<ErrorSample>{
                {"index too large", {x}, SelectAttrs{.dim = 0, .index = 4}.pack(), ErrorKind::Index, "select"},
                {"index too negative", {x}, SelectAttrs{.dim = 1, .index = -4}.pack(), ErrorKind::Index, "select"},
                {"dim out of range", {x}, SelectAttrs{.dim = -3, .index = 0}.pack(), ErrorKind::Index, "select"},
                {"0-d", {in({})}, SelectAttrs{.dim = 0, .index = 0}.pack(), ErrorKind::Index, "select"},
                {"empty dim", {in({0, 2})}, SelectAttrs{.dim = 0, .index = 0}.pack(), ErrorKind::Index, "select"}};
          }};
}

DOPPEL_OP_SPEC(expand_spec) {
  return OpSpec{
      .op = OpId::expand,
      .dtypes = kAllDTypes,
      .samples =
          [](DType t) {
            return std::vector<Sample>{{"row to matrix", {in({1, 3}, t)}, ExpandAttrs{.shape = {4, 3}}.pack()},
                                       {"new leading dims", {in({3}, t)}, ExpandAttrs{.shape = {2, 2, 3}}.pack()},
                                       {"-1 keeps", {in({2, 1}, t)}, ExpandAttrs{.shape = {-1, 5}}.pack()},
                                       {"0-d", {in({}, t)}, ExpandAttrs{.shape = {2, 3}}.pack()},
                                       {"0-d to 0-d", {in({}, t)}, ExpandAttrs{.shape = {}}.pack()},
                                       {"to empty", {in({1, 3}, t)}, ExpandAttrs{.shape = {0, 3}}.pack()},
                                       {"large", {in({300, 1}, t)}, ExpandAttrs{.shape = {300, 64}}.pack()}};
          },
      .errors =
          [] {
            const Tensor x = in({2, 3});
            return std::vector<ErrorSample>{
                {"non-1 dim", {x}, ExpandAttrs{.shape = {4, 3}}.pack(), ErrorKind::Shape, "expand"},
                {"fewer dims", {x}, ExpandAttrs{.shape = {3}}.pack(), ErrorKind::Shape, "expand"},
                {"-1 leading", {x}, ExpandAttrs{.shape = {-1, 2, 3}}.pack(), ErrorKind::Shape, "expand"},
                {"negative size", {in({1, 3})}, ExpandAttrs{.shape = {-2, 3}}.pack(), ErrorKind::Shape, "expand"}};
          }};
}

DOPPEL_OP_SPEC(squeeze_spec) {
  return OpSpec{
      .op = OpId::squeeze,
      .dtypes = kAllDTypes,
      .samples =
          [](DType t) {
            return std::vector<Sample>{{"all", {in({1, 3, 1, 2}, t)}, SqueezeAttrs{.dims = {}}.pack()},
                                       {"one dim", {in({1, 3, 1, 2}, t)}, SqueezeAttrs{.dims = {2}}.pack()},
                                       {"negative dim", {in({1, 3, 1}, t)}, SqueezeAttrs{.dims = {-1}}.pack()},
                                       {"non-1 dim stays", {in({2, 3}, t)}, SqueezeAttrs{.dims = {0}}.pack()},
                                       {"0-d", {in({}, t)}, SqueezeAttrs{.dims = {}}.pack()},
                                       {"0-d dim", {in({}, t)}, SqueezeAttrs{.dims = {-1}}.pack()},
                                       {"to 0-d", {in({1, 1}, t)}, SqueezeAttrs{.dims = {}}.pack()},
                                       {"empty", {in({0, 1}, t)}, SqueezeAttrs{.dims = {}}.pack()}};
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{
                {"dim out of range", {in({1, 3})}, SqueezeAttrs{.dims = {2}}.pack(), ErrorKind::Index, "squeeze"},
                {"0-d dim out of range", {in({})}, SqueezeAttrs{.dims = {1}}.pack(), ErrorKind::Index, "squeeze"}};
          }};
}

DOPPEL_OP_SPEC(unsqueeze_spec) {
  return OpSpec{
      .op = OpId::unsqueeze,
      .dtypes = kAllDTypes,
      .samples =
          [](DType t) {
            return std::vector<Sample>{{"front", {in({3, 4}, t)}, UnsqueezeAttrs{.dim = 0}.pack()},
                                       {"middle", {in({3, 4}, t)}, UnsqueezeAttrs{.dim = 1}.pack()},
                                       {"end", {in({3, 4}, t)}, UnsqueezeAttrs{.dim = 2}.pack()},
                                       {"negative", {in({3, 4}, t)}, UnsqueezeAttrs{.dim = -1}.pack()},
                                       {"0-d", {in({}, t)}, UnsqueezeAttrs{.dim = 0}.pack()},
                                       {"0-d negative", {in({}, t)}, UnsqueezeAttrs{.dim = -1}.pack()},
                                       {"empty", {in({0, 2}, t)}, UnsqueezeAttrs{.dim = 1}.pack()}};
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{
                {"dim too large", {in({3, 4})}, UnsqueezeAttrs{.dim = 3}.pack(), ErrorKind::Index, "unsqueeze"},
                {"dim too negative", {in({3, 4})}, UnsqueezeAttrs{.dim = -4}.pack(), ErrorKind::Index, "unsqueeze"}};
          }};
}

// ---- Value tests.

TEST_CASE("every view shares storage and writes through", "[views]") {
  Tensor base = iota_t({4, 6});
  const std::vector<Tensor> views = {base.view({6, 4}),
                                     base.permute({1, 0}),
                                     base.slice(1, 1, 5, 2),
                                     base.select(0, 2),
                                     base.expand({3, 4, 6}),
                                     base.unsqueeze(1),
                                     base.view({1, 24}).squeeze(),
                                     base.narrow(0, 1, 2),
                                     base.t(),
                                     base.reshape({2, 12}),
                                     base.flatten()};
  for (const Tensor& v : views) {
    CHECK(shares(v, base));
    CHECK(v.raw_data() >= base.raw_data());
  }
  CHECK(views[0].raw_data() == base.raw_data());
  // select(0, 2) starts at element 12; slice(1, 1, ...) at element 1.
  CHECK(views[3].raw_data() == static_cast<char*>(base.raw_data()) + 12 * 4);
  CHECK(views[2].storage_offset() == 1);
  // A write through a view is seen in the base (and the version counter is shared).
  const uint64_t v0 = base.version();
  copy_(base.select(0, 2), full({6}, -1));
  CHECK(base.version() > v0);
  CHECK(fv(base.select(0, 2)) == std::vector<float>(6, -1.f));
  copy_(base.slice(1, 0, 6, 3), full({4, 2}, 100));
  const auto b = fv(base);
  CHECK(b[0] == 100.f);
  CHECK(b[3] == 100.f);
  CHECK(b[1] == 1.f);
  CHECK(b[15] == 100.f);
  copy_(base.t().select(0, 5), tensor(std::vector<float>{7, 8, 9, 10}));
  CHECK(fv(base.select(1, 5)) == std::vector<float>{7, 8, 9, 10});
}

TEST_CASE("view: contiguous, legal strided views, and the error otherwise", "[views]") {
  Tensor a = iota_t({2, 3, 4});
  CHECK(a.view({6, -1}).shape() == Shape{6, 4});
  CHECK(fv(a.view({4, 6}).select(0, 1)) == iota(6, 6));
  // A transposed [4, 6] is [6, 4] with strides [1, 6]: its last dim splits without copying.
  Tensor b = iota_t({4, 6});
  Tensor bt = b.t();
  Tensor v = bt.view({6, 2, 2});
  CHECK(shares(v, b));
  CHECK(v.strides() == Strides{1, 12, 6});
  CHECK(fv(v) == fv(bt.contiguous()));
  // Merging the transposed dims crosses a stride discontinuity.
  CHECK_THROWS_AS(bt.view({24}), ShapeError);
  CHECK_THROWS_AS(bt.view({2, 12}), ShapeError);
  // A column slice keeps contiguous rows: merging inside a row is not possible, splitting rows is.
  Tensor s = b.slice(1, 0, 4);  // [4, 4], strides [6, 1]
  CHECK(s.view({2, 2, 4}).strides() == Strides{12, 6, 1});
  CHECK(fv(s.view({2, 2, 4})) == fv(s.contiguous()));
  CHECK_THROWS_AS(s.view({16}), ShapeError);
  // Size-1 dims and expanded (stride 0) dims.
  Tensor e = tensor(std::vector<float>{1, 2, 3}).expand({2, 3});
  CHECK(e.view({2, 1, 3}).strides() == Strides{0, 3, 1});
  CHECK(fv(e.view({2, 1, 3})) == std::vector<float>{1, 2, 3, 1, 2, 3});
  CHECK_THROWS_AS(e.view({6}), ShapeError);
  CHECK_THROWS_AS(a.view({5, 5}), ShapeError);
  CHECK_THROWS_AS(a.view({-1, -1}), ShapeError);
}

TEST_CASE("reshape views when it can and copies when it must", "[views]") {
  Tensor b = iota_t({4, 6});
  Tensor r = b.reshape({3, 8});
  CHECK(shares(r, b));
  Tensor rt = b.t().reshape({24});  // needs a copy
  CHECK_FALSE(shares(rt, b));
  CHECK(rt.is_contiguous());
  std::vector<float> expect;
  for (int j = 0; j < 6; ++j)
    for (int k = 0; k < 4; ++k) expect.push_back(float(k * 6 + j));
  CHECK(fv(rt) == expect);
  CHECK(shares(b.t().reshape({6, 2, 2}), b));  // viewable, so no copy
  CHECK_THROWS_AS(b.t().reshape({5}), ShapeError);
  CHECK_THROWS_AS(b.reshape({7, -1}), ShapeError);
}

TEST_CASE("reshape errors name reshape, both shapes and the element count to give", "[views]") {
  const Tensor b = iota_t({4, 6});
  // Contiguous, strided (the copy path) and a shape with two -1: each is reshape's error, not
  // the view op's it is built on.
  const std::vector<std::pair<Tensor, Shape>> cases = {{b, {7, -1}}, {b.t(), {5}}, {b, {-1, -1}}};
  for (const auto& [t, shape] : cases) {
    INFO(shape_str(shape));
    try {
      (void)t.reshape(shape);
      FAIL("no ShapeError");
    } catch (const ShapeError& e) {
      const std::string m = e.what();
      INFO(m);
      CHECK(m.rfind("reshape: shape " + shape_str(shape), 0) == 0);
      CHECK(m.find("(shape " + shape_str(t.shape()) + ")") != std::string::npos);
      CHECK(m.find("give a shape of 24 elements") != std::string::npos);
      CHECK(m.find("view:") == std::string::npos);
    }
  }
}

TEST_CASE("flatten, narrow, transpose, t, squeeze(dim), broadcast_to", "[views]") {
  Tensor a = iota_t({2, 3, 4});
  CHECK(a.flatten().shape() == Shape{24});
  CHECK(a.flatten(1).shape() == Shape{2, 12});
  CHECK(a.flatten(0, 1).shape() == Shape{6, 4});
  CHECK(a.flatten(-2, -1).shape() == Shape{2, 12});
  CHECK(scalar(5.f).flatten().shape() == Shape{1});
  CHECK_THROWS_AS(a.flatten(2, 1), IndexError);
  Tensor ft = a.transpose(0, 2).flatten();  // copy: [4, 3, 2] read in order
  CHECK(fv(ft)[1] == 12.f);
  CHECK(fv(ft)[2] == 4.f);

  CHECK(fv(a.narrow(2, 1, 2).select(0, 0).select(0, 0)) == std::vector<float>{1, 2});
  CHECK(fv(a.narrow(1, -1, 1).flatten()) == std::vector<float>{8, 9, 10, 11, 20, 21, 22, 23});
  CHECK_THROWS_AS(a.narrow(1, 2, 2), IndexError);
  CHECK(a.narrow(0, 2, 0).numel() == 0);

  Tensor tr = a.transpose(0, -1);
  CHECK(tr.shape() == Shape{4, 3, 2});
  CHECK(tr.strides() == Strides{1, 4, 12});
  CHECK(fv(tr.select(0, 1).select(0, 2)) == std::vector<float>{9, 21});
  CHECK_THROWS_AS(a.transpose(0, 3), IndexError);
  Tensor m = iota_t({2, 3});
  CHECK(fv(m.t().contiguous()) == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(iota_t({3}).t().shape() == Shape{3});
  CHECK_THROWS_AS(a.t(), ShapeError);

  Tensor s = iota_t({1, 3, 1});
  CHECK(s.squeeze().shape() == Shape{3});
  CHECK(s.squeeze(0).shape() == Shape{3, 1});
  CHECK(s.squeeze(-1).shape() == Shape{1, 3});
  CHECK(s.squeeze(1).shape() == Shape{1, 3, 1});  // size 3: unchanged, as in PyTorch
  CHECK(s.unsqueeze(3).shape() == Shape{1, 3, 1, 1});
  CHECK(s.unsqueeze(-1).shape() == Shape{1, 3, 1, 1});
  CHECK(scalar(2).unsqueeze(0).shape() == Shape{1});

  Tensor bt = broadcast_to(tensor(std::vector<float>{1, 2}).reshape({2, 1}), {3, 2, 4});
  CHECK(bt.shape() == Shape{3, 2, 4});
  CHECK(bt.strides() == Strides{0, 1, 0});
  const auto bv = fv(bt);
  for (int x = 0; x < 3; ++x)
    for (int y = 0; y < 2; ++y)
      for (int z = 0; z < 4; ++z) CHECK(bv[size_t(x * 8 + y * 4 + z)] == float(y + 1));
  CHECK_THROWS_AS(broadcast_to(iota_t({2, 3}), {3, 3}), ShapeError);
}

TEST_CASE("slice and select values, negative and clamped bounds", "[views]") {
  Tensor v = iota_t({10});
  CHECK(fv(v.slice(0, 2, 8, 3)) == std::vector<float>{2, 5});
  CHECK(fv(v.slice(0, -3, std::nullopt)) == std::vector<float>{7, 8, 9});
  CHECK(fv(v.slice(0, std::nullopt, -8)) == std::vector<float>{0, 1});
  CHECK(fv(v.slice(0, 5, 100)) == std::vector<float>{5, 6, 7, 8, 9});
  CHECK(v.slice(0, 8, 2).numel() == 0);
  CHECK(fv(v.slice(0, std::nullopt, std::nullopt, 4)) == std::vector<float>{0, 4, 8});
  CHECK(fv(v.slice(0, 3, std::nullopt, std::numeric_limits<int64_t>::max())) == std::vector<float>{3});
  CHECK(fv(v.slice(0, 9, 10, 3)) == std::vector<float>{9});
  CHECK_THROWS_AS(v.narrow(0, 2, std::numeric_limits<int64_t>::max()), IndexError);
  Tensor m = iota_t({3, 4});
  Tensor c = m.slice(1, 1, 4, 2);
  CHECK(c.shape() == Shape{3, 2});
  CHECK(c.strides() == Strides{4, 2});
  CHECK(fv(c) == std::vector<float>{1, 3, 5, 7, 9, 11});
  CHECK(m.select(1, -1).to_vector<float>() == std::vector<float>{3, 7, 11});
  CHECK(m.select(0, 1).select(0, 2).item<float>() == 6.f);
  CHECK_THROWS_AS(m.select(0, 3), IndexError);
  CHECK_THROWS_AS(m.slice(2, 0, 1), IndexError);
  // Views of views compose offsets and strides.
  Tensor vv = m.t().slice(0, 1, 3).select(1, 2);
  CHECK(fv(vv) == std::vector<float>{9, 10});
}

TEST_CASE("expand and permute values", "[views]") {
  Tensor r = tensor(std::vector<int32_t>{1, 2, 3});
  Tensor e = r.expand({2, 3});
  CHECK(e.strides() == Strides{0, 1});
  CHECK(e.to_vector<int32_t>() == std::vector<int32_t>{1, 2, 3, 1, 2, 3});
  CHECK(r.expand({-1}).shape() == Shape{3});
  CHECK_THROWS_AS(r.expand({2, 4}), ShapeError);
  Tensor a = iota_t({2, 3, 4});
  Tensor p = a.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.strides() == Strides{1, 12, 4});
  CHECK(p.select(0, 3).select(0, 1).to_vector<float>() == std::vector<float>{15, 19, 23});
  CHECK_THROWS_AS(a.permute({0, 1, 1}), IndexError);
  CHECK_THROWS_AS(a.permute({0, 1}), ShapeError);
}

TEST_CASE("view errors name the caller", "[views]") {
  Tensor a = iota_t({2, 3});
  try {
    (void)a.view({7});
    FAIL("no exception");
  } catch (const ShapeError& e) {
    const std::string what = e.what();
    CHECK(what.find("view") != std::string::npos);
    CHECK(what.find("[7]") != std::string::npos);
    CHECK(what.find("test_views.cpp") != std::string::npos);
  }
}

}  // namespace doppel::testing
