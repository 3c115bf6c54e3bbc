// Every eager op as a doppel.<name> function and, where PyTorch has one, a Tensor method. The
// op lists below mirror the X-macro lists of eager/include/doppel/ops/*.h; kernels that can run
// long (matmul, convolutions, pooling, norms, losses) release the GIL.
#include <fmt/format.h>

#include "bind.h"
#include "doppel/kernels/type_promotion.h"

namespace doppel::py {
namespace {

using OptInts = std::optional<Ints>;
IntList dims_or_all(const OptInts& d) { return d ? IntList(d->v) : IntList(); }

// clang-format off
#define DOPPEL_PY_UNARY_OPS(X)                                                                                     \
  X(neg) X(abs) X(exp) X(log) X(log1p) X(sqrt) X(rsqrt) X(sin) X(cos) X(tanh) X(sigmoid) X(relu) X(silu) X(erf)    \
  X(floor) X(ceil) X(round) X(sign) X(reciprocal) X(logical_not) X(trunc) X(fix) X(bitwise_not) X(hardswish)         \
  X(hardsigmoid) X(mish) X(selu) X(logsigmoid) X(relu6)
#define DOPPEL_PY_BINARY_OPS(X)                                                                                    \
  X(add) X(sub) X(mul) X(div) X(pow) X(maximum) X(minimum) X(eq) X(ne) X(lt) X(le) X(gt) X(ge) X(logical_and)      \
  X(logical_or) X(logical_xor) X(bitwise_and) X(bitwise_or) X(bitwise_xor) X(fmod) X(remainder) X(floor_divide)     \
  X(atan2)
#define DOPPEL_PY_REDUCTIONS(X) X(sum) X(mean) X(prod) X(amax) X(amin) X(logsumexp)
// clang-format on

void bind_elementwise(nb::module_& m, nb::class_<Tensor>& cls, Both& both) {
#define X(name) both(#name, [](const Tensor& t) { return doppel::name(t); });
  DOPPEL_PY_UNARY_OPS(X)
#undef X
#define X(name)                                                                                                       \
  m.def(                                                                                                              \
      #name, [](const Tensor& a, const Tensor& b) { return doppel::name(a, b); }, nb::arg("input"), nb::arg("other"), \
      Site());                                                                                                        \
  m.def(                                                                                                              \
      #name, [](const Tensor& a, Scalar b) { return doppel::name(a, b); }, nb::arg("input"), nb::arg("other"),        \
      Site());                                                                                                        \
  m.def(                                                                                                              \
      #name, [](Scalar a, const Tensor& b) { return doppel::name(a, b); }, nb::arg("input"), nb::arg("other"),        \
      Site());                                                                                                        \
  cls.def(                                                                                                            \
      #name, [](const Tensor& a, const Tensor& b) { return doppel::name(a, b); }, nb::arg("other"), Site());          \
  cls.def(                                                                                                            \
      #name, [](const Tensor& a, Scalar b) { return doppel::name(a, b); }, nb::arg("other"), Site());
  DOPPEL_PY_BINARY_OPS(X)
#undef X
  m.attr("arctan2") = m.attr("atan2");
  cls.attr("arctan2") = cls.attr("atan2");
  // add/sub(alpha=) and div(rounding_mode=): keyword-only, as in PyTorch.
#define X(name)                                                                                              \
  m.def(                                                                                                     \
      #name, [](const Tensor& a, const Tensor& b, Scalar alpha) { return doppel::name(a, b, alpha); },       \
      nb::arg("input"), nb::arg("other"), nb::kw_only(), nb::arg("alpha"), Site());                          \
  m.def(                                                                                                     \
      #name, [](const Tensor& a, Scalar b, Scalar alpha) { return doppel::name(a, wrap_scalar(b), alpha); }, \
      nb::arg("input"), nb::arg("other"), nb::kw_only(), nb::arg("alpha"), Site());                          \
  cls.def(                                                                                                   \
      #name, [](const Tensor& a, const Tensor& b, Scalar alpha) { return doppel::name(a, b, alpha); },       \
      nb::arg("other"), nb::kw_only(), nb::arg("alpha"), Site());                                            \
  cls.def(                                                                                                   \
      #name, [](const Tensor& a, Scalar b, Scalar alpha) { return doppel::name(a, wrap_scalar(b), alpha); }, \
      nb::arg("other"), nb::kw_only(), nb::arg("alpha"), Site());
  X(add)
  X(sub)
#undef X
  auto rounded_div = [](const Tensor& a, const Tensor& b, std::optional<std::string_view> mode) {
    return div(a, b, mode ? rounding_mode_from(*mode) : RoundingMode::none);
  };
  auto rounded_div_scalar = [rounded_div](const Tensor& a, Scalar b, std::optional<std::string_view> mode) {
    return rounded_div(a, wrap_scalar(b), mode);
  };
  m.def("div", rounded_div, nb::arg("input"), nb::arg("other"), nb::kw_only(), nb::arg("rounding_mode").none(), Site());
  m.def("div", rounded_div_scalar, nb::arg("input"), nb::arg("other"), nb::kw_only(), nb::arg("rounding_mode").none(),
        Site());
  cls.def("div", rounded_div, nb::arg("other"), nb::kw_only(), nb::arg("rounding_mode").none(), Site());
  cls.def("div", rounded_div_scalar, nb::arg("other"), nb::kw_only(), nb::arg("rounding_mode").none(), Site());
  // Aliases only after the last overload of div: nanobind replaces the function object when an
  // overload is added, and an alias taken earlier would keep the stale one.
  m.attr("divide") = m.attr("div");
  m.attr("true_divide") = m.attr("div");
  cls.attr("divide") = cls.attr("div");
  both(
      "hardtanh", [](const Tensor& t, double lo, double hi) { return hardtanh(t, lo, hi); }, nb::arg("min_val") = -1.0,
      nb::arg("max_val") = 1.0);
  both(
      "gelu",
      [](const Tensor& t, std::string_view approximate) {
        DOPPEL_CHECK(approximate == "none" || approximate == "tanh",
                     "gelu: approximate must be 'none' or 'tanh', "
                     "got '{}'",
                     approximate);
        return gelu(t, approximate == "tanh");
      },
      nb::arg("approximate") = "none");
  both(
      "leaky_relu", [](const Tensor& t, double s) { return leaky_relu(t, s); }, nb::arg("negative_slope") = 0.01);
  both(
      "elu", [](const Tensor& t, double a) { return elu(t, a); }, nb::arg("alpha") = 1.0);
  both(
      "softplus", [](const Tensor& t, double b, double th) { return softplus(t, b, th); }, nb::arg("beta") = 1.0,
      nb::arg("threshold") = 20.0);
  both(
      "clamp", [](const Tensor& t, std::optional<Scalar> lo, std::optional<Scalar> hi) { return clamp(t, lo, hi); },
      nb::arg("min") = nb::none(), nb::arg("max") = nb::none());
  m.attr("clip") = m.attr("clamp");
  m.def(
      "where", [](const Tensor& c, const Tensor& a, const Tensor& b) { return where(c, a, b); }, nb::arg("condition"),
      nb::arg("input"), nb::arg("other"));
  m.def(
      "where", [](const Tensor& c, const Tensor& a, Scalar b) { return where(c, a, b); }, nb::arg("condition"),
      nb::arg("input"), nb::arg("other"));
  m.def(
      "where", [](const Tensor& c, Scalar a, const Tensor& b) { return where(c, a, b); }, nb::arg("condition"),
      nb::arg("input"), nb::arg("other"));
  // In-place forms (methods only, as in PyTorch).
#define X(name)                                                                                     \
  cls.def(                                                                                          \
      #name "_", [](const Tensor& a, const Tensor& b) { return name##_(a, b); }, nb::arg("other")); \
  cls.def(                                                                                          \
      #name "_", [](const Tensor& a, Scalar b) { return name##_(a, b); }, nb::arg("other"));
  X(add)
  X(sub)
  X(mul)
  X(div)
  X(bitwise_and)
  X(bitwise_or)
  X(bitwise_xor)
  X(fmod)
  X(remainder)
  X(floor_divide)
#undef X
  // In-place unary forms (methods only) and the in-place activations for F.*(inplace=True).
#define X(name) cls.def(#name "_", [](const Tensor& t) { return name##_(t); });
  X(trunc)
  X(bitwise_not)
  X(relu6)
  X(hardswish)
  X(hardsigmoid)
  X(mish)
  X(selu)
#undef X
  cls.def("fix_", [](const Tensor& t) { return trunc_(t); });
  cls.def(
      "hardtanh_", [](const Tensor& t, double lo, double hi) { return hardtanh_(t, lo, hi); },
      nb::arg("min_val") = -1.0, nb::arg("max_val") = 1.0);
  cls.def(
         "clamp_",
         [](const Tensor& t, std::optional<Scalar> lo, std::optional<Scalar> hi) { return clamp_(t, lo, hi); },
         nb::arg("min") = nb::none(), nb::arg("max") = nb::none())
      .def("relu_", [](const Tensor& t) { return relu_(t); })
      .def("neg_", [](const Tensor& t) { return neg_(t); })
      .def(
          "copy_", [](const Tensor& t, const Tensor& src) { return copy_(t, src); }, nb::arg("src"))
      .def("zero_", [](const Tensor& t) { return copy_(t, scalar(0, t.dtype())); })
      .def(
          "fill_", [](const Tensor& t, Scalar v) { return copy_(t, scalar(v, t.dtype())); }, nb::arg("value"));
}

void bind_shape_ops(nb::module_& m, nb::class_<Tensor>& cls, Both& both) {
  // Methods take PyTorch's varargs shapes (t.reshape(2, 3)); functions take one sequence.
  m.def(
      "reshape", [](const Tensor& t, Ints s) { return reshape(t, s); }, nb::arg("input"), nb::arg("shape"));
  m.def(
      "view", [](const Tensor& t, Ints s) { return view(t, s); }, nb::arg("input"), nb::arg("shape"));
  m.def(
      "permute", [](const Tensor& t, Ints s) { return permute(t, s); }, nb::arg("input"), nb::arg("dims"));
  m.def(
      "broadcast_to", [](const Tensor& t, Ints s) { return broadcast_to(t, s); }, nb::arg("input"), nb::arg("shape"));
  cls.def(
         "reshape", [](const Tensor& t, nb::args a) { return reshape(t, ints_from_args(a, "reshape")); }, Site())
      .def(
          "view", [](const Tensor& t, nb::args a) { return view(t, ints_from_args(a, "view")); }, Site())
      .def(
          "permute", [](const Tensor& t, nb::args a) { return permute(t, ints_from_args(a, "permute")); }, Site())
      .def(
          "expand", [](const Tensor& t, nb::args a) { return expand(t, ints_from_args(a, "expand")); }, Site())
      .def(
          "broadcast_to", [](const Tensor& t, Ints s) { return broadcast_to(t, s); }, nb::arg("shape"))
      .def(
          "view_as", [](const Tensor& t, const Tensor& o) { return view(t, o.shape()); }, nb::arg("other"))
      .def(
          "reshape_as", [](const Tensor& t, const Tensor& o) { return reshape(t, o.shape()); }, nb::arg("other"))
      .def(
          "expand_as", [](const Tensor& t, const Tensor& o) { return expand(t, o.shape()); }, nb::arg("other"))
      .def("t", [](const Tensor& t) { return t.t(); })
      .def(
          "to",
          [](const Tensor& t, std::optional<DType> dtype, std::optional<Device> device) {
            if (device) return dtype ? t.to(*device, *dtype) : t.to(*device);
            return dtype ? to_dtype(t, *dtype) : t;
          },
          nb::arg("dtype").none() = nb::none(), nb::arg("device").none() = nb::none())
      .def(
          "to", [](const Tensor& t, Device d) { return t.to(d); }, nb::arg("device"))
      .def("float", [](const Tensor& t) { return to_dtype(t, DType::Float32); })
      .def("double", [](const Tensor& t) { return to_dtype(t, DType::Float64); })
      .def("half", [](const Tensor& t) { return to_dtype(t, DType::Float16); })
      .def("bfloat16", [](const Tensor& t) { return to_dtype(t, DType::BFloat16); })
      .def("long", [](const Tensor& t) { return to_dtype(t, DType::Int64); })
      .def("int", [](const Tensor& t) { return to_dtype(t, DType::Int32); })
      .def("bool", [](const Tensor& t) { return to_dtype(t, DType::Bool); })
      .def("cpu", [](const Tensor& t) {
        DOPPEL_CHECK_DEVICE(t.device().is_cpu(), "cpu(): copying from {} is not supported from Python yet",
                            t.device().str());
        return t;
      });
  both(
      "transpose", [](const Tensor& t, int64_t a, int64_t b) { return transpose(t, a, b); }, nb::arg("dim0"),
      nb::arg("dim1"));
  both(
      "narrow", [](const Tensor& t, int64_t d, int64_t s, int64_t l) { return narrow(t, d, s, l); }, nb::arg("dim"),
      nb::arg("start"), nb::arg("length"));
  both(
      "select", [](const Tensor& t, int64_t d, int64_t i) { return select(t, d, i); }, nb::arg("dim"),
      nb::arg("index"));
  both(
      "squeeze", [](const Tensor& t, std::optional<int64_t> d) { return squeeze(t, d); }, nb::arg("dim") = nb::none());
  both(
      "unsqueeze", [](const Tensor& t, int64_t d) { return unsqueeze(t, d); }, nb::arg("dim"));
  both(
      "flatten", [](const Tensor& t, int64_t s, int64_t e) { return flatten(t, s, e); }, nb::arg("start_dim") = 0,
      nb::arg("end_dim") = -1);
  both("contiguous", [](const Tensor& t) { return contiguous(t); });
  both("clone", [](const Tensor& t) { return clone(t); });
  m.def(
      "to_dtype", [](const Tensor& t, DType d) { return to_dtype(t, d); }, nb::arg("input"), nb::arg("dtype"));
  m.def(
      "to_device", [](const Tensor& t, Device d) { return to_device(t, d); }, nb::arg("input"), nb::arg("device"));
  m.def(
      "cat", [](std::vector<Tensor> ts, int64_t d) { return cat(ts, d); }, nb::arg("tensors"), nb::arg("dim") = 0);
  m.def(
      "concat", [](std::vector<Tensor> ts, int64_t d) { return cat(ts, d); }, nb::arg("tensors"), nb::arg("dim") = 0);
  m.def(
      "stack", [](std::vector<Tensor> ts, int64_t d) { return stack(ts, d); }, nb::arg("tensors"), nb::arg("dim") = 0);
  both(
      "split",
      [](const Tensor& t, Ints sizes, int64_t d) {
        return sizes.v.size() == 1 ? split(t, sizes.v[0], d) : split(t, IntList(sizes.v), d);
      },
      nb::arg("split_size_or_sections"), nb::arg("dim") = 0);
  both(
      "split_with_sizes", [](const Tensor& t, Ints sizes, int64_t d) { return split_with_sizes(t, sizes, d); },
      nb::arg("split_sizes"), nb::arg("dim") = 0);
  both(
      "slice",
      [](const Tensor& t, int64_t d, std::optional<int64_t> s, std::optional<int64_t> e, int64_t step) {
        return slice(t, d, s, e, step);
      },
      nb::arg("dim"), nb::arg("start") = nb::none(), nb::arg("end") = nb::none(), nb::arg("step") = 1);
  m.def(
      "expand", [](const Tensor& t, Ints s) { return expand(t, s); }, nb::arg("input"), nb::arg("size"));
  m.def(
      "copy_", [](const Tensor& d, const Tensor& s) { return copy_(d, s); }, nb::arg("dst"), nb::arg("src"));
  both(
      "chunk", [](const Tensor& t, int64_t c, int64_t d) { return chunk(t, c, d); }, nb::arg("chunks"),
      nb::arg("dim") = 0);
  both(
      "diagonal", [](const Tensor& t, int64_t o, int64_t a, int64_t b) { return diagonal(t, o, a, b); },
      nb::arg("offset") = 0, nb::arg("dim1") = 0, nb::arg("dim2") = 1);
  both(
      "diag", [](const Tensor& t, int64_t k) { return diag(t, k); }, nb::arg("diagonal") = 0);
  both.cls.def(
      "unfold", [](const Tensor& t, int64_t d, int64_t n, int64_t s) { return unfold(t, d, n, s); },
      nb::arg("dimension"), nb::arg("size"), nb::arg("step"), Site());
}

void bind_indexing_ops(nb::module_& m, Both& both) {
  m.def(
      "embedding", [](const Tensor& i, const Tensor& w, std::optional<int64_t> p) { return embedding(i, w, p); },
      nb::arg("input"), nb::arg("weight"), nb::arg("padding_idx") = nb::none());
  both(
      "index_select", [](const Tensor& t, int64_t d, const Tensor& i) { return index_select(t, d, i); }, nb::arg("dim"),
      nb::arg("index"));
  both(
      "gather", [](const Tensor& t, int64_t d, const Tensor& i) { return gather(t, d, i); }, nb::arg("dim"),
      nb::arg("index"));
  both(
      "index_add",
      [](const Tensor& t, int64_t d, const Tensor& i, const Tensor& s, Scalar alpha) {
        return index_add(t, d, i, s, alpha);
      },
      nb::arg("dim"), nb::arg("index"), nb::arg("source"), nb::kw_only(), nb::arg("alpha") = Scalar(int64_t(1)));
  both.cls.def(
      "index_add_",
      [](const Tensor& t, int64_t d, const Tensor& i, const Tensor& s, Scalar alpha) {
        return index_add_(t, d, i, s, alpha);
      },
      nb::arg("dim"), nb::arg("index"), nb::arg("source"), nb::kw_only(), nb::arg("alpha") = Scalar(int64_t(1)));
  both(
      "scatter_add",
      [](const Tensor& t, int64_t d, const Tensor& i, const Tensor& s) { return scatter_add(t, d, i, s); },
      nb::arg("dim"), nb::arg("index"), nb::arg("src"));
  both.cls.def(
      "scatter_add_",
      [](const Tensor& t, int64_t d, const Tensor& i, const Tensor& s) { return scatter_add_(t, d, i, s); },
      nb::arg("dim"), nb::arg("index"), nb::arg("src"));
  both(
      "masked_fill", [](const Tensor& t, const Tensor& mask, Scalar v) { return masked_fill(t, mask, v); },
      nb::arg("mask"), nb::arg("value"));
  m.def(
      "one_hot", [](const Tensor& t, int64_t n) { return one_hot(t, n); }, nb::arg("input"),
      nb::arg("num_classes") = -1);
  // scatter(dim, index, src) or scatter(dim, index, value=...); reduce= is not supported.
  both(
      "scatter", [](const Tensor& t, int64_t d, const Tensor& i, const Tensor& s) { return scatter(t, d, i, s); },
      nb::arg("dim"), nb::arg("index"), nb::arg("src"));
  both(
      "scatter", [](const Tensor& t, int64_t d, const Tensor& i, Scalar v) { return scatter(t, d, i, v); },
      nb::arg("dim"), nb::arg("index"), nb::arg("value"));
  both.cls.def(
      "scatter_", [](const Tensor& t, int64_t d, const Tensor& i, const Tensor& s) { return scatter_(t, d, i, s); },
      nb::arg("dim"), nb::arg("index"), nb::arg("src"), Site());
  both.cls.def(
      "scatter_", [](const Tensor& t, int64_t d, const Tensor& i, Scalar v) { return scatter_(t, d, i, v); },
      nb::arg("dim"), nb::arg("index"), nb::arg("value"), Site());
  both(
      "flip", [](const Tensor& t, Ints d) { return flip(t, d); }, nb::arg("dims"));
  both("fliplr", [](const Tensor& t) { return fliplr(t); });
  both("flipud", [](const Tensor& t) { return flipud(t); });
  both(
      "roll", [](const Tensor& t, Ints s, OptInts d) { return roll(t, s, dims_or_all(d)); }, nb::arg("shifts"),
      nb::arg("dims") = nb::none());
}

void bind_linalg_nn(nb::module_& m, Both& both) {
  both(
      "matmul", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }, nb::arg("other"), Release());
  both(
      "mm", [](const Tensor& a, const Tensor& b) { return mm(a, b); }, nb::arg("mat2"), Release());
  both(
      "bmm", [](const Tensor& a, const Tensor& b) { return bmm(a, b); }, nb::arg("mat2"), Release());
  // torch.trace(matrix); doppel.trace (graph.py) sends a Tensor here and a function to capture.
  m.def(
      "trace", [](const Tensor& t) { return doppel::trace(t); }, nb::arg("input"));
  m.def(
      "linear",
      [](const Tensor& x, const Tensor& w, std::optional<Tensor> b) { return linear(x, w, b.value_or(Tensor{})); },
      nb::arg("input"), nb::arg("weight"), nb::arg("bias") = nb::none(), Release());
  m.def(
      "conv1d",
      [](const Tensor& x, const Tensor& w, std::optional<Tensor> b, int64_t s, int64_t p, int64_t d, int64_t g) {
        return conv1d(x, w, b.value_or(Tensor{}), s, p, d, g);
      },
      nb::arg("input"), nb::arg("weight"), nb::arg("bias") = nb::none(), nb::arg("stride") = 1, nb::arg("padding") = 0,
      nb::arg("dilation") = 1, nb::arg("groups") = 1, Release());
  auto pair = [](const Ints& v) { return v.v.size() == 1 ? std::vector<int64_t>{v.v[0], v.v[0]} : v.v; };
  m.def(
      "conv2d",
      [pair](const Tensor& x, const Tensor& w, std::optional<Tensor> b, Ints s, Ints p, Ints d, int64_t g) {
        return conv2d(x, w, b.value_or(Tensor{}), pair(s), pair(p), pair(d), g);
      },
      nb::arg("input"), nb::arg("weight"), nb::arg("bias") = nb::none(), nb::arg("stride") = Ints{{1}},
      nb::arg("padding") = Ints{{0}}, nb::arg("dilation") = Ints{{1}}, nb::arg("groups") = 1, Release());
  m.def(
      "conv_transpose2d",
      [pair](const Tensor& x, const Tensor& w, std::optional<Tensor> b, Ints s, Ints p, Ints op, int64_t g, Ints d) {
        return conv_transpose2d(x, w, b.value_or(Tensor{}), pair(s), pair(p), pair(op), g, pair(d));
      },
      nb::arg("input"), nb::arg("weight"), nb::arg("bias") = nb::none(), nb::arg("stride") = Ints{{1}},
      nb::arg("padding") = Ints{{0}}, nb::arg("output_padding") = Ints{{0}}, nb::arg("groups") = 1,
      nb::arg("dilation") = Ints{{1}}, Release());
  m.def(
      "convolution",
      [](const Tensor& x, const Tensor& w, std::optional<Tensor> b, Ints s, Ints p, Ints d, bool tr, Ints op,
         int64_t g) { return convolution(x, w, b.value_or(Tensor{}), s, p, d, tr, op, g); },
      nb::arg("input"), nb::arg("weight"), nb::arg("bias").none(), nb::arg("stride"), nb::arg("padding"),
      nb::arg("dilation"), nb::arg("transposed"), nb::arg("output_padding"), nb::arg("groups"), Release());
  m.def(
      "max_pool2d",
      [pair](const Tensor& x, Ints k, OptInts s, Ints p, Ints d, bool ceil) {
        return max_pool2d(x, pair(k), s ? pair(*s) : std::vector<int64_t>{}, pair(p), pair(d), ceil);
      },
      nb::arg("input"), nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = Ints{{0}},
      nb::arg("dilation") = Ints{{1}}, nb::arg("ceil_mode") = false, Release());
  m.def(
      "avg_pool2d",
      [pair](const Tensor& x, Ints k, OptInts s, Ints p, bool ceil, bool cip, std::optional<int64_t> dv) {
        return avg_pool2d(x, pair(k), s ? pair(*s) : std::vector<int64_t>{}, pair(p), ceil, cip, dv);
      },
      nb::arg("input"), nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = Ints{{0}},
      nb::arg("ceil_mode") = false, nb::arg("count_include_pad") = true, nb::arg("divisor_override") = nb::none(),
      Release());
  m.def(
      "adaptive_avg_pool2d", [pair](const Tensor& x, Ints o) { return adaptive_avg_pool2d(x, pair(o)); },
      nb::arg("input"), nb::arg("output_size"), Release());
  m.def(
      "max_pool2d_with_indices",
      [pair](const Tensor& x, Ints k, OptInts s, Ints p, Ints d, bool ceil) {
        return max_pool2d_with_indices(x, pair(k), s ? pair(*s) : std::vector<int64_t>{}, pair(p), pair(d), ceil);
      },
      nb::arg("input"), nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = Ints{{0}},
      nb::arg("dilation") = Ints{{1}}, nb::arg("ceil_mode") = false, Release());
  m.def(
      "adaptive_max_pool2d", [pair](const Tensor& x, Ints o) { return adaptive_max_pool2d(x, pair(o)); },
      nb::arg("input"), nb::arg("output_size"), Release());
  m.def(
      "adaptive_max_pool2d_with_indices",
      [pair](const Tensor& x, Ints o) { return adaptive_max_pool2d_with_indices(x, pair(o)); }, nb::arg("input"),
      nb::arg("output_size"), Release());
  m.def(
      "max_pool1d",
      [](const Tensor& x, int64_t k, std::optional<int64_t> s, int64_t p, int64_t d, bool ceil) {
        return max_pool1d(x, k, s, p, d, ceil);
      },
      nb::arg("input"), nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = 0,
      nb::arg("dilation") = 1, nb::arg("ceil_mode") = false, Release());
  m.def(
      "max_pool1d_with_indices",
      [](const Tensor& x, int64_t k, std::optional<int64_t> s, int64_t p, int64_t d, bool ceil) {
        return max_pool1d_with_indices(x, k, s, p, d, ceil);
      },
      nb::arg("input"), nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = 0,
      nb::arg("dilation") = 1, nb::arg("ceil_mode") = false, Release());
  m.def(
      "avg_pool1d",
      [](const Tensor& x, int64_t k, std::optional<int64_t> s, int64_t p, bool ceil, bool cip) {
        return avg_pool1d(x, k, s, p, ceil, cip);
      },
      nb::arg("input"), nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = 0,
      nb::arg("ceil_mode") = false, nb::arg("count_include_pad") = true, Release());
  auto opt = [](const std::optional<Tensor>& t) { return t.value_or(Tensor{}); };
  m.def(
      "batch_norm",
      [opt](const Tensor& x, std::optional<Tensor> rm, std::optional<Tensor> rv, std::optional<Tensor> w,
            std::optional<Tensor> b, bool training, double momentum,
            double eps) { return batch_norm(x, opt(rm), opt(rv), opt(w), opt(b), training, momentum, eps); },
      nb::arg("input"), nb::arg("running_mean").none(), nb::arg("running_var").none(), nb::arg("weight") = nb::none(),
      nb::arg("bias") = nb::none(), nb::arg("training") = false, nb::arg("momentum") = 0.1, nb::arg("eps") = 1e-5,
      Release());
  m.def(
      "layer_norm",
      [opt](const Tensor& x, Ints shape, std::optional<Tensor> w, std::optional<Tensor> b, double eps) {
        return layer_norm(x, shape, opt(w), opt(b), eps);
      },
      nb::arg("input"), nb::arg("normalized_shape"), nb::arg("weight") = nb::none(), nb::arg("bias") = nb::none(),
      nb::arg("eps") = 1e-5, Release());
  m.def(
      "group_norm",
      [opt](const Tensor& x, int64_t g, std::optional<Tensor> w, std::optional<Tensor> b, double eps) {
        return group_norm(x, g, opt(w), opt(b), eps);
      },
      nb::arg("input"), nb::arg("num_groups"), nb::arg("weight") = nb::none(), nb::arg("bias") = nb::none(),
      nb::arg("eps") = 1e-5, Release());
  m.def(
      "dropout", [](const Tensor& x, double p, bool training) { return dropout(x, p, training); }, nb::arg("input"),
      nb::arg("p") = 0.5, nb::arg("training") = true);
  both(
      "softmax", [](const Tensor& t, int64_t d) { return softmax(t, d); }, nb::arg("dim"));
  both(
      "log_softmax", [](const Tensor& t, int64_t d) { return log_softmax(t, d); }, nb::arg("dim"));
}

void bind_losses(nb::module_& m) {
  auto opt = [](const std::optional<Tensor>& t) { return t.value_or(Tensor{}); };
  m.def(
      "cross_entropy",
      [opt](const Tensor& x, const Tensor& y, std::optional<Tensor> w, int64_t ii, std::string_view r, double ls) {
        return cross_entropy(x, y, reduction_from(r), ii, ls, opt(w));
      },
      nb::arg("input"), nb::arg("target"), nb::arg("weight") = nb::none(), nb::arg("ignore_index") = -100,
      nb::arg("reduction") = "mean", nb::arg("label_smoothing") = 0.0, Release());
  m.def(
      "nll_loss",
      [opt](const Tensor& x, const Tensor& y, std::optional<Tensor> w, int64_t ii, std::string_view r) {
        return nll_loss(x, y, reduction_from(r), ii, opt(w));
      },
      nb::arg("input"), nb::arg("target"), nb::arg("weight") = nb::none(), nb::arg("ignore_index") = -100,
      nb::arg("reduction") = "mean", Release());
  m.def(
      "mse_loss",
      [](const Tensor& x, const Tensor& y, std::string_view r) { return mse_loss(x, y, reduction_from(r)); },
      nb::arg("input"), nb::arg("target"), nb::arg("reduction") = "mean", Release());
  m.def(
      "l1_loss", [](const Tensor& x, const Tensor& y, std::string_view r) { return l1_loss(x, y, reduction_from(r)); },
      nb::arg("input"), nb::arg("target"), nb::arg("reduction") = "mean", Release());
  m.def(
      "smooth_l1_loss",
      [](const Tensor& x, const Tensor& y, std::string_view r, double beta) {
        return smooth_l1_loss(x, y, reduction_from(r), beta);
      },
      nb::arg("input"), nb::arg("target"), nb::arg("reduction") = "mean", nb::arg("beta") = 1.0, Release());
  m.def(
      "huber_loss",
      [](const Tensor& x, const Tensor& y, std::string_view r, double delta) {
        return huber_loss(x, y, reduction_from(r), delta);
      },
      nb::arg("input"), nb::arg("target"), nb::arg("reduction") = "mean", nb::arg("delta") = 1.0, Release());
  m.def(
      "binary_cross_entropy_with_logits",
      [opt](const Tensor& x, const Tensor& y, std::optional<Tensor> w, std::string_view r, std::optional<Tensor> pw) {
        return binary_cross_entropy_with_logits(x, y, opt(pw), reduction_from(r), opt(w));
      },
      nb::arg("input"), nb::arg("target"), nb::arg("weight") = nb::none(), nb::arg("reduction") = "mean",
      nb::arg("pos_weight") = nb::none(), Release());
  m.def(
      "binary_cross_entropy",
      [opt](const Tensor& x, const Tensor& y, std::optional<Tensor> w, std::string_view r) {
        return binary_cross_entropy(x, y, opt(w), reduction_from(r));
      },
      nb::arg("input"), nb::arg("target"), nb::arg("weight") = nb::none(), nb::arg("reduction") = "mean", Release());
  m.def(
      "kl_div",
      [](const Tensor& x, const Tensor& y, std::string_view r, bool log_target) {
        return kl_div(x, y, reduction_from(r), log_target);
      },
      nb::arg("input"), nb::arg("target"), nb::arg("reduction") = "mean", nb::arg("log_target") = false, Release());
}

void bind_reductions(Both& both) {
#define X(name)                                                                                                 \
  both(                                                                                                         \
      #name, [](const Tensor& t, OptInts d, bool keepdim) { return doppel::name(t, dims_or_all(d), keepdim); }, \
      nb::arg("dim") = nb::none(), nb::arg("keepdim") = false);
  DOPPEL_PY_REDUCTIONS(X)
#undef X
  // max/min: without dim the value; with dim PyTorch's named tuple (values, indices), of type
  // doppel.return_types.max / .min (as torch.return_types.max).
  nb::module_ types = both.m.def_submodule("return_types", "The named tuples some ops return, as torch.return_types.");
  nb::object namedtuple = nb::module_::import_("collections").attr("namedtuple");
  for (const char* name : {"max", "min"})
    types.attr(name) = namedtuple(name, nb::make_tuple("values", "indices"), nb::arg("module") = "doppel.return_types");
  static nb::handle max_type = nb::object(types.attr("max")).release();  // leaked: outlives interpreter teardown
  static nb::handle min_type = nb::object(types.attr("min")).release();
  both(
      "max",
      [](const Tensor& t, std::optional<int64_t> d, bool keepdim) -> nb::object {
        if (!d) return nb::cast(doppel::max(t));
        auto [values, indices] = doppel::max(t, *d, keepdim);
        return max_type(values, indices);
      },
      nb::arg("dim") = nb::none(), nb::arg("keepdim") = false);
  both(
      "min",
      [](const Tensor& t, std::optional<int64_t> d, bool keepdim) -> nb::object {
        if (!d) return nb::cast(doppel::min(t));
        auto [values, indices] = doppel::min(t, *d, keepdim);
        return min_type(values, indices);
      },
      nb::arg("dim") = nb::none(), nb::arg("keepdim") = false);
  both(
      "argmax", [](const Tensor& t, std::optional<int64_t> d, bool k) { return argmax(t, d, k); },
      nb::arg("dim") = nb::none(), nb::arg("keepdim") = false);
  both(
      "argmin", [](const Tensor& t, std::optional<int64_t> d, bool k) { return argmin(t, d, k); },
      nb::arg("dim") = nb::none(), nb::arg("keepdim") = false);
  both(
      "numel_tensor", [](const Tensor& t, OptInts d, DType dt) { return numel_tensor(t, dims_or_all(d), dt); },
      nb::arg("dim") = nb::none(), nb::arg("dtype") = DType::Float64);
  both(
      "cumsum", [](const Tensor& t, int64_t d, std::optional<DType> dt) { return cumsum(t, d, dt); }, nb::arg("dim"),
      nb::arg("dtype") = nb::none());
  both(
      "cumprod", [](const Tensor& t, int64_t d, std::optional<DType> dt) { return cumprod(t, d, dt); }, nb::arg("dim"),
      nb::arg("dtype") = nb::none());
  both(
      "var", [](const Tensor& t, OptInts d, int64_t c, bool k) { return var(t, dims_or_all(d), c, k); },
      nb::arg("dim") = nb::none(), nb::arg("correction") = 1, nb::arg("keepdim") = false);
  both(
      "std", [](const Tensor& t, OptInts d, int64_t c, bool k) { return doppel::std(t, dims_or_all(d), c, k); },
      nb::arg("dim") = nb::none(), nb::arg("correction") = 1, nb::arg("keepdim") = false);
}

}  // namespace

void bind_ops(nb::module_& m, nb::class_<Tensor>& cls) {
  Both both{m, cls};
  bind_elementwise(m, cls, both);
  bind_shape_ops(m, cls, both);
  bind_indexing_ops(m, both);
  bind_linalg_nn(m, both);
  bind_losses(m);
  bind_reductions(both);
  bind_composite_ops(m, cls, both);
  bind_sorting_ops(m, cls, both);
}

}  // namespace doppel::py
