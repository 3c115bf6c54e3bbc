// topk, sort, argsort, multinomial and the in-place tril_ / triu_ (tril and triu themselves are
// bound with the shape composites). topk and sort return PyTorch's named tuples
// doppel.return_types.topk / .sort (values, indices).
#include "bind.h"

namespace doppel::py {

void bind_sorting_ops(nb::module_& m, nb::class_<Tensor>& cls, Both& both) {
  nb::object types = m.attr("return_types");  // made by bind_reductions
  nb::object namedtuple = nb::module_::import_("collections").attr("namedtuple");
  for (const char* name : {"topk", "sort"})
    types.attr(name) = namedtuple(name, nb::make_tuple("values", "indices"), nb::arg("module") = "doppel.return_types");
  static nb::handle topk_type = nb::object(types.attr("topk")).release();  // leaked: outlives interpreter teardown
  static nb::handle sort_type = nb::object(types.attr("sort")).release();
  both(
      "topk",
      [](const Tensor& t, int64_t k, int64_t dim, bool largest, bool sorted) {
        auto [values, indices] = topk(t, k, dim, largest, sorted);
        return topk_type(values, indices);
      },
      nb::arg("k"), nb::arg("dim") = -1, nb::arg("largest") = true, nb::arg("sorted") = true);
  both(
      "sort",
      [](const Tensor& t, int64_t dim, bool descending, bool stable) {
        auto [values, indices] = sort(t, dim, descending, stable);
        return sort_type(values, indices);
      },
      nb::arg("dim") = -1, nb::arg("descending") = false, nb::kw_only(), nb::arg("stable") = false);
  both(
      "argsort",
      [](const Tensor& t, int64_t dim, bool descending, bool stable) { return argsort(t, dim, descending, stable); },
      nb::arg("dim") = -1, nb::arg("descending") = false, nb::kw_only(), nb::arg("stable") = false);
  // Draws from the default generator (doppel.manual_seed).
  both(
      "multinomial", [](const Tensor& t, int64_t n, bool replacement) { return multinomial(t, n, replacement); },
      nb::arg("num_samples"), nb::arg("replacement") = false);
  cls.def(
         "tril_", [](const Tensor& t, int64_t k) { return tril_(t, k); }, nb::arg("diagonal") = 0, Site())
      .def(
          "triu_", [](const Tensor& t, int64_t k) { return triu_(t, k); }, nb::arg("diagonal") = 0, Site());
}

}  // namespace doppel::py
