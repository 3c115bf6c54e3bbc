#pragma once
// doppel::tensorboard::SummaryWriter: TensorBoard event files (and the projector's embedding
// files), with the names, arguments and semantics of PyTorch 1.13's
// torch.utils.tensorboard.SummaryWriter (README.md):
//
//   doppel::tensorboard::SummaryWriter w;              // runs/Dec06_20-35-07_host
//   for (int64_t step = 0; step < 100; ++step) w.add_scalar("loss/train", loss, step);
//   w.add_histogram("fc1/weight", model.fc1->weight, step);
//   w.add_image("sample", image_chw, step);          // float [0, 1] or uint8, CHW
//   w.add_graph(*compiled.graph_for({x}));           // the Graphs dashboard
//
// Events are queued and written by a thread that flushes every flush_secs; flush() writes
// now; close() (and the destructor) writes everything and closes the files. The methods may be
// called from several threads. Every error —
// an unwritable folder, a bad tensor — is a typed doppel error naming the path or the shapes.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "doppel/core/tensor.h"
#include "doppel/graph/ir.h"

namespace doppel::tensorboard {

namespace detail {
class EventFile;
}

struct WriterOptions {
  std::string comment;          // appended to the default log folder's name
  int max_queue = 10;           // events queued before they are written
  double flush_secs = 120;      // the writer thread's flush period
  std::string filename_suffix;  // appended to the event files' names
  // Resuming a crashed run: TensorBoard hides this run's events at steps >= purge_step
  // (a session-log START record at that step).
  std::optional<int64_t> purge_step;
};

// add_histogram's bins: TensorFlow's default buckets (±1e-12 * 1.1^k up to 1e20, and 0), a
// number of equal-width bins between the values' min and max, or explicit increasing edges —
// numpy.histogram's bins argument, as PyTorch passes it on.
struct TensorFlowBins {};
using Bins = std::variant<TensorFlowBins, int64_t, std::vector<double>>;

// A hyperparameter value: number, string or bool (the hparams plugin's three types).
using HParamValue = std::variant<double, std::string, bool>;
using HParams = std::vector<std::pair<std::string, HParamValue>>;
using Scalars = std::vector<std::pair<std::string, double>>;

// add_embedding's labels: a row per point; with a header, a column per header entry, else one.
struct EmbeddingMetadata {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header;
};

// PyTorch's default log folder for `comment`: runs/<Mon><day>_<HH-MM-SS>_<host><comment>
// (local time, e.g. runs/Dec06_20-35-07_myhost).
std::string default_log_dir(const std::string& comment = {});

class SummaryWriter {
 public:
  // An empty `log_dir` means default_log_dir(options.comment). ValueError naming the folder
  // when it cannot be created or written.
  explicit SummaryWriter(std::string log_dir = {}, WriterOptions options = {});
  ~SummaryWriter();
  SummaryWriter(SummaryWriter&&) noexcept;
  SummaryWriter& operator=(SummaryWriter&&) noexcept;

  const std::string& log_dir() const;
  // The event file this writer writes (add_scalars and add_hparams write others, in sub-folders).
  std::string file_path() const;

  // `step` absent: the event has no step (0). `walltime` absent: now, in seconds since the
  // epoch. new_style: a scalar tensor with the scalars plugin's metadata instead of a
  // simple_value (then double_precision keeps the value a double).
  void add_scalar(const std::string& tag, double value, std::optional<int64_t> step = {},
                  std::optional<double> walltime = {}, bool new_style = false, bool double_precision = false);
  // One run per key, as PyTorch: <log_dir>/<main_tag with '/' as '_'>_<key>, each with the
  // scalar under main_tag, so TensorBoard draws them in one chart.
  void add_scalars(const std::string& main_tag, const Scalars& tag_scalar_dict, std::optional<int64_t> step = {},
                   std::optional<double> walltime = {});
  // The histogram of `values` (any real dtype, any shape; ValueError when empty); max_bins
  // merges neighbouring bins down to at most that many.
  void add_histogram(const std::string& tag, const Tensor& values, std::optional<int64_t> step = {},
                     const Bins& bins = TensorFlowBins{}, std::optional<double> walltime = {},
                     std::optional<int64_t> max_bins = {});
  // A PNG image. dataformats: a permutation of "CHW" or "HWC", or "HW"; 1 channel is shown as
  // gray (copied to RGB), 3 as RGB, 4 (HWC only) as RGBA. uint8 values are kept; any other
  // dtype is scaled by 255 (float images in [0, 1]), clipped to [0, 255] and truncated.
  void add_image(const std::string& tag, const Tensor& img, std::optional<int64_t> step = {},
                 std::optional<double> walltime = {}, const std::string& dataformats = "CHW");
  // A batch as one grid image (8 per row); dataformats a permutation of "NCHW", C 1 or 3.
  void add_images(const std::string& tag, const Tensor& imgs, std::optional<int64_t> step = {},
                  std::optional<double> walltime = {}, const std::string& dataformats = "NCHW");
  // Markdown text, under the tag <tag>/text_summary (the text plugin).
  void add_text(const std::string& tag, const std::string& text, std::optional<int64_t> step = {},
                std::optional<double> walltime = {});
  // One hparams session, as PyTorch writes it: a run folder <log_dir>/<run_name> (default: the
  // current time in seconds) with the experiment, session start (hparams) and end records and
  // each metric as a scalar. hparam_domain_discrete: the possible values of some hparams.
  void add_hparams(const HParams& hparams, const Scalars& metrics,
                   const std::map<std::string, std::vector<HParamValue>>& hparam_domain_discrete = {},
                   const std::string& run_name = {});
  // The graph as a GraphDef for the Graphs dashboard: a node per op named
  // <module scope>/<op>_<k> (the scope is the module path of the state it reads, fc1 for
  // fc1.weight), with its input edges, output shapes (_output_shapes; -1 for a dynamic
  // dimension), dtype and call site; inputs and outputs as "IO Node"s, state as "Parameter"s
  // and constants as "Constant"s.
  void add_graph(const graph::Graph& g, std::optional<double> walltime = {});
  // Points for the Projector dashboard: the rows of `mat` [N, D] in
  // <log_dir>/<step, 5 digits>/<tag>/tensors.tsv, with metadata.tsv (labels) and sprite.png
  // (label_img [N, C, H, W], values in [0, 1], as a square grid), listed in the run's
  // projector_config.pbtxt (every embedding of this writer). `step` absent: 0.
  void add_embedding(const Tensor& mat, const std::optional<EmbeddingMetadata>& metadata = {},
                     const std::optional<Tensor>& label_img = {}, std::optional<int64_t> step = {},
                     const std::string& tag = "default");

  void flush();
  void close();

 private:
  // The open event file (a new one after close()); ValueError when this writer was moved from.
  std::shared_ptr<detail::EventFile> file(const char* what);
  std::vector<std::shared_ptr<detail::EventFile>> files(bool take);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::tensorboard
