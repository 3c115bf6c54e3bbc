// doppel.dtype (doppel.float32, ...) and doppel.device, spelled as in PyTorch.
#include <fmt/format.h>

#include "bind.h"

namespace doppel::py {

void bind_dtype_device(nb::module_& m) {
  auto dt = nb::enum_<DType>(m, "dtype", "A tensor element type, e.g. doppel.float32.");
  // Python names first, as PyTorch spells them (doppel.float32 ...).
  for (DType d : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8, DType::UInt8,
                  DType::Int32, DType::Int64, DType::Bool}) {
    std::string name(dtype_name(d));
    dt.value(name.c_str(), d);
    m.attr(name.c_str()) = dt.attr(name.c_str());
  }
  dt.def("__repr__", [](DType d) { return fmt::format("doppel.{}", dtype_name(d)); })
      .def("__str__", [](DType d) { return fmt::format("doppel.{}", dtype_name(d)); })
      .def_prop_ro("itemsize", [](DType d) { return element_size(d); })
      .def_prop_ro("is_floating_point", [](DType d) { return is_floating(d); });
  m.attr("float") = m.attr("float32");
  m.attr("double") = m.attr("float64");
  m.attr("half") = m.attr("float16");
  m.attr("long") = m.attr("int64");
  m.attr("int") = m.attr("int32");
  m.def("promote_types", &promote_types, nb::arg("type1"), nb::arg("type2"));

  nb::class_<Device>(m, "device", "Where a tensor lives: doppel.device('cpu') or 'cuda:0'.")
      .def(nb::init_implicit<std::string_view>(), nb::arg("spec"))
      .def(
          "__init__", [](Device* d, std::string_view type, int index) { new (d) Device(Device(type).type, index); },
          nb::arg("type"), nb::arg("index"))
      .def_prop_ro("type", [](const Device& d) { return d.is_cpu() ? "cpu" : "cuda"; })
      .def_prop_ro("index", [](const Device& d) { return d.index; })
      .def("__str__", &Device::str)
      .def("__repr__",
           [](const Device& d) {
             return d.is_cpu() ? std::string("device(type='cpu')")
                               : fmt::format("device(type='cuda', index={})", d.index);
           })
      .def(
          "__eq__", [](const Device& a, const Device& b) { return a == b; }, nb::is_operator())
      .def("__hash__", [](const Device& d) { return int(d.type) * 1000 + d.index; });
  m.def("cuda_is_available", [] { return cuda_device_count() > 0; });
}

}  // namespace doppel::py
