// doppel::index / index_put_ (advanced indexing from C++): placement of the index dims,
// broadcasting, masks, negative indices, bounds errors, gradients and the two index_put_ paths.
// python_bindings/tests/test_tensor_api.py checks the Python indexing built on them against numpy.
#include "doppel/ops/advanced_indexing.h"
#include "support/gradcheck.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

const TensorOptions kF64{.dtype = DType::Float64};
Tensor ids(std::vector<int64_t> v) { return tensor(v); }

}  // namespace

TEST_CASE("index: adjacent indices stay in place, separated ones go first", "[advanced_indexing]") {
  const Tensor x = arange(0, 24, 1, kF64).reshape({2, 3, 4});  // x[i][j][k] = 12i + 4j + k
  // x[:, [0, 2], [1, 3]] -> [2, 2]: x[i, j_p, k_p]
  Tensor a = index(x, {Tensor{}, ids({0, 2}), ids({1, 3})});
  CHECK(a.shape() == Shape{2, 2});
  CHECK(a.to_vector<double>() == std::vector<double>{1, 11, 13, 23});
  // x[[1, 0], :, [-1, 0]] -> [2, 3]: x[i_p, j, k_p], the index dim first
  Tensor b = index(x, {ids({1, 0}), Tensor{}, ids({-1, 0})});
  CHECK(b.shape() == Shape{2, 3});
  CHECK(b.to_vector<double>() == std::vector<double>{15, 19, 23, 0, 4, 8});
  // broadcast index tensors [2, 1] and [3] -> [2, 3]
  Tensor c = index(x, {tensor(std::vector<int64_t>{0, 1}, {2, 1}), ids({0, 1, 2})});
  CHECK(c.shape() == Shape{2, 3, 4});
  CHECK(c.select(0, 1).select(0, 2).to_vector<double>() == std::vector<double>{20, 21, 22, 23});
  // a 2-d mask over the first two dims
  Tensor m = index(x, {tensor(std::vector<bool>{true, false, false, false, false, true}, {2, 3})});
  CHECK(m.shape() == Shape{2, 4});
  CHECK(m.select(0, 1).to_vector<double>() == std::vector<double>{20, 21, 22, 23});
}

TEST_CASE("index: out-of-range indices name the index, the dim and its size", "[advanced_indexing]") {
  const Tensor x = zeros({2, 3});
  const std::string e1 = error_message<IndexError>([&] { index(x, {ids({0, 1}), ids({0, 3})}); });
  CHECK(e1.starts_with("index 3 is out of bounds for dimension 1 with size 3"));
  const std::string e2 = error_message<IndexError>([&] { index(x, {ids({-3})}); });
  CHECK(e2.starts_with("index -3 is out of bounds for dimension 0 with size 2"));
  CHECK_THROWS_AS(index(x, {ids({0}), ids({0}), ids({0})}), IndexError);
  CHECK_THROWS_AS(index(x, {tensor(std::vector<bool>{true, false, true})}), IndexError);
  CHECK_THROWS_AS(index(x, {tensor(std::vector<float>{0})}), IndexError);
}

TEST_CASE("index: gradients match finite differences, repeated indices accumulate", "[advanced_indexing]") {
  const Tensor x = grad_input(make_input({3, 4}, DType::Float64, 3));
  auto err = gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{index(in[0], {ids({0, 2, 0}), ids({1, -1, 1})})};
      },
      {x});
  INFO((err ? *err : ""));
  CHECK(!err);
}

TEST_CASE("index_put_: slice copies and the differentiable path agree", "[advanced_indexing]") {
  const Tensor base = arange(0, 12, 1, kF64).reshape({3, 4});
  const Tensor vals = tensor(std::vector<double>{-1, -2});
  Tensor plain = clone(base);
  index_put_(plain, {ids({0, 2}), ids({3, -4})}, vals);
  std::vector<double> want = base.to_vector<double>();
  want[3] = -1;
  want[8] = -2;
  CHECK(plain.to_vector<double>() == want);
  // with autograd: the same values, gradients to the untouched elements and to the values
  Tensor x = clone(base).set_requires_grad(true);
  Tensor v = clone(vals).set_requires_grad(true);
  Tensor y = mul(x, 1.0);
  index_put_(y, {ids({0, 2}), ids({3, -4})}, v);
  CHECK(y.to_vector<double>() == want);
  auto g = grad({sum(mul(y, arange(0, 12, 1, kF64).reshape({3, 4})))}, {x, v});
  std::vector<double> gx(12);
  for (int i = 0; i < 12; ++i) gx[size_t(i)] = (i == 3 || i == 8) ? 0.0 : double(i);
  CHECK(g[0].to_vector<double>() == gx);
  CHECK(g[1].to_vector<double>() == std::vector<double>{3, 8});
  // a number through a mask
  Tensor z = zeros({2, 2}, kF64);
  index_put_(z, {tensor(std::vector<bool>{false, true})}, scalar(5.0, DType::Float64));
  CHECK(z.to_vector<double>() == std::vector<double>{0, 0, 5, 5});
}

}  // namespace doppel::testing
