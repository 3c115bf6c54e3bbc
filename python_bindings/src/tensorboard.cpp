// doppel._C.tensorboard: the C++ SummaryWriter for doppel.utils.tensorboard.SummaryWriter
// (python_bindings/doppel/utils/tensorboard.py), which turns PyTorch's argument forms (numpy
// arrays, numbers, dicts, modules) into these. Writing and encoding run without the GIL.
#include <nanobind/stl/map.h>
#include <nanobind/stl/variant.h>

#include "bind.h"
#include "doppel/tensorboard/summary_writer.h"

namespace doppel::py {

namespace {

using tensorboard::SummaryWriter;

// bins: None (TensorFlow's default buckets), a number of bins, or the edges.
tensorboard::Bins bins_from(const std::optional<std::variant<int64_t, std::vector<double>>>& bins) {
  if (!bins) return tensorboard::TensorFlowBins{};
  if (const auto* n = std::get_if<int64_t>(&*bins)) return *n;
  return std::get<std::vector<double>>(*bins);
}

}  // namespace

void bind_tensorboard(nb::module_& m) {
  nb::module_ tb = m.def_submodule("tensorboard", "TensorBoard event files (doppel::tensorboard)");
  tb.def("default_log_dir", &tensorboard::default_log_dir, nb::arg("comment") = "");
  using Release = nb::call_guard<nb::gil_scoped_release>;
  nb::class_<SummaryWriter>(tb, "SummaryWriter")
      .def(
          "__init__",
          [](SummaryWriter* self, const std::string& log_dir, const std::string& comment,
             std::optional<int64_t> purge_step, int max_queue, double flush_secs, const std::string& filename_suffix) {
            new (self) SummaryWriter(log_dir, {comment, max_queue, flush_secs, filename_suffix, purge_step});
          },
          nb::arg("log_dir"), nb::arg("comment"), nb::arg("purge_step").none(), nb::arg("max_queue"),
          nb::arg("flush_secs"), nb::arg("filename_suffix"), Release())
      .def_prop_ro("log_dir", &SummaryWriter::log_dir)
      .def_prop_ro("file_path", &SummaryWriter::file_path)
      .def("add_scalar", &SummaryWriter::add_scalar, nb::arg("tag"), nb::arg("value"), nb::arg("step").none(),
           nb::arg("walltime").none(), nb::arg("new_style"), nb::arg("double_precision"), Release())
      .def("add_scalars", &SummaryWriter::add_scalars, nb::arg("main_tag"), nb::arg("values"), nb::arg("step").none(),
           nb::arg("walltime").none(), Release())
      .def(
          "add_histogram",
          [](SummaryWriter& w, const std::string& tag, const Tensor& values, std::optional<int64_t> step,
             const std::optional<std::variant<int64_t, std::vector<double>>>& bins, std::optional<double> walltime,
             std::optional<int64_t> max_bins) {
            w.add_histogram(tag, values, step, bins_from(bins), walltime, max_bins);
          },
          nb::arg("tag"), nb::arg("values"), nb::arg("step").none(), nb::arg("bins").none(), nb::arg("walltime").none(),
          nb::arg("max_bins").none(), Release())
      .def("add_image", &SummaryWriter::add_image, nb::arg("tag"), nb::arg("img"), nb::arg("step").none(),
           nb::arg("walltime").none(), nb::arg("dataformats"), Release())
      .def("add_images", &SummaryWriter::add_images, nb::arg("tag"), nb::arg("imgs"), nb::arg("step").none(),
           nb::arg("walltime").none(), nb::arg("dataformats"), Release())
      .def("add_text", &SummaryWriter::add_text, nb::arg("tag"), nb::arg("text"), nb::arg("step").none(),
           nb::arg("walltime").none(), Release())
      .def("add_hparams", &SummaryWriter::add_hparams, nb::arg("hparams"), nb::arg("metrics"),
           nb::arg("hparam_domain_discrete"), nb::arg("run_name"), Release())
      .def("add_graph", &SummaryWriter::add_graph, nb::arg("graph"), nb::arg("walltime").none(), Release())
      .def(
          "add_embedding",
          [](SummaryWriter& w, const Tensor& mat, std::optional<std::vector<std::vector<std::string>>> rows,
             std::vector<std::string> header, std::optional<Tensor> label_img, std::optional<int64_t> step,
             const std::string& tag) {
            std::optional<tensorboard::EmbeddingMetadata> metadata;
            if (rows) metadata = tensorboard::EmbeddingMetadata{std::move(*rows), std::move(header)};
            w.add_embedding(mat, metadata, label_img, step, tag);
          },
          nb::arg("mat"), nb::arg("metadata").none(), nb::arg("metadata_header"), nb::arg("label_img").none(),
          nb::arg("step").none(), nb::arg("tag"), Release())
      .def("flush", &SummaryWriter::flush, Release())
      .def("close", &SummaryWriter::close, Release());
}

}  // namespace doppel::py
