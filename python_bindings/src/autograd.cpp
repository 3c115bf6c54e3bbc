// Autograd from Python: Tensor.backward, doppel.autograd.grad, grad mode (no_grad/enable_grad
// derive from _NoGradBlock/_EnableGradBlock, set_grad_enabled uses _GradModeScope) and anomaly mode. backward releases
// the GIL: the gradient rules are doppel ops and touch no Python state (hooks re-acquire it).
#include <nanobind/stl/function.h>

#include "bind.h"

namespace doppel::py {
namespace {

std::vector<Tensor> tensors_of(nb::handle h, const char* what) {
  if (nb::isinstance<Tensor>(h)) return {nb::cast<Tensor>(h)};
  std::vector<Tensor> out;
  if (!nb::try_cast(h, out))
    throw nb::type_error((std::string(what) + ": expected a Tensor or a sequence of Tensors").c_str());
  return out;
}

std::vector<Tensor> optional_tensors(nb::handle h, const char* what) {
  if (h.is_none()) return {};
  if (nb::isinstance<Tensor>(h)) return {nb::cast<Tensor>(h)};
  std::vector<Tensor> out;
  for (nb::handle x : nb::iter(h)) {
    if (x.is_none())
      out.emplace_back();
    else if (nb::isinstance<Tensor>(x))
      out.push_back(nb::cast<Tensor>(x));
    else
      throw nb::type_error((std::string(what) + ": expected Tensors or None").c_str());
  }
  return out;
}

// A Python hook owned by C++: the function object is released under the GIL, whichever thread
// drops the last autograd node.
struct PyHook {
  nb::object fn;
  ~PyHook() {
    nb::gil_scoped_acquire g;
    fn.reset();
  }
};

struct GradModeScope {
  bool enabled;
  std::optional<NoGradGuard> off;
  std::optional<EnableGradGuard> on;
  explicit GradModeScope(bool e) : enabled(e) {}
  void enter() {
    if (enabled)
      on.emplace();
    else
      off.emplace();
  }
  void exit() {
    on.reset();
    off.reset();
  }
};

// The with-block of no_grad / enable_grad (their Python classes derive from it and add the
// decorator): __enter__ sets grad mode, __exit__ restores what it found; one object may be entered
// again inside its own block. Methods in C++: the Python-level ones (a _GradModeScope made, entered
// and kept per block) cost ~0.5 µs around each call of a compiled function.
template <class Guard>
struct GradModeBlock {
  GradModeBlock() = default;
  GradModeBlock(const GradModeBlock&) = delete;
  GradModeBlock& operator=(const GradModeBlock&) = delete;
  std::vector<std::unique_ptr<Guard>> entered;  // innermost last
};

template <class Guard>
void bind_grad_mode_block(nb::module_& ag, const char* name) {
  using Block = GradModeBlock<Guard>;
  nb::class_<Block>(ag, name)
      .def(nb::init<>())
      .def("__enter__", [](Block& b) { b.entered.push_back(std::make_unique<Guard>()); })
      .def(
          "__exit__",
          [](Block& b, nb::handle, nb::handle, nb::handle) {
            if (!b.entered.empty()) b.entered.pop_back();
          },
          nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("traceback").none());
}

}  // namespace

void bind_autograd(nb::module_& m, nb::class_<Tensor>& cls) {
  nb::module_ ag = m.def_submodule("autograd", "Reverse-mode automatic differentiation.");
  // Grad mode is thread-local: a scope object enters/exits around the with-block that owns it.
  nb::class_<GradModeScope>(ag, "_GradModeScope")
      .def(nb::init<bool>(), nb::arg("enabled"))
      .def("__enter__", &GradModeScope::enter)
      .def("__exit__", [](GradModeScope& s, nb::args) { s.exit(); });
  bind_grad_mode_block<NoGradGuard>(ag, "_NoGradBlock");
  bind_grad_mode_block<EnableGradGuard>(ag, "_EnableGradBlock");
  ag.def("is_grad_enabled", &grad_mode_enabled);
  ag.def("set_anomaly_mode", &set_anomaly_mode, nb::arg("enabled"));
  ag.def("is_anomaly_enabled", &anomaly_mode_enabled);
  ag.def(
      "backward",
      [](nb::handle tensors, nb::handle grad_tensors, bool retain_graph, bool create_graph) {
        auto outs = tensors_of(tensors, "backward");
        auto grads = optional_tensors(grad_tensors, "backward");
        nb::gil_scoped_release r;
        backward(outs, grads, retain_graph, create_graph);
      },
      nb::arg("tensors"), nb::arg("grad_tensors") = nb::none(), nb::arg("retain_graph") = false,
      nb::arg("create_graph") = false);
  ag.def(
      "grad",
      [](nb::handle outputs, nb::handle inputs, nb::handle grad_outputs, std::optional<bool> retain_graph,
         bool create_graph, bool allow_unused) {
        auto outs = tensors_of(outputs, "grad");
        auto ins = tensors_of(inputs, "grad");
        auto gos = optional_tensors(grad_outputs, "grad");
        std::vector<Tensor> gs;
        {
          nb::gil_scoped_release r;
          gs = grad(outs, ins, gos, retain_graph, create_graph, allow_unused);
        }
        nb::tuple result = nb::steal<nb::tuple>(PyTuple_New(Py_ssize_t(gs.size())));
        for (size_t i = 0; i < gs.size(); ++i)
          PyTuple_SET_ITEM(result.ptr(), Py_ssize_t(i),
                           gs[i].defined() ? nb::cast(gs[i]).release().ptr() : nb::none().release().ptr());
        return result;
      },
      nb::arg("outputs"), nb::arg("inputs"), nb::arg("grad_outputs") = nb::none(), nb::arg("retain_graph") = nb::none(),
      nb::arg("create_graph") = false, nb::arg("allow_unused") = false);

  cls.def(
         "backward",
         [](const Tensor& t, std::optional<Tensor> gradient, bool retain_graph, bool create_graph) {
           nb::gil_scoped_release r;
           t.backward(gradient.value_or(Tensor{}), retain_graph, create_graph);
         },
         nb::arg("gradient") = nb::none(), nb::arg("retain_graph") = false, nb::arg("create_graph") = false)
      .def(
          "register_hook",
          [](const Tensor& t, nb::object fn) {
            auto hook = std::make_shared<PyHook>(PyHook{std::move(fn)});
            return t.register_hook([hook](const Tensor& g) -> Tensor {
              nb::gil_scoped_acquire acquire;
              nb::object r = hook->fn(g);
              return r.is_none() ? g : nb::cast<Tensor>(r);
            });
          },
          nb::arg("hook"), "Calls hook(grad) when the gradient is computed; a returned Tensor replaces it.")
      .def("remove_hook", &Tensor::remove_hook, nb::arg("handle"));
}

}  // namespace doppel::py
