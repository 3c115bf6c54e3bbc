#include "doppel/trainer/monitor.h"

#include <cmath>

#include <fmt/format.h>

#include "doppel/core/error.h"
#include "doppel/trainer/trainer.h"

namespace doppel::callbacks {

bool improves(double current, double reference, Mode mode, double min_delta) {
  if (std::isnan(current)) return false;
  if (std::isnan(reference)) return true;
  return mode == Mode::Min ? current < reference - min_delta : current > reference + min_delta;
}

double monitored_value(const Metrics& metrics, const std::string& monitor, const char* who) {
  const auto it = metrics.find(monitor);
  if (it != metrics.end()) return it->second;
  std::string names;
  for (const auto& [k, v] : metrics) names += (names.empty() ? "" : ", ") + k;
  throw ValueError(fmt::format("{}: the monitored metric '{}' was not logged; logged: [{}]", who, monitor, names));
}

void EpochResultCallback::on_train_epoch_end(Trainer& trainer) {
  if (!trainer.has_validation()) on_epoch_result(trainer);
}

void EpochResultCallback::on_validation_end(Trainer& trainer) {
  if (trainer.fitting()) on_epoch_result(trainer);  // not after a stand-alone validate()
}

}  // namespace doppel::callbacks
