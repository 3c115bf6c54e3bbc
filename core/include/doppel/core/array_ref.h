#pragma once
// ArrayRef<T>: a non-owning view of contiguous Ts, like std::span, but also constructible from
// a braced list, so `zeros({2, 3})` and `dispatch(op, {a, b})` work. The list's storage lives
// until the end of the full expression, which covers a function call.
#include <array>
#include <cstddef>
#include <initializer_list>
#include <span>
#include <vector>

namespace doppel {

template <typename T>
class ArrayRef {
 public:
  constexpr ArrayRef() = default;
  constexpr ArrayRef(const T* data, size_t size) : data_(data), size_(size) {}
  constexpr ArrayRef(const T& one) : data_(&one), size_(1) {}  // NOLINT
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"  // intended: the list outlives the call
  constexpr ArrayRef(std::initializer_list<T> il) : data_(il.begin()), size_(il.size()) {}  // NOLINT
#pragma GCC diagnostic pop
  ArrayRef(const std::vector<T>& v) : data_(v.data()), size_(v.size()) {}  // NOLINT
  template <size_t N>
  constexpr ArrayRef(const std::array<T, N>& a) : data_(a.data()), size_(N) {}  // NOLINT
  template <size_t N>
  constexpr ArrayRef(const T (&a)[N]) : data_(a), size_(N) {}  // NOLINT
  constexpr ArrayRef(std::span<const T> s) : data_(s.data()), size_(s.size()) {}  // NOLINT
  constexpr ArrayRef(std::span<T> s) : data_(s.data()), size_(s.size()) {}  // NOLINT
  // Any other contiguous container with data() and size() (SmallVector).
  template <typename C>
    requires requires(const C& c) {
      { c.data() } -> std::convertible_to<const T*>;
      c.size();
    } && (!std::is_same_v<C, ArrayRef>)
  ArrayRef(const C& c) : data_(c.data()), size_(c.size()) {}  // NOLINT

  constexpr const T* data() const { return data_; }
  constexpr size_t size() const { return size_; }
  constexpr bool empty() const { return size_ == 0; }
  constexpr const T* begin() const { return data_; }
  constexpr const T* end() const { return data_ + size_; }
  constexpr const T& operator[](size_t i) const { return data_[i]; }
  constexpr const T& front() const { return data_[0]; }
  constexpr const T& back() const { return data_[size_ - 1]; }
  constexpr operator std::span<const T>() const { return {data_, size_}; }  // NOLINT
  std::vector<T> vec() const { return std::vector<T>(begin(), end()); }

 private:
  const T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace doppel
