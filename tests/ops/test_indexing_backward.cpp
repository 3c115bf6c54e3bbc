// Specs and value tests of embedding_backward and index_add (the accumulating adjoints of
// embedding and index_select).
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

Tensor indices(IntList shape, int64_t hi, uint64_t seed, DType dt = DType::Int64) {
  return make_input(shape, dt, seed, 0, double(hi));
}
Tensor i64(std::vector<int64_t> v, IntList shape = {}) { return tensor(v, shape); }
Attrs emb_attrs(int64_t V, std::optional<int64_t> pad = std::nullopt) {
  return EmbeddingBackwardAttrs{.num_weights = V, .padding_idx = pad}.pack();
}

}  // namespace

DOPPEL_OP_SPEC(embedding_backward_spec) {
  return OpSpec{
      .op = OpId::embedding_backward,
      .dtypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16},
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
                {"2-d indices", {make_input({3, 5, 4}, dt, 1), indices({3, 5}, 10, 2)}, emb_attrs(10)},
                {"repeats int32", {make_input({6, 3}, dt, 3), i64({1, 1, 4, 1, 0, 4}).to(DType::Int32)}, emb_attrs(5)},
                {"padding_idx", {make_input({8, 3}, dt, 4), indices({8}, 6, 5)}, emb_attrs(6, 2)},
                {"negative padding_idx", {make_input({8, 3}, dt, 6), indices({8}, 6, 7)}, emb_attrs(6, -1)},
                {"0-d index", {make_input({4}, dt, 8), i64({3}).reshape(IntList{})}, emb_attrs(5)},
                {"empty indices", {make_input({0, 4}, dt, 9), indices({0}, 5, 10)}, emb_attrs(5)},
                {"large", {make_input({4096, 64}, dt, 11), indices({4096}, 1000, 12)}, emb_attrs(1000)}};
          },
      .errors =
          [] {
            const Tensor g = make_input({3, 4}, DType::Float32, 1);
            return std::vector<ErrorSample>{
                {"index out of range", {g, i64({0, 5, 1})}, emb_attrs(5), ErrorKind::Index, "index 5"},
                {"grad shape", {g, i64({0, 1})}, emb_attrs(5), ErrorKind::Shape, "embedding_backward"},
                {"padding_idx", {g, i64({0, 1, 2})}, emb_attrs(5, 5), ErrorKind::Index, "padding_idx"},
                {"integer grad",
                 {make_input({3, 4}, DType::Int32, 2), i64({0, 1, 2})},
                 emb_attrs(5),
                 ErrorKind::DType,
                 "embedding_backward"}};
          },
      .gradgradcheck = true};
}

DOPPEL_OP_SPEC(index_add_spec) {
  return OpSpec{.op = OpId::index_add,
                .dtypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8, DType::UInt8,
                           DType::Int32, DType::Int64},
                .samples =
                    [](DType dt) {
                      return std::vector<Sample>{
                          {"dim 0 repeats",
                           {make_input({5, 4}, dt, 1), i64({4, 0, 4}), make_input({3, 4}, dt, 2)},
                           DimAttrs{.dim = 0}.pack()},
                          {"dim 1 int32",
                           {make_input({3, 6}, dt, 3), indices({5}, 6, 4, DType::Int32), make_input({3, 5}, dt, 5)},
                           DimAttrs{.dim = 1}.pack()},
                          {"dim -1 3-d",
                           {make_input({2, 3, 4}, dt, 6), indices({6}, 4, 7), make_input({2, 3, 6}, dt, 8)},
                           DimAttrs{.dim = -1}.pack()},
                          {"0-d", {make_input({}, dt, 9), i64({0}), make_input({}, dt, 10)}, DimAttrs{.dim = 0}.pack()},
                          {"empty index",
                           {make_input({5, 4}, dt, 11), indices({0}, 5, 12), make_input({0, 4}, dt, 13)},
                           DimAttrs{.dim = 0}.pack()},
                          {"large",
                           {make_input({300, 200}, dt, 14), indices({500}, 300, 15), make_input({500, 200}, dt, 16)},
                           DimAttrs{.dim = 0}.pack()}};
                    },
                .errors =
                    [] {
                      const DType f = DType::Float32;
                      const Tensor x = make_input({5, 4}, f, 1);
                      return std::vector<ErrorSample>{{"index out of range",
                                                       {x, i64({5}), make_input({1, 4}, f, 2)},
                                                       DimAttrs{.dim = 0}.pack(),
                                                       ErrorKind::Index,
                                                       "index 5"},
                                                      {"source shape",
                                                       {x, i64({0, 1}), make_input({2, 3}, f, 3)},
                                                       DimAttrs{.dim = 0}.pack(),
                                                       ErrorKind::Shape,
                                                       "source"},
                                                      {"source dtype",
                                                       {x, i64({0}), make_input({1, 4}, DType::Float64, 4)},
                                                       DimAttrs{.dim = 0}.pack(),
                                                       ErrorKind::DType,
                                                       "source"},
                                                      {"2-d index",
                                                       {x, i64({0, 1}, {1, 2}), make_input({2, 4}, f, 5)},
                                                       DimAttrs{.dim = 0}.pack(),
                                                       ErrorKind::Shape,
                                                       "index_add"}};
                    },
                .gradgradcheck = true};
}

// Independent values: accumulation with repeats, padding rows, and index_add along dim 1.
TEST_CASE("embedding_backward and index_add: hand-computed values", "[op_spec][grad_nn]") {
  ForceBackendGuard g(Backend::Reference);
  const Tensor grad = tensor(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8}, {4, 2});
  const Tensor idx = i64({2, 0, 2, 1});
  // Rows: 0 <- [3,4]; 1 <- [7,8] but 1 is padding; 2 <- [1,2] + [5,6].
  const Tensor w = dispatch1(OpId::embedding_backward, {grad, idx}, emb_attrs(3, 1));
  REQUIRE(w.to_vector<double>() == std::vector<double>{3, 4, 0, 0, 6, 8});
  const Tensor w2 = dispatch1(OpId::embedding_backward, {grad, idx}, emb_attrs(4));
  REQUIRE(w2.to_vector<double>() == std::vector<double>{3, 4, 7, 8, 6, 8, 0, 0});

  const Tensor x = tensor(std::vector<double>{1, 1, 1, 1, 1, 1}, {2, 3});
  const Tensor src = tensor(std::vector<double>{10, 20, 30, 40}, {2, 2});
  const Tensor r = dispatch1(OpId::index_add, {x, i64({2, 2}), src}, DimAttrs{.dim = 1}.pack());
  REQUIRE(r.to_vector<double>() == std::vector<double>{1, 1, 31, 1, 1, 71});
  const Tensor ri = dispatch1(OpId::index_add, {i64({0, 0, 0}), i64({1, 0}), i64({5, 7})}, DimAttrs{.dim = 0}.pack());
  REQUIRE(ri.to_vector<int64_t>() == std::vector<int64_t>{7, 5, 0});
}

}  // namespace doppel::testing
