#pragma once
// A vector with N elements stored inline, for shapes and strides on the dispatch hot path:
// tensors up to N dimensions never touch the heap for their metadata.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <span>
#include <concepts>
#include <type_traits>

namespace doppel {

template <typename T, size_t N>
class SmallVector {
  static_assert(std::is_trivially_copyable_v<T>, "SmallVector holds trivially copyable types");

 public:
  SmallVector() = default;
  SmallVector(size_t n, T v) { resize(n, v); }
  SmallVector(std::initializer_list<T> il) { assign(il.begin(), il.end()); }
  SmallVector(std::span<const T> s) { assign(s.data(), s.data() + s.size()); }  // NOLINT
  // From any contiguous range of T (ArrayRef, std::vector).
  template <typename R>
    requires requires(const R& r) {
      { r.data() } -> std::convertible_to<const T*>;
      r.size();
    } && (!std::is_same_v<R, SmallVector>)
  SmallVector(const R& r) {  // NOLINT
    assign(r.data(), r.data() + r.size());
  }
  // Iterator pairs only: without the constraint SmallVector(8, 3) would pick this over (n, v).
  template <typename It>
    requires(!std::is_integral_v<It>)
  SmallVector(It b, It e) {
    for (; b != e; ++b) push_back(static_cast<T>(*b));
  }
  SmallVector(const SmallVector& o) { assign(o.begin(), o.end()); }
  SmallVector& operator=(const SmallVector& o) {
    if (this != &o) {
      size_ = 0;
      assign(o.begin(), o.end());
    }
    return *this;
  }
  SmallVector(SmallVector&& o) noexcept { *this = std::move(o); }
  SmallVector& operator=(SmallVector&& o) noexcept {
    if (this == &o) return *this;
    if (o.heap_) {
      heap_ = std::move(o.heap_);
      cap_ = o.cap_;
      size_ = o.size_;
      o.cap_ = N;
      o.size_ = 0;
    } else {
      heap_.reset();
      cap_ = N;
      size_ = 0;
      assign(o.begin(), o.end());
    }
    return *this;
  }

  T* data() { return heap_ ? heap_.get() : inline_; }
  const T* data() const { return heap_ ? heap_.get() : inline_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T& back() { return data()[size_ - 1]; }
  const T& back() const { return data()[size_ - 1]; }

  void reserve(size_t n) {
    if (n <= cap_) return;
    auto p = std::make_unique<T[]>(n);
    std::memcpy(p.get(), data(), size_ * sizeof(T));
    heap_ = std::move(p);
    cap_ = n;
  }
  void push_back(T v) {
    if (size_ == cap_) reserve(cap_ * 2);
    data()[size_++] = v;
  }
  void pop_back() { --size_; }
  void resize(size_t n, T v = T()) {
    reserve(n);
    for (size_t i = size_; i < n; ++i) data()[i] = v;
    size_ = n;
  }
  void clear() { size_ = 0; }
  void insert(size_t pos, T v) {
    push_back(v);
    std::rotate(begin() + pos, end() - 1, end());
  }
  void erase(size_t pos) {
    std::copy(begin() + pos + 1, end(), begin() + pos);
    --size_;
  }

  operator std::span<const T>() const { return {data(), size_}; }  // NOLINT
  std::span<const T> span() const { return {data(), size_}; }

  friend bool operator==(const SmallVector& a, const SmallVector& b) {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  template <typename It>
  void assign(It b, It e) {
    reserve(size_t(e - b));
    for (; b != e; ++b) data()[size_++] = *b;
  }

  T inline_[N] = {};
  std::unique_ptr<T[]> heap_;
  size_t cap_ = N;
  size_t size_ = 0;
};

}  // namespace doppel
