// Factories with PyTorch's signatures: doppel.zeros(2, 3, dtype=..., requires_grad=...),
// arange/linspace/eye, random tensors, seeds, threads and the Winograd switch.
#include "bind.h"
#include "doppel/kernels/winograd.h"

namespace doppel::py {
namespace {

TensorOptions options(std::optional<DType> dtype, std::optional<Device> device) {
  return {.dtype = dtype.value_or(DType::Float32), .device = device.value_or(kCPU)};
}

Tensor finish(Tensor t, bool requires_grad) {
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

#define DOPPEL_PY_FACTORY_ARGS \
  nb::arg("size"), nb::arg("dtype") = nb::none(), nb::arg("device") = nb::none(), nb::arg("requires_grad") = false

}  // namespace

void bind_creation(nb::module_& m) {
#define X(name)                                                                         \
  m.def(                                                                                \
      #name,                                                                            \
      [](nb::args size, std::optional<DType> dt, std::optional<Device> dev, bool rg) {  \
        return finish(doppel::name(ints_from_args(size, #name), options(dt, dev)), rg); \
      },                                                                                \
      DOPPEL_PY_FACTORY_ARGS);
  X(zeros)
  X(ones)
  X(empty)
  X(rand)
  X(randn)
#undef X
  m.def(
      "full",
      [](Ints size, Scalar v, std::optional<DType> dt, std::optional<Device> dev, bool rg) {
        return finish(full(size, v, {.dtype = dt.value_or(v.default_dtype()), .device = dev.value_or(kCPU)}), rg);
      },
      nb::arg("size"), nb::arg("fill_value"), nb::arg("dtype") = nb::none(), nb::arg("device") = nb::none(),
      nb::arg("requires_grad") = false);
#define X(name)                                                                 \
  m.def(                                                                        \
      #name,                                                                    \
      [](const Tensor& t, std::optional<DType> dt, bool rg) {                   \
        Tensor out = doppel::name(t);                                           \
        return finish(dt && *dt != out.dtype() ? to_dtype(out, *dt) : out, rg); \
      },                                                                        \
      nb::arg("input"), nb::arg("dtype") = nb::none(), nb::arg("requires_grad") = false);
  X(zeros_like)
  X(ones_like)
  X(empty_like)
#undef X
  m.def(
      "full_like", [](const Tensor& t, Scalar v) { return full_like(t, v); }, nb::arg("input"), nb::arg("fill_value"));
  m.def(
      "arange",
      [](Scalar start, std::optional<Scalar> end, Scalar step, std::optional<DType> dt, std::optional<Device> dev,
         bool rg) {
        std::optional<TensorOptions> o;
        if (dt || dev) o = options(dt, dev);
        Tensor t = end ? arange(start, *end, step, o) : arange(Scalar(int64_t(0)), start, step, o);
        return finish(t, rg);
      },
      nb::arg("start"), nb::arg("end") = nb::none(), nb::arg("step") = 1, nb::arg("dtype") = nb::none(),
      nb::arg("device") = nb::none(), nb::arg("requires_grad") = false);
  m.def(
      "linspace",
      [](double s, double e, int64_t n, std::optional<DType> dt, std::optional<Device> dev, bool rg) {
        return finish(linspace(s, e, n, options(dt, dev)), rg);
      },
      nb::arg("start"), nb::arg("end"), nb::arg("steps"), nb::arg("dtype") = nb::none(), nb::arg("device") = nb::none(),
      nb::arg("requires_grad") = false);
  m.def(
      "eye",
      [](int64_t n, std::optional<int64_t> cols, std::optional<DType> dt, std::optional<Device> dev, bool rg) {
        return finish(eye(n, cols, options(dt, dev)), rg);
      },
      nb::arg("n"), nb::arg("m") = nb::none(), nb::arg("dtype") = nb::none(), nb::arg("device") = nb::none(),
      nb::arg("requires_grad") = false);
  m.def(
      "randint",
      [](int64_t low, int64_t high, Ints size, std::optional<DType> dt, std::optional<Device> dev) {
        return randint(low, high, size, {.dtype = dt.value_or(DType::Int64), .device = dev.value_or(kCPU)});
      },
      nb::arg("low"), nb::arg("high"), nb::arg("size"), nb::arg("dtype") = nb::none(), nb::arg("device") = nb::none());
  m.def(
      "uniform",
      [](Ints size, double lo, double hi, std::optional<DType> dt, std::optional<Device> dev, bool rg) {
        return finish(uniform(size, lo, hi, options(dt, dev)), rg);
      },
      nb::arg("size"), nb::arg("low") = 0.0, nb::arg("high") = 1.0, nb::arg("dtype") = nb::none(),
      nb::arg("device") = nb::none(), nb::arg("requires_grad") = false);
  m.def(
      "normal",
      [](Ints size, double mean, double std, std::optional<DType> dt, std::optional<Device> dev, bool rg) {
        return finish(normal(size, mean, std, options(dt, dev)), rg);
      },
      nb::arg("size"), nb::arg("mean") = 0.0, nb::arg("std") = 1.0, nb::arg("dtype") = nb::none(),
      nb::arg("device") = nb::none(), nb::arg("requires_grad") = false);
  m.def(
      "scalar_tensor", [](Scalar v, std::optional<DType> dt) { return scalar(v, dt); }, nb::arg("value"),
      nb::arg("dtype") = nb::none());
  m.def(
      "manual_seed", [](uint64_t s) { manual_seed(s); }, nb::arg("seed"));
  // The default generator's (seed, offset) pair; set_rng_state continues from a saved pair.
  m.def("get_rng_state", [] {
    const Generator& g = default_generator();
    return std::make_pair(g.seed(), g.offset());
  });
  m.def(
      "set_rng_state", [](std::pair<uint64_t, uint64_t> s) { default_generator().set_state(s.first, s.second); },
      nb::arg("state"));
  m.def("set_num_threads", &set_num_threads, nb::arg("n"));
  m.def("get_num_threads", &get_num_threads);
  m.def("set_winograd_convolutions", &set_winograd_convolutions, nb::arg("enabled"),
        "Whether compiled graphs (inference and training) may run 3x3 stride-1 float32 forward convolutions as "
        "Winograd F(mxm, 3x3) on CPUs where it is faster (AVX2): rounding up to ~1e-5 of the output's magnitude "
        "instead of ~1e-7. On by default (DOPPEL_WINOGRAD=0 turns it off at start); eager never uses it.");
  m.def("winograd_convolutions", &winograd_convolutions);
}

}  // namespace doppel::py
