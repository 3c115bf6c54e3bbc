#include "doppel/tensorboard/summary_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <mutex>

#include "doppel/core/error.h"
#include "embedding.h"
#include "event_file.h"
#include "summaries.h"

namespace doppel::tensorboard {

using detail::EventFile;

struct SummaryWriter::Impl {
  std::string log_dir;
  WriterOptions options;
  std::mutex mu;                    // guards the two members below (the files themselves are thread-safe)
  std::shared_ptr<EventFile> file;  // null after close(): the next add_* opens a new one
  std::map<std::string, std::shared_ptr<EventFile>> scalars_files;  // add_scalars' runs
  std::mutex embeddings_mu;                                         // guards the config below
  ::tensorboard::projector::ProjectorConfig embeddings;             // add_embedding's, so far

  std::shared_ptr<EventFile> open(const std::string& dir) const {
    return std::make_shared<EventFile>(dir, options.max_queue, options.flush_secs, options.filename_suffix);
  }
};

namespace {

tbp::Event summary_event(tbp::Summary summary, std::optional<int64_t> step, std::optional<double> walltime) {
  tbp::Event e;
  *e.mutable_summary() = std::move(summary);
  if (step) e.set_step(*step);
  e.set_wall_time(walltime ? *walltime : detail::now_seconds());
  return e;
}

}  // namespace

std::string default_log_dir(const std::string& comment) {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[64];
  std::strftime(stamp, sizeof stamp, "%b%d_%H-%M-%S", &local);
  return (std::filesystem::path("runs") / fmt::format("{}_{}{}", stamp, detail::host_name(), comment)).string();
}

SummaryWriter::SummaryWriter(std::string log_dir, WriterOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->log_dir = log_dir.empty() ? default_log_dir(options.comment) : std::move(log_dir);
  impl_->options = std::move(options);
  impl_->file = impl_->open(impl_->log_dir);
  if (const auto purge = impl_->options.purge_step) {  // as PyTorch: a file_version and a START event
    tbp::Event version, start;
    version.set_step(*purge);
    version.set_file_version("brain.Event:2");
    start.set_step(*purge);
    start.mutable_session_log()->set_status(tbp::SessionLog::START);
    impl_->file->add(std::move(version));
    impl_->file->add(std::move(start));
  }
}

SummaryWriter::~SummaryWriter() = default;  // each EventFile's destructor closes it
SummaryWriter::SummaryWriter(SummaryWriter&&) noexcept = default;
SummaryWriter& SummaryWriter::operator=(SummaryWriter&&) noexcept = default;

const std::string& SummaryWriter::log_dir() const { return impl_->log_dir; }

std::shared_ptr<detail::EventFile> SummaryWriter::file(const char* what) {
  if (!impl_) throw ValueError(fmt::format("SummaryWriter.{}: this writer was moved from", what));
  std::lock_guard lock(impl_->mu);
  if (!impl_->file) impl_->file = impl_->open(impl_->log_dir);
  return impl_->file;
}

std::string SummaryWriter::file_path() const {
  std::lock_guard lock(impl_->mu);
  if (!impl_->file) throw ValueError("SummaryWriter.file_path: the writer is closed (the next add_* opens a new file)");
  return impl_->file->path();
}

void SummaryWriter::add_scalar(const std::string& tag, double value, std::optional<int64_t> step,
                               std::optional<double> walltime, bool new_style, bool double_precision) {
  file("add_scalar")
      ->add(summary_event(detail::scalar_summary(tag, value, new_style, double_precision), step, walltime));
}

void SummaryWriter::add_scalars(const std::string& main_tag, const Scalars& tag_scalar_dict,
                                std::optional<int64_t> step, std::optional<double> walltime) {
  std::string prefix = main_tag;
  std::replace(prefix.begin(), prefix.end(), '/', '_');
  const std::string base = file("add_scalars")->log_dir();
  const double time = walltime ? *walltime : detail::now_seconds();  // one for all, as PyTorch
  for (const auto& [tag, value] : tag_scalar_dict) {
    const std::string dir = base + "/" + prefix + "_" + tag;
    std::shared_ptr<EventFile> f;
    {
      std::lock_guard lock(impl_->mu);
      std::shared_ptr<EventFile>& slot = impl_->scalars_files[dir];
      if (!slot) slot = impl_->open(dir);
      f = slot;
    }
    f->add(summary_event(detail::scalar_summary(main_tag, value, false, false), step, time));
  }
}

void SummaryWriter::add_histogram(const std::string& tag, const Tensor& values, std::optional<int64_t> step,
                                  const Bins& bins, std::optional<double> walltime, std::optional<int64_t> max_bins) {
  file("add_histogram")->add(summary_event(detail::histogram_summary(tag, values, bins, max_bins), step, walltime));
}

void SummaryWriter::add_image(const std::string& tag, const Tensor& img, std::optional<int64_t> step,
                              std::optional<double> walltime, const std::string& dataformats) {
  file("add_image")->add(summary_event(detail::image_summary(tag, img, dataformats, "add_image"), step, walltime));
}

void SummaryWriter::add_images(const std::string& tag, const Tensor& imgs, std::optional<int64_t> step,
                               std::optional<double> walltime, const std::string& dataformats) {
  file("add_images")->add(summary_event(detail::image_summary(tag, imgs, dataformats, "add_images"), step, walltime));
}

void SummaryWriter::add_text(const std::string& tag, const std::string& text, std::optional<int64_t> step,
                             std::optional<double> walltime) {
  file("add_text")->add(summary_event(detail::text_summary(tag, text), step, walltime));
}

void SummaryWriter::add_hparams(const HParams& hparams, const Scalars& metrics,
                                const std::map<std::string, std::vector<HParamValue>>& hparam_domain_discrete,
                                const std::string& run_name) {
  std::vector<tbp::Summary> summaries = detail::hparams_summaries(hparams, metrics, hparam_domain_discrete);
  const std::string run = run_name.empty() ? fmt::format("{}", detail::now_seconds()) : run_name;
  SummaryWriter session((std::filesystem::path(file("add_hparams")->log_dir()) / run).string());
  for (tbp::Summary& s : summaries) session.file("add_hparams")->add(summary_event(std::move(s), {}, {}));
  for (const auto& [tag, value] : metrics) session.add_scalar(tag, value);
  session.close();
}

void SummaryWriter::add_graph(const graph::Graph& g, std::optional<double> walltime) {
  tbp::Event e;
  e.set_graph_def(detail::graph_def(g).SerializeAsString());
  e.set_wall_time(walltime ? *walltime : detail::now_seconds());
  file("add_graph")->add(std::move(e));
}

void SummaryWriter::add_embedding(const Tensor& mat, const std::optional<EmbeddingMetadata>& metadata,
                                  const std::optional<Tensor>& label_img, std::optional<int64_t> step,
                                  const std::string& tag) {
  const std::string dir = file("add_embedding")->log_dir();
  std::lock_guard lock(impl_->embeddings_mu);
  detail::write_embedding(dir, impl_->embeddings, mat, metadata, label_img, step.value_or(0), tag);
}

// The open files, taken out of the writer when `take` (close()).
std::vector<std::shared_ptr<EventFile>> SummaryWriter::files(bool take) {
  std::vector<std::shared_ptr<EventFile>> out;
  if (!impl_) return out;
  std::lock_guard lock(impl_->mu);
  if (impl_->file) out.push_back(take ? std::move(impl_->file) : impl_->file);
  for (auto& [dir, f] : impl_->scalars_files) out.push_back(f);
  if (take) impl_->scalars_files.clear();
  return out;
}

void SummaryWriter::flush() {  // after close(): nothing to write, as PyTorch
  for (const auto& f : files(false)) f->flush();
}

void SummaryWriter::close() {
  // Every file is closed even when one fails; the first failure is reported.
  std::optional<ValueError> failed;
  for (const auto& f : files(true)) {
    try {
      f->close();
    } catch (const ValueError& e) {
      if (!failed) failed = e;
    }
  }
  if (failed) throw *failed;
}

}  // namespace doppel::tensorboard
