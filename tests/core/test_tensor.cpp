// Tensor metadata, undefined tensors, element access and external buffers.
#include "support/test_util.h"

namespace doppel::testing {

TEST_CASE("tensor metadata", "[core]") {
  Tensor t = zeros({2, 3, 4}, {.dtype = DType::Float64});
  CHECK(t.defined());
  CHECK(t.dim() == 3);
  CHECK(t.shape() == Shape{2, 3, 4});
  CHECK(t.sizes() == t.shape());
  CHECK(t.size(0) == 2);
  CHECK(t.size(-1) == 4);
  CHECK(t.strides() == Strides{12, 4, 1});
  CHECK(t.stride(-3) == 12);
  CHECK(t.numel() == 24);
  CHECK(t.dtype() == DType::Float64);
  CHECK(t.device() == kCPU);
  CHECK(t.element_size() == 8);
  CHECK(t.nbytes() == 192);
  CHECK(t.is_contiguous());
  CHECK(t.storage_offset() == 0);
  CHECK_THROWS_AS(t.size(3), IndexError);
  CHECK_THROWS_AS(t.stride(-4), IndexError);
  Tensor tr = t.transpose(0, 2);
  CHECK_FALSE(tr.is_contiguous());
  CHECK(tr.strides() == Strides{1, 4, 12});
  Tensor s = zeros({});
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.is_contiguous());
  Tensor e = zeros({3, 0});
  CHECK(e.numel() == 0);
  CHECK(e.nbytes() == 0);
  CHECK(e.is_contiguous());
}

TEST_CASE("an undefined tensor fails clearly", "[core]") {
  Tensor u;
  CHECK_FALSE(u.defined());
  CHECK(u.use_count() == 0);
  CHECK(u.str() == "tensor(undefined)");
  CHECK_THROWS_AS(u.dim(), ValueError);
  CHECK_THROWS_AS(u.shape(), ValueError);
  CHECK_THROWS_AS(u.numel(), ValueError);
  CHECK_THROWS_AS(u.raw_data(), ValueError);
  CHECK_THROWS_AS(u.item<float>(), ValueError);
  CHECK_THROWS_AS(u.to_vector<float>(), ValueError);
  try {
    (void)u.dtype();
    FAIL("no exception");
  } catch (const ValueError& e) {
    CHECK(std::string(e.what()).find("undefined") != std::string::npos);
  }
}

TEST_CASE("item and to_vector convert and read any layout", "[core]") {
  CHECK(scalar(2.75).item<float>() == 2.75f);
  CHECK(scalar(2.75).item<int32_t>() == 2);  // truncation, like a C++ conversion
  CHECK(scalar(-3).item<double>() == -3.0);
  CHECK(tensor(std::vector<int64_t>{9}).item<int64_t>() == 9);
  CHECK(full({1, 1}, 4.0).item<float>() == 4.f);
  CHECK(scalar(true).item<bool>());
  CHECK(scalar(7).item_scalar().to_int() == 7);
  CHECK(scalar(1.5).item_scalar().is_floating());
  CHECK_THROWS_AS(zeros({2}).item<float>(), ValueError);
  CHECK_THROWS_AS(zeros({0}).item<float>(), ValueError);
  Tensor m = tensor(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  CHECK(m.to_vector<int32_t>() == std::vector<int32_t>{0, 1, 2, 3, 4, 5});
  CHECK(m.t().to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(m.to_vector<bool>() == std::vector<bool>{false, true, true, true, true, true});
  CHECK(zeros({0, 3}).to_vector<float>().empty());
  CHECK(m.data_ptr<float>()[4] == 4.f);
  CHECK_THROWS_AS(m.data_ptr<double>(), DTypeError);
  CHECK_THROWS_AS(tensor(std::vector<float>{1, 2, 3}, {2, 2}), ShapeError);
}

TEST_CASE("from_buffer wraps memory without a copy, the deleter runs once", "[core]") {
  std::vector<float> buf = {1, 2, 3, 4, 5, 6};
  int deleted = 0;
  void* seen = nullptr;
  {
    Tensor t = from_buffer(buf.data(), {2, 3}, DType::Float32, {}, [&](void* p) {
      ++deleted;
      seen = p;
    });
    CHECK(t.raw_data() == buf.data());
    CHECK_FALSE(t.storage()->owned());
    buf[4] = 50;
    CHECK(t.to_vector<float>()[4] == 50.f);
    Tensor v = t.view({3, 2}).select(0, 1);
    Tensor copy = t;
    CHECK(t.use_count() == 3);  // t, copy, and v's base (a view made in grad mode records it)
    CHECK(v.use_count() == 1);
    t = Tensor();
    copy = Tensor();
    CHECK(deleted == 0);  // the view still uses the memory
    CHECK(v.to_vector<float>() == std::vector<float>{3, 4});
    copy_(v, full({2}, -1));
    CHECK(buf[2] == -1.f);
  }
  CHECK(deleted == 1);
  CHECK(seen == buf.data());
  // Strided wrapping: a column of a row-major [3, 2] buffer.
  std::vector<int32_t> ib = {1, 2, 3, 4, 5, 6};
  Tensor col = from_buffer(ib.data(), {3}, DType::Int32, {2});
  CHECK(col.to_vector<int32_t>() == std::vector<int32_t>{1, 3, 5});
  CHECK_FALSE(from_buffer(ib.data(), {3, 2}, DType::Int32, {1, 3}).is_contiguous());
  CHECK_THROWS_AS(from_buffer(ib.data(), {3}, DType::Int32, {-1}), IndexError);
  CHECK_THROWS_AS(from_buffer(nullptr, {3}, DType::Int32), ValueError);
  CHECK(from_buffer(nullptr, {0}, DType::Int32).numel() == 0);
}

TEST_CASE("use_count counts handles; a view made in grad mode holds one to its base", "[core]") {
  Tensor a = zeros({4});
  CHECK(a.use_count() == 1);
  {
    Tensor b = a;
    CHECK(a.use_count() == 2);
    CHECK(b.is_same(a));
    Tensor c = std::move(b);
    CHECK(a.use_count() == 2);
  }
  CHECK(a.use_count() == 1);
  Tensor v = a.view({2, 2});
  CHECK_FALSE(v.is_same(a));
  CHECK(a.use_count() == 2);  // autograd's rebase of in-place writes into views needs the base
  CHECK(v.storage().get() == a.storage().get());
  v = Tensor();
  CHECK(a.use_count() == 1);
  {
    NoGradGuard no_grad;  // no autograd history to rebase: the view records no base
    Tensor w = a.view({2, 2});
    CHECK(a.use_count() == 1);
  }
}

TEST_CASE("make_view checks bounds against the storage", "[core]") {
  Tensor a = zeros({6});
  CHECK(make_view(a, {2, 3}, {3, 1}, 0).shape() == Shape{2, 3});
  CHECK(make_view(a, {3}, {2}, 1).to_vector<float>().size() == 3);
  CHECK_THROWS_AS(make_view(a, {3}, {2}, 2), IndexError);
  CHECK_THROWS_AS(make_view(a, {7}, {1}, 0), IndexError);
  CHECK(make_view(a, {0}, {1}, 100).numel() == 0);  // touches nothing
}

}  // namespace doppel::testing
