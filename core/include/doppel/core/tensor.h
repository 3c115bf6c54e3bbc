#pragma once
// Tensor: a cheap, copyable handle to a ref-counted TensorImpl. Copies share the tensor (like
// PyTorch); use clone() for a deep copy.
//
// The metadata accessors are defined in core. The op methods (t.relu(), t.reshape(...)) are
// declared here for convenience and defined by the eager layer, which routes them through the
// op table; code that links only core and kernels (the production runtime) must not call them.
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "doppel/core/device.h"
#include "doppel/core/error.h"
#include "doppel/core/scalar.h"
#include "doppel/core/tensor_impl.h"
#include "doppel/core/value_read_hook.h"

// The default argument that lets every public API function name its caller in errors.
#define DOPPEL_LOC ::doppel::SourceLoc loc = ::doppel::SourceLoc::current()

namespace doppel {

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(IntrusivePtr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return bool(impl_); }
  TensorImpl* impl() const { return impl_.get(); }
  const IntrusivePtr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }
  int64_t use_count() const { return impl_ ? impl_->use_count() : 0; }

  // Metadata. These throw ValueError on an undefined tensor.
  int64_t dim() const { return int64_t(checked()->shape().size()); }
  const Shape& shape() const { return checked()->shape(); }
  const Shape& sizes() const { return shape(); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  const Strides& strides() const { return checked()->strides(); }
  int64_t stride(int64_t d) const;
  int64_t storage_offset() const { return checked()->offset(); }
  int64_t numel() const { return checked()->numel(); }
  DType dtype() const { return checked()->dtype(); }
  Device device() const { return checked()->device(); }
  bool is_contiguous() const { return checked()->is_contiguous(); }
  size_t element_size() const { return doppel::element_size(dtype()); }
  size_t nbytes() const { return size_t(numel()) * element_size(); }
  const Storage& storage() const { return checked()->storage(); }
  uint64_t version() const { return checked()->storage()->version(); }
  void bump_version() const { checked()->storage()->bump_version(); }

  // Pinned (page-locked) host memory: copies between it and a CUDA device are asynchronous.
  // pin_memory() returns this CPU tensor when it is pinned already, else a contiguous copy in
  // pinned memory (DeviceError on a build or machine without a CUDA device).
  Tensor pin_memory() const;
  bool is_pinned() const;

  // Raw data. Reading values raises TraceError while a trace is active (the eager layer
  // installs that check); use these only outside traced code or in kernels.
  void* raw_data(DOPPEL_LOC) const {
    if (auto hook = detail::value_read_hook()) [[unlikely]]
      hook(*this, "raw_data", loc);
    return checked()->data();
  }
  template <typename T>
  T* data_ptr(DOPPEL_LOC) const {
    if (auto hook = detail::value_read_hook()) [[unlikely]]
      hook(*this, "data_ptr", loc);
    check_dtype_for_access(dtype_v<T>);
    return static_cast<T*>(checked()->data());
  }

  // The single value of a one-element tensor, converted to T.
  template <typename T>
  T item(DOPPEL_LOC) const;
  Scalar item_scalar(DOPPEL_LOC) const;
  // All values in row-major order, converted to T.
  template <typename T>
  std::vector<T> to_vector(DOPPEL_LOC) const;

  // PyTorch-style printing, summarized when large. (operator<< cannot name its caller, so a
  // trace's error for printing a traced tensor names the caller only through str().)
  std::string str(DOPPEL_LOC) const;

  // ---- Autograd (defined in eager/src/autograd; see eager/include/doppel/autograd.h).
  bool requires_grad() const;
  // Marks a leaf tensor as needing gradients; only floating tensors can. Returns *this.
  const Tensor& set_requires_grad(bool requires_grad = true, DOPPEL_LOC) const;
  bool is_leaf() const;
  // The accumulated gradient (undefined until a backward pass reaches this tensor).
  Tensor grad() const;
  void set_grad(const Tensor& g, DOPPEL_LOC) const;
  // Backpropagates from this tensor; `gradient` may be omitted for a one-element tensor.
  void backward(const Tensor& gradient = {}, bool retain_graph = false, bool create_graph = false,
                DOPPEL_LOC) const;
  // A tensor sharing storage with this one, cut from the autograd graph.
  Tensor detach(DOPPEL_LOC) const;
  // Makes a non-leaf tensor keep its .grad() after backward.
  const Tensor& retain_grad(DOPPEL_LOC) const;
  // Calls `hook(grad)` when this tensor's gradient is computed; a defined return value
  // replaces the gradient. Returns a handle for remove_hook.
  int64_t register_hook(std::function<Tensor(const Tensor&)> hook) const;
  void remove_hook(int64_t handle) const;

  // ---- Op methods (defined in eager; see eager/include/doppel/ops.h for the free functions).
  Tensor reshape(IntList shape, DOPPEL_LOC) const;
  Tensor view(IntList shape, DOPPEL_LOC) const;
  Tensor permute(IntList dims, DOPPEL_LOC) const;
  Tensor transpose(int64_t d0, int64_t d1, DOPPEL_LOC) const;
  Tensor t(DOPPEL_LOC) const;
  Tensor slice(int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end,
               int64_t step = 1, DOPPEL_LOC) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length, DOPPEL_LOC) const;
  Tensor select(int64_t dim, int64_t index, DOPPEL_LOC) const;
  Tensor expand(IntList shape, DOPPEL_LOC) const;
  Tensor squeeze(std::optional<int64_t> dim = std::nullopt, DOPPEL_LOC) const;
  Tensor unsqueeze(int64_t dim, DOPPEL_LOC) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1, DOPPEL_LOC) const;
  Tensor contiguous(DOPPEL_LOC) const;
  Tensor clone(DOPPEL_LOC) const;
  Tensor to(DType dtype, DOPPEL_LOC) const;
  // A copy on `device` (this tensor when it is there already); see to_device in ops/shape_ops.h.
  Tensor to(Device device, DOPPEL_LOC) const;
  Tensor to(Device device, DType dtype, DOPPEL_LOC) const;

  Tensor neg(DOPPEL_LOC) const;
  Tensor abs(DOPPEL_LOC) const;
  Tensor exp(DOPPEL_LOC) const;
  Tensor log(DOPPEL_LOC) const;
  Tensor sqrt(DOPPEL_LOC) const;
  Tensor tanh(DOPPEL_LOC) const;
  Tensor sigmoid(DOPPEL_LOC) const;
  Tensor relu(DOPPEL_LOC) const;
  Tensor sum(IntList dims = {}, bool keepdim = false, DOPPEL_LOC) const;
  Tensor mean(IntList dims = {}, bool keepdim = false, DOPPEL_LOC) const;
  Tensor max(IntList dims = {}, bool keepdim = false, DOPPEL_LOC) const;
  Tensor argmax(std::optional<int64_t> dim = std::nullopt, bool keepdim = false, DOPPEL_LOC) const;
  Tensor matmul(const Tensor& other, DOPPEL_LOC) const;
  Tensor softmax(int64_t dim, DOPPEL_LOC) const;
  Tensor log_softmax(int64_t dim, DOPPEL_LOC) const;

 private:
  TensorImpl* checked() const {
    if (!impl_) [[unlikely]]
      throw_undefined();
    return impl_.get();
  }
  [[noreturn]] static void throw_undefined();
  void check_dtype_for_access(DType requested) const;

  IntrusivePtr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

using TensorList = ArrayRef<Tensor>;

// ---- Core constructors: metadata only, no op table (usable by kernels and the runtime).

// A new contiguous tensor with uninitialized memory from the device's allocator.
Tensor make_tensor(IntList shape, DType dtype, Device device = kCPU);
// A view sharing `base`'s storage with new geometry. Bounds are checked against the storage.
Tensor make_view(const Tensor& base, IntList shape, IntList strides, int64_t offset);
// Wraps external memory without copying; `deleter` runs when the last user is gone.
Tensor from_blob(void* data, IntList shape, IntList strides, DType dtype, Device device,
                 std::function<void(void*)> deleter = {});

// Elementwise copy between tensors of the same shape and device, converting dtype, any
// strides (a core utility the kernels and runtime use; the eager op is `copy_`).
void copy_strided(const Tensor& dst, const Tensor& src);
// `t` itself when it is contiguous, else a contiguous copy (kernels that need dense inputs).
Tensor contiguous_of(const Tensor& t);
// A new contiguous CPU tensor in pinned host memory (DeviceError without a CUDA device).
Tensor make_pinned_tensor(IntList shape, DType dtype);
// Copies contiguous `src` into contiguous `dst` of the same shape and dtype on another device
// (or between two CUDA tensors of one device), on the current stream of the CUDA side (of the
// destination for device to device). From or to pinned host memory the copy is asynchronous:
// synchronize(device) before reading a pinned destination. Otherwise it has completed (device
// to host) or no longer reads the host source (host to device) when this returns.
void copy_across_devices(const Tensor& dst, const Tensor& src);

}  // namespace doppel
