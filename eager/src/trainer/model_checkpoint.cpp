#include "doppel/trainer/model_checkpoint.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "doppel/trainer/trainer.h"

namespace doppel::callbacks {

ModelCheckpoint::ModelCheckpoint(ModelCheckpointOptions options) : options_(std::move(options)) {
  DOPPEL_CHECK(!options_.dirpath.empty(), "ModelCheckpoint: dirpath is required");
  DOPPEL_CHECK(!options_.filename.empty(), "ModelCheckpoint: filename must not be empty");
  DOPPEL_CHECK(options_.save_top_k >= -1, "ModelCheckpoint: save_top_k must be >= -1, got {}", options_.save_top_k);
  DOPPEL_CHECK(options_.every_n_epochs >= 1, "ModelCheckpoint: every_n_epochs must be >= 1, got {}",
               options_.every_n_epochs);
  DOPPEL_CHECK(
      !options_.monitor.empty() || options_.save_top_k <= 1 || options_.filename.find("{epoch}") != std::string::npos,
      "ModelCheckpoint: keeping the latest {} files without a monitor needs '{{epoch}}' in filename",
      options_.save_top_k);
}

std::string ModelCheckpoint::format_path(const Trainer& trainer) const {
  std::string name;
  const std::string& f = options_.filename;
  for (size_t i = 0; i < f.size();) {
    const size_t close = f[i] == '{' ? f.find('}', i) : std::string::npos;
    if (close == std::string::npos) {
      name += f[i++];
      continue;
    }
    const std::string key = f.substr(i + 1, close - i - 1);
    if (key == "epoch")
      name += std::to_string(trainer.current_epoch());
    else if (key == "step")
      name += std::to_string(trainer.global_step());
    else
      name += fmt::format("{:.4f}", monitored_value(trainer.callback_metrics(), key, "ModelCheckpoint.filename"));
    i = close + 1;
  }
  return (std::filesystem::path(options_.dirpath) / (name + ".ckpt")).string();
}

std::string ModelCheckpoint::best_model_path() const { return best_k_.empty() ? "" : best_k_.front().first; }
double ModelCheckpoint::best_model_score() const { return best_k_.empty() ? NAN : best_k_.front().second; }
std::string ModelCheckpoint::last_model_path() const { return last_path_; }

void ModelCheckpoint::on_epoch_result(Trainer& trainer) {
  if ((trainer.current_epoch() + 1) % options_.every_n_epochs != 0) return;
  std::filesystem::create_directories(options_.dirpath);
  const Mode mode = options_.monitor.empty() ? Mode::Max : options_.mode;
  // Without a monitor, the global step ranks the files (the latest is the best).
  const double score = options_.monitor.empty()
                           ? double(trainer.global_step())
                           : monitored_value(trainer.callback_metrics(), options_.monitor, "ModelCheckpoint");
  if (options_.save_top_k != 0) {
    const std::string path = format_path(trainer);
    std::erase_if(best_k_, [&](const auto& e) { return e.first == path; });
    const bool full = options_.save_top_k > 0 && int64_t(best_k_.size()) >= options_.save_top_k;
    if (!full || improves(score, best_k_.back().second, mode)) {
      if (full) {
        std::filesystem::remove(best_k_.back().first);
        best_k_.pop_back();
      }
      // Insert after every entry at least as good (NaN scores rank last), before saving: the
      // file holds the list it is in.
      auto at =
          std::find_if(best_k_.begin(), best_k_.end(), [&](const auto& e) { return improves(score, e.second, mode); });
      best_k_.insert(at, {path, score});
      trainer.save_checkpoint(path);
      last_path_ = path;
    }
  }
  if (options_.save_last) {
    last_path_ = (std::filesystem::path(options_.dirpath) / "last.ckpt").string();
    trainer.save_checkpoint(last_path_);
  }
}

std::string ModelCheckpoint::state_key() const { return "ModelCheckpoint." + options_.monitor + ".best_k"; }

// The kept files travel in the metadata as lines "<score>\t<path>", best first.
void ModelCheckpoint::on_save_checkpoint(Trainer&, io::Checkpoint& ckpt) {
  std::string lines;
  for (const auto& [path, score] : best_k_) lines += fmt::format("{:.17g}\t{}\n", score, path);
  ckpt.metadata[state_key()] = lines;
}

void ModelCheckpoint::on_load_checkpoint(Trainer&, const io::Checkpoint& ckpt) {
  const auto it = ckpt.metadata.find(state_key());
  if (it == ckpt.metadata.end()) return;  // written without this callback
  best_k_.clear();
  std::istringstream in(it->second);
  std::string line;
  while (std::getline(in, line)) {
    const size_t tab = line.find('\t');
    DOPPEL_CHECK(tab != std::string::npos, "ModelCheckpoint: malformed '{}' entry '{}' in the checkpoint", state_key(),
                 line);
    best_k_.emplace_back(line.substr(tab + 1), std::stod(line.substr(0, tab)));
  }
}

}  // namespace doppel::callbacks
