// Tensor::str() against PyTorch's output with its default print options. Expected strings are
// what `print(torch.xxx)` shows, except that dtypes print as doppel names (dtype=float64
// where PyTorch says dtype=torch.float64).
#include <cmath>
#include <sstream>

#include "support/test_util.h"

namespace doppel::testing {
namespace {
Tensor f32(std::vector<float> v, IntList shape = {}) { return tensor(v, shape); }
}  // namespace

TEST_CASE("printing floats: fixed, integer-valued and scientific", "[core]") {
  CHECK(f32({1, 2, 3}).str() == "tensor([1., 2., 3.])");
  CHECK(f32({0.12345f, 2.f}, {1, 2}).str() == "tensor([[0.1235, 2.0000]])");
  CHECK(f32({-1.5f, 2.25f}).str() == "tensor([-1.5000,  2.2500])");
  CHECK(f32({1, 2, 3, 4}, {2, 2}).str() == "tensor([[1., 2.],\n        [3., 4.]])");
  CHECK(f32({-1, 10, 0}).str() == "tensor([-1., 10.,  0.])");
  CHECK(f32({0, 0}).str() == "tensor([0., 0.])");
  // Scientific when tiny, huge, or spanning more than 1000x.
  CHECK(f32({1e-5f, 1.f}).str() == "tensor([1.0000e-05, 1.0000e+00])");
  CHECK(f32({0.001f, 2.f}).str() == "tensor([1.0000e-03, 2.0000e+00])");
  CHECK(f32({1.f, 2000.f}).str() == "tensor([1.0000e+00, 2.0000e+03])");
  CHECK(f32({1.f, 1000.f}).str() == "tensor([   1., 1000.])");
  CHECK(f32({1e9f}).str() == "tensor([1.0000e+09])");
  CHECK(f32({0.5f, 1e-4f}).str() == "tensor([5.0000e-01, 1.0000e-04])");
  // nan and inf never widen the columns.
  CHECK(f32({1.f, NAN}).str() == "tensor([1., nan])");
  CHECK(f32({1.5f, INFINITY}).str() == "tensor([1.5000,    inf])");
  CHECK(f32({-INFINITY, 2.f}).str() == "tensor([-inf, 2.])");
  CHECK(f32({NAN}).str() == "tensor([nan])");
  // Other float dtypes.
  CHECK(tensor(std::vector<double>{1.5, 2}).str() == "tensor([1.5000, 2.0000], dtype=float64)");
  CHECK(to_dtype(f32({1.5f}), DType::BFloat16).str() == "tensor([1.5000], dtype=bfloat16)");
  CHECK(to_dtype(f32({3}), DType::Float16).str() == "tensor([3.], dtype=float16)");
}

TEST_CASE("printing integers, bools and 0-d tensors", "[core]") {
  CHECK(tensor(std::vector<int64_t>{1, 2, 3}).str() == "tensor([1, 2, 3])");
  CHECK(tensor(std::vector<int64_t>{-1, 10, 100}).str() == "tensor([ -1,  10, 100])");
  CHECK(tensor(std::vector<int32_t>{5}).str() == "tensor([5], dtype=int32)");
  CHECK(tensor(std::vector<uint8_t>{0, 255}).str() == "tensor([  0, 255], dtype=uint8)");
  CHECK(tensor(std::vector<bool>{true, false, true}).str() == "tensor([ True, False,  True])");
  CHECK(tensor(std::vector<bool>{true, true}).str() == "tensor([True, True])");
  CHECK(scalar(3).str() == "tensor(3)");
  CHECK(scalar(3.5).str() == "tensor(3.5000)");
  CHECK(scalar(1.0).str() == "tensor(1.)");
  CHECK(scalar(true).str() == "tensor(True)");
  CHECK(scalar(2, DType::Int8).str() == "tensor(2, dtype=int8)");
  CHECK(scalar(1e-6).str() == "tensor(1.0000e-06)");
}

TEST_CASE("printing empty tensors", "[core]") {
  CHECK(zeros({0}).str() == "tensor([])");
  CHECK(zeros({0, 3}).str() == "tensor([], size=(0, 3))");
  CHECK(zeros({3, 0}).str() == "tensor([], size=(3, 0))");
  CHECK(zeros({2, 0, 4}).str() == "tensor([], size=(2, 0, 4))");
  // No value shows the dtype, so every non-default dtype is named (int64 too).
  CHECK(zeros({0}, {.dtype = DType::Int64}).str() == "tensor([], dtype=int64)");
  CHECK(zeros({0, 2}, {.dtype = DType::Bool}).str() == "tensor([], size=(0, 2), dtype=bool)");
}

TEST_CASE("printing 3-d tensors and long rows", "[core]") {
  CHECK(arange(0, 8, 1, TensorOptions{}).reshape({2, 2, 2}).str() ==
        "tensor([[[0., 1.],\n"
        "         [2., 3.]],\n"
        "\n"
        "        [[4., 5.],\n"
        "         [6., 7.]]])");
  // Rows wrap at 80 columns like PyTorch.
  CHECK(arange(0, 20, 1, TensorOptions{}).str() ==
        "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
        "        14., 15., 16., 17., 18., 19.])");
  CHECK(arange(30).str() ==
        "tensor([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17,\n"
        "        18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29])");
}

TEST_CASE("printing summarizes tensors over 1000 elements", "[core]") {
  CHECK(arange(2000).str() == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
  CHECK(arange(1000).str().find("...") == std::string::npos);  // the threshold is exclusive
  CHECK(arange(2000).reshape({1000, 2}).str() ==
        "tensor([[   0,    1],\n"
        "        [   2,    3],\n"
        "        [   4,    5],\n"
        "        ...,\n"
        "        [1994, 1995],\n"
        "        [1996, 1997],\n"
        "        [1998, 1999]])");
  // Both dims summarized; the values span less than 1000x, so no scientific notation.
  CHECK(arange(100, 1200, 1, TensorOptions{}).reshape({11, 100}).str() ==
        "tensor([[ 100.,  101.,  102.,  ...,  197.,  198.,  199.],\n"
        "        [ 200.,  201.,  202.,  ...,  297.,  298.,  299.],\n"
        "        [ 300.,  301.,  302.,  ...,  397.,  398.,  399.],\n"
        "        ...,\n"
        "        [ 900.,  901.,  902.,  ...,  997.,  998.,  999.],\n"
        "        [1000., 1001., 1002.,  ..., 1097., 1098., 1099.],\n"
        "        [1100., 1101., 1102.,  ..., 1197., 1198., 1199.]])");
  Tensor big3 = arange(8 * 2 * 100).reshape({8, 2, 100});
  const std::string s = big3.str();
  CHECK(s.find("]],\n\n        ...,\n\n        [[") != std::string::npos);
}

TEST_CASE("printing non-contiguous views and operator<<", "[core]") {
  Tensor m = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(m.t().str() == "tensor([[1., 4.],\n        [2., 5.],\n        [3., 6.]])");
  std::ostringstream os;
  os << m.select(1, 2);
  CHECK(os.str() == "tensor([3., 6.])");
}

}  // namespace doppel::testing
