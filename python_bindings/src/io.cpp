// safetensors from Python: doppel.save/doppel.load (python_bindings/doppel/serialization.py)
// call these with a state dict's items; file IO and (de)serialization run without the GIL.
#include <nanobind/stl/map.h>

#include "bind.h"
#include "doppel/io/safetensors.h"

namespace doppel::py {

void bind_io(nb::module_& m) {
  m.def(
      "_save_safetensors",
      [](StateDict tensors, const std::string& path, io::Metadata metadata) {
        nb::gil_scoped_release r;
        io::save_safetensors(path, tensors, metadata);
      },
      nb::arg("tensors"), nb::arg("path"), nb::arg("metadata") = io::Metadata{});
  m.def(
      "_load_safetensors",
      [](const std::string& path) {
        io::SafetensorsFile f;
        {
          nb::gil_scoped_release r;
          f = io::load_safetensors(path);
        }
        return std::make_pair(std::move(f.tensors), std::move(f.metadata));
      },
      nb::arg("path"));
}

}  // namespace doppel::py
