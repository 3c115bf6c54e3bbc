#pragma once
// The object behind a Tensor handle: storage, shape, strides (in elements), offset, dtype,
// device and the autograd slot. Shape and strides live inline for up to 6 dims.
#include <memory>

#include "doppel/core/dtype.h"
#include "doppel/core/shape.h"
#include "doppel/core/storage.h"

namespace doppel {

// What autograd keeps per tensor (grad, grad_fn, hooks). Defined by the eager layer; core only
// owns it, so the runtime can link core without autograd.
struct AutogradMeta {
  virtual ~AutogradMeta() = default;
};

class TensorImpl : public RefCounted {
 public:
  TensorImpl(Storage storage, Shape shape, Strides strides, int64_t offset, DType dtype);

  const Storage& storage() const { return storage_; }
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_->device(); }
  int64_t numel() const { return numel_; }
  bool is_contiguous() const { return contiguous_; }

  // Address of element 0 (storage + offset).
  void* data() const {
    return static_cast<char*>(storage_->data()) + offset_ * int64_t(element_size(dtype_));
  }

  // A process-wide creation number (shared counter with StorageImpl::serial): tells a tensor
  // from a later one that happens to reuse its address (the tracer's maps hold no references,
  // so that tracing does not change reference counts the code being traced may look at).
  uint64_t serial() const { return serial_; }

  AutogradMeta* autograd_meta() const { return autograd_.get(); }
  void set_autograd_meta(std::unique_ptr<AutogradMeta> m) { autograd_ = std::move(m); }

  // A tensor made from a C++ number (`t * 2.0`): it takes part in type promotion with the
  // lowest priority, as in PyTorch, so float32 * 2.0 stays float32.
  bool is_wrapped_number() const { return wrapped_number_; }
  void set_wrapped_number(bool v) { wrapped_number_ = v; }

  // Re-points this tensor at other metadata (in-place reshapes such as resize of an output).
  void set_geometry(Shape shape, Strides strides, int64_t offset);

  // Swaps in new data of the same shape, possibly of another dtype or device, keeping this
  // TensorImpl (and so every handle to it and its autograd slot). nn::Module::to(dtype/device)
  // uses it so that parameters converted in place stay the same objects for optimizers.
  // `storage` must hold the shape at `strides` from `offset` in `dtype` elements.
  void replace_data(Storage storage, DType dtype, Strides strides, int64_t offset);

 private:
  void refresh();

  Storage storage_;
  Shape shape_;
  Strides strides_;
  int64_t offset_ = 0;
  int64_t numel_ = 0;
  DType dtype_;
  bool contiguous_ = true;
  bool wrapped_number_ = false;
  uint64_t serial_ = StorageImpl::next_serial();
  std::unique_ptr<AutogradMeta> autograd_;
};

}  // namespace doppel
