// Shape helpers, SmallVector and the strided loop.
#include <random>

#include "doppel/core/strided_loop.h"
#include "support/test_util.h"

namespace doppel::testing {

TEST_CASE("broadcast_shapes", "[core]") {
  CHECK(broadcast_shapes("add", Shape{2, 1, 4}, Shape{3, 1}) == Shape{2, 3, 4});
  CHECK(broadcast_shapes("add", Shape{}, Shape{5}) == Shape{5});
  CHECK(broadcast_shapes("add", Shape{}, Shape{}) == Shape{});
  CHECK(broadcast_shapes("add", Shape{0, 1}, Shape{1, 7}) == Shape{0, 7});
  CHECK(broadcast_shapes("add", Shape{1}, Shape{0}) == Shape{0});
  CHECK(broadcast_shapes("add", Shape{4, 1, 1, 1, 1, 1, 2}, Shape{3, 1, 1, 1, 1, 1}) == Shape{4, 3, 1, 1, 1, 1, 2});
  CHECK_THROWS_AS(broadcast_shapes("add", Shape{2, 3}, Shape{4}), ShapeError);
  CHECK_THROWS_AS(broadcast_shapes("add", Shape{0}, Shape{2}), ShapeError);
  try {
    broadcast_shapes("mul", Shape{2, 3}, Shape{3, 3});
  } catch (const ShapeError& e) {
    const std::string w = e.what();
    CHECK(w.find("mul") != std::string::npos);
    CHECK(w.find("[2, 3]") != std::string::npos);
    CHECK(w.find("[3, 3]") != std::string::npos);
  }
}

TEST_CASE("wrap_dim and normalize_dims", "[core]") {
  CHECK(wrap_dim("op", 0, 3) == 0);
  CHECK(wrap_dim("op", -1, 3) == 2);
  CHECK(wrap_dim("op", -3, 3) == 0);
  CHECK_THROWS_AS(wrap_dim("op", 3, 3), IndexError);
  CHECK_THROWS_AS(wrap_dim("op", -4, 3), IndexError);
  // 0-d tensors accept 0 and -1, like PyTorch.
  CHECK(wrap_dim("op", 0, 0) == 0);
  CHECK(wrap_dim("op", -1, 0) == 0);
  CHECK_THROWS_AS(wrap_dim("op", 1, 0), IndexError);
  // Insertion points: ndim + 1.
  CHECK(wrap_dim("unsqueeze", -1, 3) == 2);
  CHECK(wrap_dim("unsqueeze", 3, 4) == 3);
  CHECK(normalize_dims("sum", Shape{}, 3) == Shape{0, 1, 2});
  CHECK(normalize_dims("sum", Shape{-1, 0}, 3) == Shape{0, 2});
  CHECK(normalize_dims("sum", Shape{}, 0) == Shape{});
  CHECK(normalize_dims("sum", Shape{-1}, 0) == Shape{});
  CHECK_THROWS_AS(normalize_dims("sum", Shape{1, -2}, 3), IndexError);
  CHECK_THROWS_AS(normalize_dims("sum", Shape{3}, 3), IndexError);
  CHECK_THROWS_AS(normalize_dims("sum", Shape{2}, 0), IndexError);
}

TEST_CASE("contiguous_strides and is_contiguous", "[core]") {
  CHECK(contiguous_strides(Shape{2, 3, 4}) == Strides{12, 4, 1});
  CHECK(contiguous_strides(Shape{}) == Strides{});
  CHECK(contiguous_strides(Shape{5}) == Strides{1});
  CHECK(contiguous_strides(Shape{2, 0, 3}) == Strides{3, 3, 1});  // size 0 counts as 1
  CHECK(numel_of(Shape{2, 0, 3}) == 0);
  CHECK(numel_of(Shape{}) == 1);
  CHECK(is_contiguous(Shape{2, 3}, Strides{3, 1}));
  CHECK_FALSE(is_contiguous(Shape{2, 3}, Strides{1, 2}));
  CHECK_FALSE(is_contiguous(Shape{2, 3}, Strides{4, 1}));
  // Size-1 dims may have any stride.
  CHECK(is_contiguous(Shape{2, 1, 3}, Strides{3, 99, 1}));
  CHECK(is_contiguous(Shape{1, 1}, Strides{0, 0}));
  // Empty tensors are contiguous whatever their strides.
  CHECK(is_contiguous(Shape{2, 0, 3}, Strides{7, 5, 3}));
  CHECK(is_contiguous(Shape{}, Strides{}));
  CHECK_FALSE(is_contiguous(Shape{2}, Strides{0}));  // an expanded dim is not
  CHECK(shape_str(Shape{2, 3}) == "[2, 3]");
  CHECK(shape_str(Shape{}) == "[]");
}

TEST_CASE("SmallVector falls back to the heap beyond its inline size", "[core]") {
  Shape s;
  for (int64_t k = 0; k < 10; ++k) s.push_back(k * 10);
  CHECK(s.size() == 10);
  for (int64_t k = 0; k < 10; ++k) CHECK(s[size_t(k)] == k * 10);
  Shape c = s;
  CHECK(c == s);
  c[9] = -1;
  CHECK(s[9] == 90);  // a deep copy
  Shape m = std::move(c);
  CHECK(m.size() == 10);
  CHECK(m[9] == -1);
  m.insert(0, 7);
  CHECK(m.size() == 11);
  CHECK(m[0] == 7);
  CHECK(m[1] == 0);
  m.erase(0);
  CHECK(m[0] == 0);
  Shape small{1, 2};
  small = s;
  CHECK(small == s);
  s = small;  // copy back between two heap-backed vectors
  CHECK(s.size() == 10);
  Shape r(8, 3);
  CHECK(r.size() == 8);
  CHECK(r.back() == 3);
  // Tensors with more than 6 dims work end to end.
  Tensor t = arange(0, 256, 1, TensorOptions{}).reshape({2, 2, 2, 2, 2, 2, 2, 2});
  CHECK(t.dim() == 8);
  CHECK(t.strides()[0] == 128);
  Tensor p = t.permute({7, 6, 5, 4, 3, 2, 1, 0});
  CHECK(p.contiguous().to_vector<float>()[1] == 128.f);
  CHECK(p.flatten().numel() == 256);
}

namespace {
// Every element offset of a strided layout in row-major index order (the naive oracle).
std::vector<int64_t> naive_offsets(IntList shape, IntList strides) {
  std::vector<int64_t> out;
  if (numel_of(shape) == 0) return out;
  Shape idx(shape.size(), 0);
  while (true) {
    int64_t off = 0;
    for (size_t d = 0; d < shape.size(); ++d) off += idx[d] * strides[d];
    out.push_back(off);
    size_t d = shape.size();
    while (d > 0) {
      --d;
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
      if (d == 0) return out;
    }
    if (shape.empty()) return out;
  }
}
}  // namespace

TEST_CASE("for_each_strided visits every element like a naive loop", "[core]") {
  std::mt19937 rng(9);
  for (int trial = 0; trial < 300; ++trial) {
    const size_t nd = size_t(rng() % 8);
    Shape shape;
    for (size_t d = 0; d < nd; ++d) shape.push_back(int64_t(rng() % 4) + (trial % 50 == 0 ? 0 : 1));
    // Operand 0 contiguous, operand 1 permuted/padded/broadcast/negative, operand 2 random.
    const Strides a = contiguous_strides(shape);
    Strides b(nd, 0), c(nd, 0);
    int64_t acc = 1;
    for (size_t d = 0; d < nd; ++d) {
      b[d] = rng() % 4 == 0 ? 0 : acc * (rng() % 2 ? 1 : -1);
      acc *= shape[d] + int64_t(rng() % 2);
      c[d] = int64_t(rng() % 7) - 3;
    }
    const auto ea = naive_offsets(shape, a), eb = naive_offsets(shape, b), ec = naive_offsets(shape, c);
    std::vector<int64_t> ga, gb, gc;
    for_each_strided<3>(shape, {IntList(a), IntList(b), IntList(c)},
                        [&](std::array<int64_t, 3> off, int64_t n, std::array<int64_t, 3> st) {
                          for (int64_t i = 0; i < n; ++i) {
                            ga.push_back(off[0] + i * st[0]);
                            gb.push_back(off[1] + i * st[1]);
                            gc.push_back(off[2] + i * st[2]);
                          }
                        });
    INFO("trial " << trial << " shape " << shape_str(shape) << " b " << shape_str(b) << " c " << shape_str(c));
    REQUIRE(ga == ea);
    REQUIRE(gb == eb);
    REQUIRE(gc == ec);
  }
  // 0-d: one call with n = 1.
  int calls = 0;
  for_each_strided<1>(Shape{}, {IntList(Strides{})}, [&](std::array<int64_t, 1> off, int64_t n, auto) {
    ++calls;
    CHECK(off[0] == 0);
    CHECK(n == 1);
  });
  CHECK(calls == 1);
  // Contiguous operands coalesce into a single run.
  calls = 0;
  const Shape s{3, 4, 5};
  const Strides st = contiguous_strides(s);
  for_each_strided<2>(s, {IntList(st), IntList(st)}, [&](auto, int64_t n, auto) {
    ++calls;
    CHECK(n == 60);
  });
  CHECK(calls == 1);
}

}  // namespace doppel::testing
