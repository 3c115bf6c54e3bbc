// doppel._C.Autocast: a scope of doppel::AutocastGuard (eager/include/doppel/autocast.h) that
// Python's `with doppel.autocast(...)` opens in __enter__ and closes in __exit__ on the same thread.
#include <optional>

#include "bind.h"
#include "doppel/autocast.h"

namespace doppel::py {
namespace {

class Autocast {
 public:
  Autocast(DeviceType device, DType dtype, bool enabled) : device_(device), dtype_(dtype), enabled_(enabled) {}
  void enter() {
    DOPPEL_CHECK(!guard_, "autocast: this autocast object is already entered; make a new one to nest");
    guard_.emplace(device_, dtype_, enabled_);
  }
  void exit() { guard_.reset(); }

 private:
  DeviceType device_;
  DType dtype_;
  bool enabled_;
  std::optional<AutocastGuard> guard_;
};

}  // namespace

void bind_autocast(nb::module_& m) {
  nb::class_<Autocast>(m, "Autocast")
      .def(
          "__init__",
          [](Autocast* self, std::string_view device_type, std::optional<DType> dtype, bool enabled) {
            const DeviceType d = Device(device_type).type;
            new (self) Autocast(d, dtype ? *dtype : default_autocast_dtype(d), enabled);
          },
          nb::arg("device_type"), nb::arg("dtype") = nb::none(), nb::arg("enabled") = true)
      .def("_enter", &Autocast::enter)
      .def("_exit", &Autocast::exit);
  m.def(
      "is_autocast_enabled", [](std::string_view device_type) { return autocast_enabled(Device(device_type).type); },
      nb::arg("device_type") = "cpu");
}

}  // namespace doppel::py
