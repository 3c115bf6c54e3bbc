// The composite ops as doppel.<name> functions and Tensor methods (einsum, dot/outer, lerp,
// addcmul/addcdiv, unbind, tril/triu, movedim, unflatten, repeat, hstack/vstack, mT/mH/H, where
// as a method), and PyTorch's keyword forms and overloads of existing ops: sum/mean/prod and
// softmax/log_softmax with dtype=, var/std with unbiased=, max/min of two tensors, clamp with
// tensor bounds, masked_fill with a 0-d tensor value. Each is registered after the plain form,
// so the plain call keeps its fast path and these are tried only when it does not match.
#include <fmt/format.h>

#include "bind.h"
#include "doppel/ops/einsum.h"
#include "doppel/ops/linalg_composite.h"
#include "doppel/ops/pointwise_composite.h"
#include "doppel/ops/shape_composite.h"

namespace doppel::py {
namespace {

using OptInts = std::optional<Ints>;
IntList dims_of(const OptInts& d) { return d ? IntList(d->v) : IntList(); }

// A clamp bound: None (undefined), a tensor, or a number as a 0-d tensor (which, as PyTorch's
// numbers do, does not promote a dimensioned input of the same kind).
Tensor bound(nb::handle h) {
  if (h.is_none()) return {};
  if (nb::isinstance<Tensor>(h)) return nb::cast<Tensor>(h);
  return scalar(nb::cast<Scalar>(h));
}

// t cast to `dtype` (when given) before a reduction and its result cast to it after (integer
// sums are int64 otherwise).
template <class F>
Tensor in_dtype(const Tensor& t, DType dtype, F f) {
  Tensor r = f(t.dtype() == dtype ? t : to_dtype(t, dtype));
  return r.dtype() == dtype ? r : to_dtype(r, dtype);
}

void bind_products(nb::module_& m, Both& both) {
  m.def(
      "einsum",
      [](std::string_view eq, nb::args args) {
        std::vector<Tensor> ops;
        if (args.size() == 1 && !nb::isinstance<Tensor>(args[0])) {
          ops = nb::cast<std::vector<Tensor>>(args[0]);
        } else {
          for (nb::handle h : args) ops.push_back(tensor_arg(h, "einsum"));
        }
        nb::gil_scoped_release release;
        return einsum(eq, ops);
      },
      nb::arg("equation"), nb::arg("operands"), Site());
  both(
      "dot", [](const Tensor& a, const Tensor& b) { return dot(a, b); }, nb::arg("other"));
  both(
      "outer", [](const Tensor& a, const Tensor& b) { return outer(a, b); }, nb::arg("vec2"));
  both(
      "ger", [](const Tensor& a, const Tensor& b) { return outer(a, b); }, nb::arg("vec2"));
}

void bind_pointwise(nb::module_& m, nb::class_<Tensor>& cls, Both& both) {
  both(
      "lerp", [](const Tensor& a, const Tensor& b, Scalar w) { return lerp(a, b, w); }, nb::arg("end"),
      nb::arg("weight"));
  both(
      "lerp", [](const Tensor& a, const Tensor& b, const Tensor& w) { return lerp(a, b, w); }, nb::arg("end"),
      nb::arg("weight"));
  both(
      "addcmul", [](const Tensor& x, const Tensor& a, const Tensor& b, Scalar v) { return addcmul(x, a, b, v); },
      nb::arg("tensor1"), nb::arg("tensor2"), nb::kw_only(), nb::arg("value") = 1);
  both(
      "addcdiv", [](const Tensor& x, const Tensor& a, const Tensor& b, Scalar v) { return addcdiv(x, a, b, v); },
      nb::arg("tensor1"), nb::arg("tensor2"), nb::kw_only(), nb::arg("value") = 1);
  both(
      "clamp", [](const Tensor& t, nb::handle lo, nb::handle hi) { return clamp(t, bound(lo), bound(hi)); },
      nb::arg("min").none() = nb::none(), nb::arg("max").none() = nb::none());
  m.attr("clip") = m.attr("clamp");
  both(
      "masked_fill", [](const Tensor& t, const Tensor& mask, const Tensor& v) { return masked_fill(t, mask, v); },
      nb::arg("mask"), nb::arg("value"));
  // max/min of two tensors (or a tensor and a float): elementwise, NaN propagating.
  both(
      "max", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }, nb::arg("other"));
  both(
      "max", [](const Tensor& a, Scalar b) { return maximum(a, b); }, nb::arg("other"));
  both(
      "min", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }, nb::arg("other"));
  both(
      "min", [](const Tensor& a, Scalar b) { return minimum(a, b); }, nb::arg("other"));
  m.def(
      "where", [](const Tensor& c, Scalar a, Scalar b) { return where(c, a, b); }, nb::arg("condition"),
      nb::arg("input"), nb::arg("other"), Site());
  // x.where(condition, y) is where(condition, x, y).
  cls.def(
         "where", [](const Tensor& x, const Tensor& c, const Tensor& y) { return where(c, x, y); },
         nb::arg("condition"), nb::arg("other"), Site())
      .def(
          "where", [](const Tensor& x, const Tensor& c, Scalar y) { return where(c, x, y); }, nb::arg("condition"),
          nb::arg("other"), Site());
}

void bind_shapes(nb::module_& m, nb::class_<Tensor>& cls, Both& both) {
  both(
      "unbind", [](const Tensor& t, int64_t d) { return unbind(t, d); }, nb::arg("dim") = 0);
  both(
      "tril", [](const Tensor& t, int64_t k) { return tril(t, k); }, nb::arg("diagonal") = 0);
  both(
      "triu", [](const Tensor& t, int64_t k) { return triu(t, k); }, nb::arg("diagonal") = 0);
  for (const char* name : {"movedim", "moveaxis"})
    both(
        name, [](const Tensor& t, Ints src, Ints dst) { return movedim(t, src, dst); }, nb::arg("source"),
        nb::arg("destination"));
  both(
      "swapaxes", [](const Tensor& t, int64_t a, int64_t b) { return transpose(t, a, b); }, nb::arg("axis0"),
      nb::arg("axis1"));
  both(
      "swapdims", [](const Tensor& t, int64_t a, int64_t b) { return transpose(t, a, b); }, nb::arg("dim0"),
      nb::arg("dim1"));
  both(
      "unflatten", [](const Tensor& t, int64_t d, Ints sizes) { return unflatten(t, d, sizes); }, nb::arg("dim"),
      nb::arg("sizes"));
  cls.def(
      "repeat", [](const Tensor& t, nb::args a) { return repeat(t, ints_from_args(a, "repeat")); }, Site());
  m.def(
      "hstack", [](std::vector<Tensor> ts) { return hstack(ts); }, nb::arg("tensors"), Site());
  m.def(
      "vstack", [](std::vector<Tensor> ts) { return vstack(ts); }, nb::arg("tensors"), Site());
  m.attr("row_stack") = m.attr("vstack");
  m.def(
      "matrix_transpose", [](const Tensor& t) { return matrix_transpose(t); }, nb::arg("input"), Site());
  cls.def_prop_ro("mT", [](const Tensor& t) { return matrix_transpose(t); })
      .def_prop_ro("mH", [](const Tensor& t) { return matrix_transpose(t); })
      .def_prop_ro("H", [](const Tensor& t) {
        DOPPEL_CHECK_SHAPE(t.dim() == 2, "H: expects a 2-d tensor, got shape {}; use mH for batches of matrices",
                           shape_str(t.shape()));
        return matrix_transpose(t);
      });
}

void bind_keywords(Both& both) {
  using Reduce = Tensor (*)(const Tensor&, IntList, bool, SourceLoc);
  for (auto [name, f] : {std::pair<const char*, Reduce>{"sum", &sum}, {"mean", &mean}, {"prod", &prod}})
    both(
        name,
        [f](const Tensor& t, OptInts d, bool k, DType dt) {
          return in_dtype(t, dt, [&](const Tensor& x) { return f(x, dims_of(d), k, SourceLoc::current()); });
        },
        nb::arg("dim") = nb::none(), nb::arg("keepdim") = false, nb::kw_only(), nb::arg("dtype"));
  using Softmax = Tensor (*)(const Tensor&, int64_t, SourceLoc);
  for (auto [name, f] : {std::pair<const char*, Softmax>{"softmax", &softmax}, {"log_softmax", &log_softmax}})
    both(
        name,
        [f](const Tensor& t, int64_t d, DType dt) {
          return in_dtype(t, dt, [&](const Tensor& x) { return f(x, d, SourceLoc::current()); });
        },
        nb::arg("dim"), nb::arg("dtype"));
  // var/std(unbiased=): PyTorch 1.13's older spelling of correction=1 / correction=0.
  using Spread = Tensor (*)(const Tensor&, IntList, int64_t, bool, SourceLoc);
  for (auto [name, f] : {std::pair<const char*, Spread>{"var", &var}, {"std", &doppel::std}}) {
    both(
        name, [f](const Tensor& t, bool unbiased) { return f(t, {}, unbiased ? 1 : 0, false, SourceLoc::current()); },
        nb::arg("unbiased"));
    both(
        name,
        [f](const Tensor& t, OptInts d, bool unbiased, bool k) {
          return f(t, dims_of(d), unbiased ? 1 : 0, k, SourceLoc::current());
        },
        nb::arg("dim").none(), nb::arg("unbiased"), nb::arg("keepdim") = false);
  }
}

}  // namespace

void bind_composite_ops(nb::module_& m, nb::class_<Tensor>& cls, Both& both) {
  bind_products(m, both);
  bind_pointwise(m, cls, both);
  bind_shapes(m, cls, both);
  bind_keywords(both);
}

}  // namespace doppel::py
