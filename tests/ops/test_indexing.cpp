// Specs and value tests of the indexing and joining ops, and of stack/split/chunk.
#include "doppel/kernels/op_attrs/indexing.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kAllDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8,
                                       DType::UInt8,   DType::Int32,   DType::Int64,    DType::Bool};
const std::vector<DType> kIndexDTypes = {DType::Int64, DType::Int32};

Attrs dim_attr(int64_t d) { return DimAttrs{.dim = d}.pack(); }
// Index values uniform in [0, hi).
Tensor indices(IntList shape, int64_t hi, uint64_t seed, DType dt = DType::Int64) {
  return make_input(shape, dt, seed, 0, double(hi));
}
Tensor i64(std::vector<int64_t> v, IntList shape = {}) { return tensor(v, shape); }
// A 0-d int64 tensor.
Tensor i64_0d(int64_t v) { return tensor(std::vector<int64_t>{v}).reshape(IntList{}); }

}  // namespace

DOPPEL_OP_SPEC(cat_spec) {
  return OpSpec{.op = OpId::cat,
                .dtypes = kAllDTypes,
                .samples =
                    [](DType dt) {
                      return std::vector<Sample>{
                          {"three along dim 0",
                           {make_input({2, 3}, dt, 1), make_input({4, 3}, dt, 2), make_input({1, 3}, dt, 3)},
                           dim_attr(0)},
                          {"dim -1", {make_input({2, 3}, dt, 4), make_input({2, 5}, dt, 5)}, dim_attr(-1)},
                          {"3-d dim 1", {make_input({2, 1, 4}, dt, 6), make_input({2, 3, 4}, dt, 7)}, dim_attr(1)},
                          {"promotes with float64",
                           {make_input({2, 2}, dt, 8), make_input({1, 2}, DType::Float64, 9)},
                           dim_attr(0)},
                          {"promotes with int32",
                           {make_input({2, 2}, DType::Int32, 10), make_input({1, 2}, dt, 11)},
                           dim_attr(0)},
                          {"skips 1-d empty", {make_input({0}, dt, 12), make_input({2, 3}, dt, 13)}, dim_attr(1)},
                          {"only 1-d empty", {make_input({0}, dt, 14), make_input({0}, dt, 15)}, dim_attr(0)},
                          {"single", {make_input({3, 2}, dt, 16)}, dim_attr(0)},
                          {"empty part", {make_input({0, 3}, dt, 17), make_input({2, 3}, dt, 18)}, dim_attr(0)},
                          {"large", {make_input({200, 300}, dt, 19), make_input({200, 100}, dt, 20)}, dim_attr(1)}};
                    },
                .errors =
                    [] {
                      const DType f = DType::Float32;
                      return std::vector<ErrorSample>{
                          {"size mismatch",
                           {make_input({2, 3}, f, 1), make_input({2, 4}, f, 2)},
                           dim_attr(0),
                           ErrorKind::Shape,
                           "input 1"},
                          {"rank mismatch",
                           {make_input({2, 3}, f, 1), make_input({2, 3}, f, 2), make_input({3}, f, 3)},
                           dim_attr(0),
                           ErrorKind::Shape,
                           "input 2"},
                          {"0-d", {make_input({}, f, 1)}, dim_attr(0), ErrorKind::Shape, "0-d"},
                          {"dim out of range", {make_input({2, 3}, f, 1)}, dim_attr(2), ErrorKind::Index, "cat"}};
                    },
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(embedding_spec) {
  return OpSpec{.op = OpId::embedding,
                .dtypes = kAllDTypes,
                .samples =
                    [](DType dt) {
                      return std::vector<Sample>{{"2-d int64 indices",
                                                  {make_input({10, 4}, dt, 1), indices({3, 5}, 10, 2)},
                                                  EmbeddingAttrs{.padding_idx = std::nullopt}.pack()},
                                                 {"int32 indices",
                                                  {make_input({10, 4}, dt, 3), indices({7}, 10, 4, DType::Int32)},
                                                  EmbeddingAttrs{.padding_idx = std::nullopt}.pack()},
                                                 {"0-d index",
                                                  {make_input({10, 4}, dt, 5), indices({}, 10, 6)},
                                                  EmbeddingAttrs{.padding_idx = std::nullopt}.pack()},
                                                 {"empty indices",
                                                  {make_input({10, 4}, dt, 7), indices({0}, 10, 8)},
                                                  EmbeddingAttrs{.padding_idx = std::nullopt}.pack()},
                                                 {"padding_idx",
                                                  {make_input({6, 3}, dt, 9), indices({4}, 6, 10)},
                                                  EmbeddingAttrs{.padding_idx = 2}.pack()},
                                                 {"large",
                                                  {make_input({1000, 64}, dt, 11), indices({4096}, 1000, 12)},
                                                  EmbeddingAttrs{.padding_idx = std::nullopt}.pack()}};
                    },
                .errors =
                    [] {
                      const Tensor w = make_input({10, 4}, DType::Float32, 1);
                      return std::vector<ErrorSample>{{"index out of range",
                                                       {w, i64({1, 10})},
                                                       EmbeddingAttrs{.padding_idx = std::nullopt}.pack(),
                                                       ErrorKind::Index,
                                                       "index 10"},
                                                      {"negative index",
                                                       {w, i64({-1})},
                                                       EmbeddingAttrs{.padding_idx = std::nullopt}.pack(),
                                                       ErrorKind::Index,
                                                       "V=10"},
                                                      {"float indices",
                                                       {w, make_input({3}, DType::Float32, 2)},
                                                       EmbeddingAttrs{.padding_idx = std::nullopt}.pack(),
                                                       ErrorKind::DType,
                                                       "embedding"},
                                                      {"1-d weight",
                                                       {make_input({10}, DType::Float32, 3), i64({1})},
                                                       EmbeddingAttrs{.padding_idx = std::nullopt}.pack(),
                                                       ErrorKind::Shape,
                                                       "embedding"},
                                                      {"padding_idx out of range",
                                                       {w, i64({1})},
                                                       EmbeddingAttrs{.padding_idx = 10}.pack(),
                                                       ErrorKind::Index,
                                                       "padding_idx"}};
                    },
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(index_select_spec) {
  return OpSpec{
      .op = OpId::index_select,
      .dtypes = kAllDTypes,
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
                {"dim 0 with repeats", {make_input({5, 4}, dt, 1), i64({4, 0, 4})}, dim_attr(0)},
                {"dim 1 int32", {make_input({3, 6}, dt, 2), indices({5}, 6, 3, DType::Int32)}, dim_attr(1)},
                {"dim -1 3-d", {make_input({2, 3, 4}, dt, 4), indices({6}, 4, 5)}, dim_attr(-1)},
                {"0-d input and index", {make_input({}, dt, 6), i64_0d(0)}, dim_attr(0)},
                {"0-d input, 1-d index", {make_input({}, dt, 6), i64({0})}, dim_attr(0)},
                {"empty index", {make_input({5, 4}, dt, 7), indices({0}, 5, 8)}, dim_attr(0)},
                {"large", {make_input({300, 200}, dt, 9), indices({500}, 300, 10)}, dim_attr(0)}};
          },
      .errors =
          [] {
            const Tensor x = make_input({5, 4}, DType::Float32, 1);
            return std::vector<ErrorSample>{
                {"index out of range", {x, i64({0, 5})}, dim_attr(0), ErrorKind::Index, "index 5"},
                {"negative index", {x, i64({-1})}, dim_attr(1), ErrorKind::Index, "size 4"},
                {"2-d index", {x, i64({0, 1}, {1, 2})}, dim_attr(0), ErrorKind::Shape, "index_select"},
                {"float index", {x, make_input({2}, DType::Float32, 2)}, dim_attr(0), ErrorKind::DType, "index_select"},
                {"dim out of range", {x, i64({0})}, dim_attr(2), ErrorKind::Index, "index_select"},
                {"0-d input with two indices",
                 {make_input({}, DType::Float32, 3), i64({0, 0})},
                 dim_attr(0),
                 ErrorKind::Index,
                 "exactly 1"}};
          },
      .gradgradcheck = true};
}

DOPPEL_OP_SPEC(gather_spec) {
  return OpSpec{
      .op = OpId::gather,
      .dtypes = kAllDTypes,
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
                {"dim 1", {make_input({4, 5}, dt, 1), indices({4, 3}, 5, 2)}, dim_attr(1)},
                {"dim 0 int32", {make_input({4, 5}, dt, 3), indices({2, 5}, 4, 4, DType::Int32)}, dim_attr(0)},
                {"3-d smaller index", {make_input({3, 4, 5}, dt, 5), indices({2, 6, 3}, 4, 6)}, dim_attr(1)},
                {"0-d", {make_input({}, dt, 7), i64_0d(0)}, dim_attr(0)},
                {"empty index", {make_input({4, 5}, dt, 8), indices({0, 5}, 4, 9)}, dim_attr(0)},
                {"large", {make_input({256, 512}, dt, 10), indices({256, 300}, 512, 11)}, dim_attr(1)}};
          },
      .errors =
          [] {
            const Tensor x = make_input({4, 5}, DType::Float32, 1);
            return std::vector<ErrorSample>{
                {"index out of range", {x, i64({0, 7}, {1, 2})}, dim_attr(1), ErrorKind::Index, "index 7"},
                {"negative index", {x, i64({-2}, {1, 1})}, dim_attr(0), ErrorKind::Index, "dim 0"},
                {"rank mismatch", {x, i64({0, 1})}, dim_attr(0), ErrorKind::Shape, "gather"},
                {"index larger outside dim", {x, indices({2, 6}, 4, 2)}, dim_attr(0), ErrorKind::Shape, "gather"}};
          },
      .gradgradcheck = true};
}

DOPPEL_OP_SPEC(scatter_add_spec) {
  return OpSpec{
      .op = OpId::scatter_add,
      .dtypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8, DType::UInt8,
                 DType::Int32, DType::Int64},
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
                {"dim 0", {make_input({4, 5}, dt, 1), indices({3, 5}, 4, 2), make_input({3, 5}, dt, 3)}, dim_attr(0)},
                {"dim 1 int32 smaller than src",
                 {make_input({4, 5}, dt, 4), indices({4, 2}, 5, 5, DType::Int32), make_input({4, 3}, dt, 6)},
                 dim_attr(1)},
                {"0-d", {make_input({}, dt, 7), i64_0d(0), make_input({}, dt, 8)}, dim_attr(0)},
                {"empty index",
                 {make_input({4, 5}, dt, 9), indices({0, 5}, 4, 10), make_input({0, 5}, dt, 11)},
                 dim_attr(0)},
                {"large",
                 {make_input({100, 200}, dt, 12), indices({300, 200}, 100, 13), make_input({300, 200}, dt, 14)},
                 dim_attr(0)}};
          },
      .errors =
          [] {
            const DType f = DType::Float32;
            const Tensor x = make_input({4, 5}, f, 1);
            return std::vector<ErrorSample>{
                {"src dtype",
                 {x, i64({0}, {1, 1}), make_input({1, 1}, DType::Float64, 2)},
                 dim_attr(0),
                 ErrorKind::DType,
                 "src"},
                {"index out of range",
                 {x, i64({4}, {1, 1}), make_input({1, 1}, f, 3)},
                 dim_attr(0),
                 ErrorKind::Index,
                 "index 4"},
                {"index larger than src",
                 {x, indices({2, 2}, 4, 4), make_input({1, 2}, f, 5)},
                 dim_attr(0),
                 ErrorKind::Shape,
                 "src"},
                {"bool",
                 {make_input({2}, DType::Bool, 1), i64({0}), make_input({1}, DType::Bool, 2)},
                 dim_attr(0),
                 ErrorKind::DType,
                 "scatter_add"}};
          },
      .gradgradcheck = true};
}

DOPPEL_OP_SPEC(masked_fill_spec) {
  const auto mask = [](IntList shape, uint64_t seed) { return make_input(shape, DType::Bool, seed); };
  return OpSpec{.op = OpId::masked_fill,
                .dtypes = kAllDTypes,
                .samples =
                    [mask](DType dt) {
                      const Attrs v = MaskedFillAttrs{.value = 1.5}.pack();
                      return std::vector<Sample>{
                          {"same shape", {make_input({3, 4}, dt, 1), mask({3, 4}, 2)}, v},
                          {"mask broadcast row", {make_input({3, 4}, dt, 3), mask({4}, 4)}, v},
                          {"mask broadcast column", {make_input({3, 4}, dt, 5), mask({3, 1}, 6)}, v},
                          {"input broadcast", {make_input({1, 4}, dt, 7), mask({3, 4}, 8)}, v},
                          {"0-d", {make_input({}, dt, 9), mask({}, 10)}, MaskedFillAttrs{.value = -3}.pack()},
                          {"empty", {make_input({0, 4}, dt, 11), mask({4}, 12)}, v},
                          {"large", {make_input({300, 400}, dt, 13), mask({400}, 14)}, v}};
                    },
                .errors =
                    [mask] {
                      const Tensor x = make_input({3, 4}, DType::Float32, 1);
                      return std::vector<ErrorSample>{{"mask not broadcastable",
                                                       {x, mask({3}, 2)},
                                                       MaskedFillAttrs{.value = 0}.pack(),
                                                       ErrorKind::Shape,
                                                       "masked_fill"},
                                                      {"float mask",
                                                       {x, make_input({3, 4}, DType::Float32, 3)},
                                                       MaskedFillAttrs{.value = 0}.pack(),
                                                       ErrorKind::DType,
                                                       "bool"}};
                    },
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(one_hot_spec) {
  return OpSpec{
      .op = OpId::one_hot,
      .dtypes = kIndexDTypes,
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
                {"1-d", {indices({6}, 5, 1, dt)}, OneHotAttrs{.num_classes = 5}.pack()},
                {"2-d inferred classes", {indices({2, 3}, 4, 2, dt)}, OneHotAttrs{.num_classes = -1}.pack()},
                {"0-d", {indices({}, 4, 3, dt)}, OneHotAttrs{.num_classes = 4}.pack()},
                {"empty", {indices({0}, 3, 4, dt)}, OneHotAttrs{.num_classes = 3}.pack()},
                {"large", {indices({10000}, 10, 5, dt)}, OneHotAttrs{.num_classes = 10}.pack()}};
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{
                {"class out of range",
                 {i64({0, 3})},
                 OneHotAttrs{.num_classes = 3}.pack(),
                 ErrorKind::Index,
                 "class index 3"},
                {"negative class", {i64({-1})}, OneHotAttrs{.num_classes = 3}.pack(), ErrorKind::Index, "one_hot"},
                {"empty with inferred classes",
                 {i64({})},
                 OneHotAttrs{.num_classes = -1}.pack(),
                 ErrorKind::Value,
                 "empty"},
                {"float indices",
                 {make_input({3}, DType::Float32, 1)},
                 OneHotAttrs{.num_classes = 3}.pack(),
                 ErrorKind::DType,
                 "one_hot"}};
          }};
}

TEST_CASE("cat and stack: values, promotion, empty skipping", "[ops][indexing]") {
  const Tensor a = arange(0, 6).reshape({2, 3}), b = arange(6, 9).reshape({1, 3});
  CHECK(cat({a, b}).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8});
  const Tensor c = cat({a, a}, 1);
  CHECK(c.shape() == Shape{2, 6});
  CHECK(c.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5});
  const Tensor f = cat({b, tensor(std::vector<float>{0.5f, 1.5f, 2.5f}, {1, 3})});
  CHECK(f.dtype() == DType::Float32);
  CHECK(f.to_vector<float>() == std::vector<float>{6, 7, 8, 0.5f, 1.5f, 2.5f});
  CHECK(cat({zeros({0}, {.dtype = DType::Int64}), a}, 1).shape() == Shape{2, 3});
  // Non-contiguous input through its strides.
  CHECK(cat({a.t(), a.t()}).to_vector<int64_t>() == std::vector<int64_t>{0, 3, 1, 4, 2, 5, 0, 3, 1, 4, 2, 5});

  const Tensor s = stack({a, a.clone()}, 1);
  CHECK(s.shape() == Shape{2, 2, 3});
  CHECK(s.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5});
  CHECK(stack({scalar(1.0), scalar(2.0)}).to_vector<float>() == std::vector<float>{1, 2});
  CHECK_THROWS_AS(stack({a, b}), ShapeError);
}

TEST_CASE("split and chunk return views", "[ops][indexing]") {
  const Tensor t = arange(0, 10);
  const std::vector<Tensor> parts = split(t, 4);
  REQUIRE(parts.size() == 3);
  CHECK(parts[2].to_vector<int64_t>() == std::vector<int64_t>{8, 9});
  CHECK(parts[1].raw_data() == static_cast<char*>(t.raw_data()) + 4 * sizeof(int64_t));  // a view
  const std::vector<Tensor> sized = split(t, IntList{3, 7});
  CHECK(sized[1].to_vector<int64_t>() == std::vector<int64_t>{3, 4, 5, 6, 7, 8, 9});
  CHECK_THROWS_AS(split(t, IntList{3, 6}), ShapeError);
  const std::vector<Tensor> ch = chunk(arange(0, 12).reshape({2, 6}), 4, 1);  // ceil(6/4) = 2 -> 3 pieces
  REQUIRE(ch.size() == 3);
  CHECK(ch[1].to_vector<int64_t>() == std::vector<int64_t>{2, 3, 8, 9});
  CHECK(chunk(zeros({0}), 3).size() == 3);
}

TEST_CASE("embedding, index_select and gather pick the right values", "[ops][indexing]") {
  const Tensor w = arange(0, 12).reshape({4, 3}).to(DType::Float32);
  const Tensor e = embedding(tensor(std::vector<int32_t>{3, 0, 3, 1}, {2, 2}), w);
  CHECK(e.shape() == Shape{2, 2, 3});
  CHECK(e.to_vector<float>() == std::vector<float>{9, 10, 11, 0, 1, 2, 9, 10, 11, 3, 4, 5});
  try {
    embedding(i64({4}), w);
    FAIL("no error");
  } catch (const IndexError& err) {
    CHECK(std::string(err.what()).find("index 4") != std::string::npos);
  }

  CHECK(index_select(w, 1, i64({2, 0})).to_vector<float>() == std::vector<float>{2, 0, 5, 3, 8, 6, 11, 9});
  CHECK(index_select(w, 0, i64({1})).to_vector<float>() == std::vector<float>{3, 4, 5});

  // out[i][j] = w[i][idx[i][j]]
  CHECK(gather(w, 1, i64({2, 2, 0, 1}, {2, 2})).to_vector<float>() == std::vector<float>{2, 2, 3, 4});
  // out[i][j] = w[idx[i][j]][j]
  CHECK(gather(w, 0, i64({3, 0, 1}, {1, 3})).to_vector<float>() == std::vector<float>{9, 1, 5});
}

TEST_CASE("scatter_add accumulates duplicates, scatter_add_ works in place", "[ops][indexing]") {
  const Tensor x = zeros({3, 2});
  const Tensor src = tensor(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 2});
  const Tensor idx = i64({0, 2, 0, 2, 1, 0}, {3, 2});
  // Column 0: rows 0,0,1 get 1,3,5; column 1: rows 2,2,0 get 2,4,6.
  CHECK(scatter_add(x, 0, idx, src).to_vector<float>() == std::vector<float>{4, 6, 5, 0, 0, 6});
  CHECK(x.to_vector<float>() == std::vector<float>(6, 0.f));
  scatter_add_(x, 0, idx, src);
  CHECK(x.to_vector<float>() == std::vector<float>{4, 6, 5, 0, 0, 6});
  // dim 1 with an index narrower than src.
  CHECK(scatter_add(zeros({2, 3}), 1, i64({2, 2}, {2, 1}), src.reshape({2, 3})).to_vector<float>() ==
        std::vector<float>{0, 0, 1, 0, 0, 4});
}

TEST_CASE("masked_fill and one_hot", "[ops][indexing]") {
  const Tensor x = arange(0, 6).reshape({2, 3}).to(DType::Float32);
  const Tensor m = tensor(std::vector<bool>{true, false, true});
  CHECK(masked_fill(x, m, -1.5).to_vector<float>() == std::vector<float>{-1.5f, 1, -1.5f, -1.5f, 4, -1.5f});
  CHECK(masked_fill(arange(0, 3), m, 7).to_vector<int64_t>() == std::vector<int64_t>{7, 1, 7});
  CHECK_THROWS_AS(masked_fill(x, tensor(std::vector<bool>{true, false}), 0), ShapeError);

  const Tensor oh = one_hot(i64({2, 0, 1}));
  CHECK(oh.dtype() == DType::Int64);
  CHECK(oh.shape() == Shape{3, 3});
  CHECK(oh.to_vector<int64_t>() == std::vector<int64_t>{0, 0, 1, 1, 0, 0, 0, 1, 0});
  CHECK(one_hot(tensor(std::vector<int32_t>{1}), 4).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 0, 0});
  CHECK_THROWS_AS(one_hot(i64({-1}), 3), IndexError);
}

}  // namespace doppel::testing
