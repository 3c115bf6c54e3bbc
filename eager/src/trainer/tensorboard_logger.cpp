#include "doppel/trainer/tensorboard_logger.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "doppel/autograd.h"
#include "doppel/graph/compile.h"
#include "doppel/graph/trace.h"
#include "doppel/trainer/trainer.h"
#include "training_flag.h"

namespace doppel::callbacks {

namespace {

namespace fs = std::filesystem;

// One more than the largest N of the version_<N> folders in `root`; 0 when there is none.
int64_t next_version(const fs::path& root) {
  int64_t next = 0;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    int64_t n = 0;
    const char* digits = name.data() + 8;
    if (!e.is_directory() || !name.starts_with("version_") || name.size() == 8) continue;
    const auto [end, err] = std::from_chars(digits, name.data() + name.size(), n);
    if (err == std::errc() && end == name.data() + name.size() && n >= 0) next = std::max(next, n + 1);
  }
  return next;
}

// The Trainer's options as hparams.
tensorboard::HParams trainer_hparams(const Trainer& trainer) {
  const TrainerOptions& o = trainer.options();
  return {{"optimizer", std::string(trainer.optimizer().name())},
          {"lr", trainer.optimizer().lr(0)},
          {"scheduler", o.scheduler ? std::string(o.scheduler->name()) : std::string("none")},
          {"scheduler_interval", std::string(o.scheduler_interval == Interval::Step ? "step" : "epoch")},
          {"compile", o.compile},
          {"graph_passes", o.graph_passes},
          {"accumulate_grad_batches", double(o.accumulate_grad_batches)},
          {"gradient_clip_val", o.gradient_clip_val},
          {"gradient_clip_algorithm", std::string(o.gradient_clip_algorithm == ClipAlgorithm::Norm ? "norm" : "value")},
          {"precision", std::string(o.precision == Precision::BF16Mixed ? "bf16-mixed" : "32")},
          {"limit_train_batches", double(o.limit_train_batches)},
          {"limit_eval_batches", double(o.limit_eval_batches)},
          {"log_every_n_steps", double(o.log_every_n_steps)}};
}

}  // namespace

TensorBoardLogger::TensorBoardLogger(TensorBoardLoggerOptions options) : options_(std::move(options)) {
  DOPPEL_CHECK(!options_.version || *options_.version >= 0, "TensorBoardLogger: version must be >= 0, got {}",
               *options_.version);
}

TensorBoardLogger::~TensorBoardLogger() = default;

int64_t TensorBoardLogger::version() {
  if (!version_)
    version_ = options_.version ? *options_.version : next_version(fs::path(options_.save_dir) / options_.name);
  return *version_;
}

const std::string& TensorBoardLogger::log_dir() {
  if (log_dir_.empty())
    log_dir_ = (fs::path(options_.save_dir) / options_.name / fmt::format("version_{}", version())).string();
  return log_dir_;
}

tensorboard::SummaryWriter& TensorBoardLogger::experiment() {
  if (!writer_) writer_ = std::make_unique<tensorboard::SummaryWriter>(log_dir(), options_.writer);
  return *writer_;
}

void TensorBoardLogger::on_fit_start(Trainer& trainer) {
  fit_hparams_ = trainer_hparams(trainer);
  for (const auto& [name, value] : options_.hparams) {
    const auto it =
        std::find_if(fit_hparams_.begin(), fit_hparams_.end(), [&](const auto& h) { return h.first == name; });
    if (it != fit_hparams_.end())
      it->second = value;
    else
      fit_hparams_.emplace_back(name, value);
  }
}

void TensorBoardLogger::on_fit_end(Trainer& trainer) {
  tensorboard::Scalars metrics;
  if (!trainer.history().empty())
    for (const auto& [k, v] : trainer.history().back())
      if (epoch_level(k)) metrics.emplace_back("hparams/" + k, v);
  // "." : the session is this run (its folder), as Lightning's logger writes it.
  experiment().add_hparams(fit_hparams_, metrics, {}, ".");
  experiment().flush();
}

void TensorBoardLogger::on_train_batch_end(Trainer& trainer, const data::Batch& batch, int64_t) {
  if (options_.log_graph && !graph_logged_) log_graph(trainer, batch);
}

void TensorBoardLogger::log_graph(Trainer& trainer, const data::Batch& batch) {
  if (trainer.options().compile) {
    // The compiled step traces on its second call: until then there is no graph to show.
    const CompiledFunction* step = trainer.compiled_training_step();
    const auto g = step ? step->graph_for({batch.data, batch.target}) : nullptr;
    if (!g) return;
    experiment().add_graph(*g);
  } else {
    nn::Module& model = trainer.model();
    graph::TraceOptions to{.dynamic = {{0, 0, "batch"}}, .state_names = model.named_parameters()};
    for (auto& b : model.named_buffers()) to.state_names.push_back(std::move(b));
    detail::TrainingFlag eval_mode(model, false);
    NoGradGuard no_grad;
    const graph::TraceResult r =
        trace([&model](const std::vector<Tensor>& in) { return std::vector<Tensor>{model(in[0])}; }, {batch.data}, to);
    experiment().add_graph(*r.graph);
  }
  graph_logged_ = true;
}

void TensorBoardLogger::on_train_epoch_end(Trainer&) { experiment().flush(); }

void TensorBoardLogger::on_validation_end(Trainer&) { experiment().flush(); }

void TensorBoardLogger::on_log(Trainer& trainer, const Metrics& values, int64_t step) {
  for (const auto& [k, v] : values) experiment().add_scalar(k, v, epoch_level(k) ? trainer.current_epoch() : step);
  if (!trainer.fitting()) experiment().flush();
}

}  // namespace doppel::callbacks
