#include "doppel/core/tensor.h"

#include <cstring>
#include <limits>

#include "doppel/core/strided_loop.h"

namespace doppel {

int64_t Tensor::size(int64_t d) const { return shape()[size_t(wrap_dim("size", d, dim()))]; }
int64_t Tensor::stride(int64_t d) const { return strides()[size_t(wrap_dim("stride", d, dim()))]; }

void Tensor::throw_undefined() {
  detail::throw_error<ValueError>("this Tensor is undefined (default-constructed); assign a tensor before using it");
}

void Tensor::check_dtype_for_access(DType requested) const {
  DOPPEL_CHECK_DTYPE(requested == dtype(), "data_ptr: requested {} but the tensor holds {}; cast with .to() first",
                     dtype_name(requested), dtype_name(dtype()));
}

namespace {
// Element offset range [lo, hi] touched by a geometry; hi < lo for empty tensors.
void touched_range(IntList shape, IntList strides, int64_t offset, int64_t& lo, int64_t& hi) {
  lo = hi = offset;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) {
      hi = lo - 1;
      return;
    }
    const int64_t span = (shape[i] - 1) * strides[i];
    (span < 0 ? lo : hi) += span;
  }
}

int64_t checked_numel(std::string_view op, IntList shape, size_t elem) {
  int64_t n = 1;
  for (int64_t s : shape) {
    DOPPEL_CHECK_SHAPE(s >= 0, "{}: negative dimension {} in shape {}", op, s, shape_str(shape));
    if (s != 0 && n > std::numeric_limits<int64_t>::max() / int64_t(elem) / s)
      detail::throw_error<OutOfMemoryError>(
          fmt::format("{}: shape {} has too many elements to allocate", op, shape_str(shape)));
    n *= s;
  }
  return n;
}
}  // namespace

Tensor make_tensor(IntList shape, DType dtype, Device device) {
  const size_t elem = element_size(dtype);
  const int64_t n = checked_numel("empty", shape, elem);
  auto storage = make_intrusive<StorageImpl>(size_t(n) * elem, device);
  return Tensor(make_intrusive<TensorImpl>(std::move(storage), Shape(shape), contiguous_strides(shape), 0, dtype));
}

Tensor make_view(const Tensor& base, IntList shape, IntList strides, int64_t offset) {
  DOPPEL_INTERNAL_ASSERT(shape.size() == strides.size());
  int64_t lo = 0, hi = 0;
  touched_range(shape, strides, offset, lo, hi);
  const int64_t cap = int64_t(base.storage()->nbytes() / base.element_size());
  DOPPEL_CHECK_INDEX(hi < lo || (lo >= 0 && hi < cap),
                     "view: shape {} strides {} offset {} reach outside the storage of {} elements",
                     shape_str(shape), shape_str(strides), offset, cap);
  return Tensor(make_intrusive<TensorImpl>(base.storage(), Shape(shape), Strides(strides), offset, base.dtype()));
}

Tensor from_blob(void* data, IntList shape, IntList strides, DType dtype, Device device,
                 std::function<void(void*)> deleter) {
  DOPPEL_CHECK_SHAPE(shape.size() == strides.size(), "from_blob: shape {} and strides {} differ in length",
                     shape_str(shape), shape_str(strides));
  const size_t elem = element_size(dtype);
  checked_numel("from_blob", shape, elem);
  int64_t lo = 0, hi = 0;
  touched_range(shape, strides, 0, lo, hi);
  DOPPEL_CHECK_INDEX(hi < lo || lo >= 0, "from_blob: negative strides {} reach before the buffer start",
                     shape_str(strides));
  const size_t nbytes = hi < lo ? 0 : size_t(hi + 1) * elem;
  auto storage = make_intrusive<StorageImpl>(data, nbytes, device, std::move(deleter));
  return Tensor(make_intrusive<TensorImpl>(std::move(storage), Shape(shape), Strides(strides), 0, dtype));
}

void copy_strided(const Tensor& dst, const Tensor& src) {
  DOPPEL_CHECK_SHAPE(dst.shape() == src.shape(), "copy: destination shape {} differs from source shape {}",
                     shape_str(dst.shape()), shape_str(src.shape()));
  DOPPEL_CHECK_DEVICE(dst.device().is_cpu() && src.device().is_cpu(),
                      "copy_strided: only CPU tensors here (got {} and {})", dst.device().str(), src.device().str());
  if (dst.numel() == 0) return;
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    std::memmove(dst.raw_data(), src.raw_data(), dst.nbytes());
    return;
  }
  DOPPEL_DISPATCH_ALL(dst.dtype(), "copy", [&]<typename D>() {
    DOPPEL_DISPATCH_ALL(src.dtype(), "copy", [&]<typename S>() {
      D* d = static_cast<D*>(dst.raw_data());
      const S* s = static_cast<const S*>(src.raw_data());
      for_each_strided<2>(dst.shape(), {IntList(dst.strides()), IntList(src.strides())},
                          [&](std::array<int64_t, 2> o, int64_t n, std::array<int64_t, 2> st) {
                            for (int64_t i = 0; i < n; ++i) {
                              const S v = s[o[1] + i * st[1]];
                              if constexpr (std::is_same_v<D, bool>)
                                d[o[0] + i * st[0]] = static_cast<compute_t<S>>(v) != compute_t<S>(0);
                              else
                                d[o[0] + i * st[0]] = static_cast<D>(static_cast<compute_t<D>>(static_cast<compute_t<S>>(v)));
                            }
                          });
    });
  });
}

Tensor contiguous_of(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor c = make_tensor(t.shape(), t.dtype(), t.device());
  copy_strided(c, t);
  return c;
}

template <typename T>
std::vector<T> Tensor::to_vector(SourceLoc loc) const {
  CallSiteScope scope(loc);
  if (auto hook = detail::value_read_hook()) hook(*this, "to_vector", loc);
  DOPPEL_CHECK_DEVICE(device().is_cpu(), "to_vector: tensor is on {}; move it to the cpu first", device().str());
  // std::vector<bool> is bit-packed, so bools go through a byte buffer.
  using Buf = std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>;
  std::vector<Buf> buf(static_cast<size_t>(numel()));
  if (!buf.empty()) {
    Tensor dst = from_blob(buf.data(), shape(), contiguous_strides(shape()), dtype_v<T>, kCPU);
    copy_strided(dst, *this);
  }
  if constexpr (std::is_same_v<T, bool>) return std::vector<bool>(buf.begin(), buf.end());
  else return buf;
}

template <typename T>
T Tensor::item(SourceLoc loc) const {
  CallSiteScope scope(loc);
  if (auto hook = detail::value_read_hook()) hook(*this, "item", loc);
  DOPPEL_CHECK(numel() == 1, "item: the tensor has {} elements (shape {}); item() needs exactly one",
               numel(), shape_str(shape()));
  return to_vector<T>(loc)[0];
}

Scalar Tensor::item_scalar(SourceLoc loc) const {
  if (is_floating(dtype())) return Scalar(item<double>(loc));
  if (dtype() == DType::Bool) return Scalar(item<bool>(loc));
  return Scalar(item<int64_t>(loc));
}

#define DOPPEL_INSTANTIATE_(T)                                   \
  template std::vector<T> Tensor::to_vector<T>(SourceLoc) const; \
  template T Tensor::item<T>(SourceLoc) const;
DOPPEL_INSTANTIATE_(float)
DOPPEL_INSTANTIATE_(double)
DOPPEL_INSTANTIATE_(bfloat16)
DOPPEL_INSTANTIATE_(float16)
DOPPEL_INSTANTIATE_(int8_t)
DOPPEL_INSTANTIATE_(uint8_t)
DOPPEL_INSTANTIATE_(int32_t)
DOPPEL_INSTANTIATE_(int64_t)
DOPPEL_INSTANTIATE_(bool)
#undef DOPPEL_INSTANTIATE_

}  // namespace doppel
