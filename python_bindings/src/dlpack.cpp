// Zero-copy interop: __dlpack__/__dlpack_device__ (legacy and versioned capsules),
// doppel.from_dlpack, doppel.from_numpy, Tensor.numpy()/__array__ and the buffer protocol.
// Every export holds a Tensor handle, so the doppel storage outlives the consumer's view; every
// import keeps the producer's object alive through its DLPack deleter.
#include "dlpack.h"

#include <fmt/format.h>

#include <optional>

#include "bind.h"

namespace doppel::py {
namespace {

dl::DataType to_dl(DType d) {
  auto bits = uint8_t(element_size(d) * 8);
  switch (d) {
    case DType::Float32:
    case DType::Float64:
    case DType::Float16:
      return {dl::kFloat, bits, 1};
    case DType::BFloat16:
      return {dl::kBfloat, bits, 1};
    case DType::Int8:
    case DType::Int32:
    case DType::Int64:
      return {dl::kInt, bits, 1};
    case DType::UInt8:
      return {dl::kUInt, bits, 1};
    case DType::Bool:
      return {dl::kBool, 8, 1};
  }
  return {};
}

DType from_dl(dl::DataType t) {
  DOPPEL_CHECK_DTYPE(t.lanes == 1, "from_dlpack: vector dtypes (lanes={}) are not supported", t.lanes);
  switch (t.code) {
    case dl::kFloat:
      if (t.bits == 32) return DType::Float32;
      if (t.bits == 64) return DType::Float64;
      if (t.bits == 16) return DType::Float16;
      break;
    case dl::kBfloat:
      if (t.bits == 16) return DType::BFloat16;
      break;
    case dl::kInt:
      if (t.bits == 8) return DType::Int8;
      if (t.bits == 32) return DType::Int32;
      if (t.bits == 64) return DType::Int64;
      break;
    case dl::kUInt:
      if (t.bits == 8) return DType::UInt8;
      break;
    case dl::kBool:
      if (t.bits == 8) return DType::Bool;
      break;
    default:
      break;
  }
  DOPPEL_CHECK_DTYPE(false,
                     "from_dlpack: DLPack dtype (code {}, {} bits) has no doppel equivalent; doppel has float16/32/64, "
                     "bfloat16, int8/32/64, uint8 and bool",
                     int(t.code), int(t.bits));
  return DType::Float32;
}

// What an exported capsule owns: a handle on the tensor (keeps the storage alive) and the
// shape/stride arrays the DLTensor points into.
template <class Managed>
struct Export {
  Tensor t;
  std::vector<int64_t> shape, strides;
  Managed managed{};
};

template <class Managed>
Managed* make_export(const Tensor& t) {
  void* data = t.raw_data();        // raises TraceError on a traced tensor: its values do not exist yet
  t.storage()->mark_unversioned();  // the consumer may write it without bumping its version
  auto* e = new Export<Managed>{t, {t.shape().begin(), t.shape().end()}, {t.strides().begin(), t.strides().end()}};
  dl::Tensor& d = e->managed.dl_tensor;
  d.data = data;
  d.device = t.device().is_cpu() ? dl::Device{dl::kCPU, 0} : dl::Device{dl::kCUDA, t.device().index};
  d.ndim = int32_t(t.dim());
  d.dtype = to_dl(t.dtype());
  d.shape = e->shape.data();
  d.strides = e->strides.data();
  d.byte_offset = 0;
  e->managed.manager_ctx = e;
  e->managed.deleter = [](Managed* self) { delete static_cast<Export<Managed>*>(self->manager_ctx); };
  return &e->managed;
}

template <class Managed>
nb::capsule capsule_of(const Tensor& t, const char* name) {
  Managed* m = make_export<Managed>(t);
  if constexpr (std::is_same_v<Managed, dl::ManagedTensorVersioned>) m->version = {1, 0};
  // The capsule destructor frees the export only if no consumer took it (renamed it "used_...").
  PyObject* cap = PyCapsule_New(m, name, [](PyObject* c) {
    const char* n = PyCapsule_GetName(c);
    if (n == nullptr || std::string_view(n).starts_with("used_")) return;
    auto* mt = static_cast<Managed*>(PyCapsule_GetPointer(c, n));
    if (mt != nullptr && mt->deleter != nullptr) mt->deleter(mt);
  });
  if (cap == nullptr) {
    m->deleter(m);
    throw nb::python_error();
  }
  return nb::steal<nb::capsule>(cap);
}

template <class Managed>
Tensor consume(PyObject* cap, const char* name, const char* used) {
  auto* m = static_cast<Managed*>(PyCapsule_GetPointer(cap, name));
  if (m == nullptr) throw nb::python_error();
  const dl::Tensor& d = m->dl_tensor;
  DType dtype = from_dl(d.dtype);
  Device dev;
  if (d.device.device_type == dl::kCPU || d.device.device_type == dl::kCUDAHost)
    dev = kCPU;
  else if (d.device.device_type == dl::kCUDA)
    dev = Device(DeviceType::CUDA, d.device.device_id);
  else
    DOPPEL_CHECK_DEVICE(false, "from_dlpack: DLPack device type {} is not supported (cpu or cuda only)",
                        int(d.device.device_type));
  DOPPEL_CHECK(d.ndim >= 0 && d.ndim <= 64, "from_dlpack: bad ndim {}", d.ndim);
  std::vector<int64_t> shape(d.shape, d.shape + d.ndim);
  std::vector<int64_t> strides;
  if (d.strides != nullptr) {
    strides.assign(d.strides, d.strides + d.ndim);
  } else {  // compact row-major
    strides.resize(shape.size());
    int64_t s = 1;
    for (size_t i = shape.size(); i-- > 0;) {
      strides[i] = s;
      s *= shape[i];
    }
  }
  void* data = static_cast<char*>(d.data) + d.byte_offset;
  // Rename first: from here on the producer's memory belongs to the tensor's deleter.
  PyCapsule_SetName(cap, used);
  return from_blob(data, shape, strides, dtype, dev, [m](void*) {
    if (m->deleter != nullptr) m->deleter(m);  // DLPack deleters may be called without the GIL
  });
}

Tensor from_capsule(nb::handle cap) {
  const char* name = PyCapsule_GetName(cap.ptr());
  if (name == nullptr) throw nb::python_error();
  std::string_view n(name);
  if (n == "dltensor_versioned") {
    auto* m = static_cast<dl::ManagedTensorVersioned*>(PyCapsule_GetPointer(cap.ptr(), name));
    DOPPEL_CHECK(m != nullptr && m->version.major == 1,
                 "from_dlpack: DLPack major version {} is not supported (doppel reads 1.x)",
                 m != nullptr ? m->version.major : 0);
    return consume<dl::ManagedTensorVersioned>(cap.ptr(), name, "used_dltensor_versioned");
  }
  DOPPEL_CHECK(n == "dltensor",
               "from_dlpack: capsule '{}' is not a DLPack tensor (expected 'dltensor' or "
               "'dltensor_versioned'; a 'used_' capsule was consumed already)",
               n);
  return consume<dl::ManagedTensor>(cap.ptr(), name, "used_dltensor");
}

Tensor from_dlpack_obj(nb::handle obj) {
  if (PyCapsule_CheckExact(obj.ptr())) return from_capsule(obj);
  if (!nb::hasattr(obj, "__dlpack__"))
    throw nb::type_error(fmt::format("from_dlpack: expected an object with __dlpack__ or a DLPack capsule, got {}",
                                     nb::inst_name(obj).c_str())
                             .c_str());
  nb::object cap;
  try {
    cap = obj.attr("__dlpack__")(nb::arg("max_version") = nb::make_tuple(1, 0));
  } catch (nb::python_error& e) {
    if (!e.matches(PyExc_TypeError)) throw;
    cap = obj.attr("__dlpack__")();  // a producer that predates versioned capsules
  }
  return from_capsule(cap);
}

// Buffer protocol (memoryview(t), numpy.asarray(t) fallbacks): format strings per dtype.
const char* buffer_format(DType d) {
  switch (d) {
    case DType::Float32:
      return "f";
    case DType::Float64:
      return "d";
    case DType::Float16:
      return "e";
    case DType::Int8:
      return "b";
    case DType::UInt8:
      return "B";
    case DType::Int32:
      return "i";
    case DType::Int64:
      return "q";
    case DType::Bool:
      return "?";
    case DType::BFloat16:
      return nullptr;
  }
  return nullptr;
}

struct BufferExport {
  Tensor t;
  std::vector<Py_ssize_t> shape, strides;
};

int get_buffer(PyObject* self, Py_buffer* view, int flags) {
  Tensor* t = nullptr;
  if (!nb::try_cast<Tensor*>(nb::handle(self), t) || t == nullptr || !t->defined()) {
    PyErr_SetString(PyExc_BufferError, "doppel.Tensor: undefined tensor");
    return -1;
  }
  const char* fmt_s = buffer_format(t->dtype());
  if (fmt_s == nullptr) {
    PyErr_SetString(PyExc_BufferError,
                    "doppel.Tensor: bfloat16 has no buffer format; convert with .to(doppel.float32)");
    return -1;
  }
  if (!t->device().is_cpu()) {
    PyErr_SetString(PyExc_BufferError, "doppel.Tensor: only CPU tensors export a buffer");
    return -1;
  }
  void* data = nullptr;
  try {
    data = t->raw_data();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_BufferError, e.what());
    return -1;
  }
  t->storage()->mark_unversioned();  // the consumer may write it without bumping its version
  auto* e = new BufferExport{*t, {}, {}};
  auto isz = Py_ssize_t(t->element_size());
  for (int64_t i = 0; i < t->dim(); ++i) {
    e->shape.push_back(Py_ssize_t(t->size(i)));
    e->strides.push_back(Py_ssize_t(t->stride(i)) * isz);
  }
  if ((flags & PyBUF_STRIDES) != PyBUF_STRIDES && !t->is_contiguous()) {
    delete e;
    PyErr_SetString(PyExc_BufferError, "doppel.Tensor: non-contiguous tensor; the consumer must accept strides");
    return -1;
  }
  view->buf = data;
  view->obj = nb::borrow(self).release().ptr();
  view->len = Py_ssize_t(t->numel()) * isz;
  view->itemsize = isz;
  view->readonly = 0;
  view->ndim = int(t->dim());
  view->format = (flags & PyBUF_FORMAT) ? const_cast<char*>(fmt_s) : nullptr;
  view->shape = e->shape.data();
  view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? e->strides.data() : nullptr;
  view->suboffsets = nullptr;
  view->internal = e;
  return 0;
}

void release_buffer(PyObject*, Py_buffer* view) { delete static_cast<BufferExport*>(view->internal); }

// The same memory and geometry read as another dtype of the same size (bool <-> uint8).
Tensor reinterpret(const Tensor& t, DType dtype) {
  return Tensor(make_intrusive<TensorImpl>(t.storage(), t.shape(), t.strides(), t.storage_offset(), dtype));
}

// numpy's bool dtype, fetched once (leaked: outlives interpreter teardown).
nb::handle numpy_bool() {
  static nb::handle b = nb::object(nb::module_::import_("numpy").attr("bool_")).release();
  return b;
}

nb::object numpy_of(const Tensor& t) {
  static_cast<void>(t.raw_data());  // a traced tensor raises TraceError here: it has no values yet
  DOPPEL_CHECK_DEVICE(t.device().is_cpu(), "numpy(): the tensor is on {}; copy it to the CPU first", t.device().str());
  DOPPEL_CHECK_DTYPE(t.dtype() != DType::BFloat16, "numpy(): numpy has no bfloat16; convert with .to(doppel.float32)");
  DOPPEL_CHECK(!t.requires_grad(),
               "numpy(): the tensor requires grad; call .detach().numpy() (the array would "
               "not be tracked by autograd)");
  static nb::handle from_dlpack =
      nb::object(nb::module_::import_("numpy").attr("from_dlpack")).release();  // leaked: outlives interpreter teardown
  // numpy < 1.25 reads no DLPack bool: bool crosses as uint8 bytes (0/1) viewed back as bool.
  if (t.dtype() == DType::Bool) return from_dlpack(nb::cast(reinterpret(t, DType::UInt8))).attr("view")(numpy_bool());
  return from_dlpack(nb::cast(t));
}

}  // namespace

PyType_Slot tensor_buffer_slots[] = {
    {Py_bf_getbuffer, reinterpret_cast<void*>(get_buffer)},
    {Py_bf_releasebuffer, reinterpret_cast<void*>(release_buffer)},
    {0, nullptr},
};

void bind_dlpack(nb::module_& m, nb::class_<Tensor>& cls) {
  cls.def(
         "__dlpack__",
         [](const Tensor& t, nb::handle stream, std::optional<std::pair<int, int>> max_version, nb::handle dl_device,
            std::optional<bool> copy) -> nb::capsule {
           DOPPEL_CHECK(!copy.value_or(false), "__dlpack__: copy=True is not supported; clone() first");
           if (!dl_device.is_none()) {
             auto dev = nb::cast<std::pair<int, int>>(dl_device);
             DOPPEL_CHECK_DEVICE(dev.first == (t.device().is_cpu() ? dl::kCPU : dl::kCUDA),
                                 "__dlpack__: dl_device {} differs from the tensor's device {}", dev.first,
                                 t.device().str());
           }
           if (max_version && max_version->first >= 1)
             return capsule_of<dl::ManagedTensorVersioned>(t, "dltensor_versioned");
           return capsule_of<dl::ManagedTensor>(t, "dltensor");
         },
         nb::kw_only(), nb::arg("stream") = nb::none(), nb::arg("max_version") = nb::none(),
         nb::arg("dl_device") = nb::none(), nb::arg("copy") = nb::none())
      .def("__dlpack_device__",
           [](const Tensor& t) {
             return t.device().is_cpu() ? std::pair<int, int>(dl::kCPU, 0)
                                        : std::pair<int, int>(dl::kCUDA, t.device().index);
           })
      .def("numpy", &numpy_of, "A numpy array sharing this tensor's memory (no copy).")
      .def(
          "__array__",
          [](const Tensor& t, nb::handle dtype, std::optional<bool> copy) {
            nb::object a = numpy_of(t.requires_grad() ? t.detach() : t);
            if (copy.value_or(false)) a = a.attr("copy")();
            if (!dtype.is_none()) a = a.attr("astype")(dtype, nb::arg("copy") = copy.value_or(false));
            return a;
          },
          nb::arg("dtype") = nb::none(), nb::kw_only(), nb::arg("copy") = nb::none());
  m.def("from_dlpack", &from_dlpack_obj, nb::arg("ext_tensor"),
        "A tensor sharing the memory of any DLPack producer (or capsule), without a copy.");
  m.def(
      "from_numpy",
      [](nb::handle arr) {
        static nb::handle ndarray = nb::object(nb::module_::import_("numpy").attr("ndarray"))
                                        .release();  // leaked: outlives interpreter teardown
        if (!PyObject_IsInstance(arr.ptr(), ndarray.ptr()))
          throw nb::type_error(
              fmt::format("from_numpy: expected a numpy.ndarray, got {}", nb::inst_name(arr).c_str()).c_str());
        // numpy < 1.25 exports no DLPack bool: the bytes cross as uint8, read back as bool.
        if (arr.attr("dtype").equal(numpy_bool())) {
          static nb::handle uint8 = nb::object(nb::module_::import_("numpy").attr("uint8")).release();
          return reinterpret(from_dlpack_obj(arr.attr("view")(uint8)), DType::Bool);
        }
        return from_dlpack_obj(arr);
      },
      nb::arg("ndarray"), "A tensor sharing a numpy array's memory (no copy); the tensor keeps the array alive.");
}

}  // namespace doppel::py
