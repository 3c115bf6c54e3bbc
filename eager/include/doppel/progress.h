#pragma once
// A terminal progress bar for long jobs (training epochs, benchmarks): done/total, a bar,
// rate, elapsed and ETA, plus caller-supplied fields ("loss 0.412 acc 0.87"). Redraws in place
// on a terminal (at most ~10 times a second) and prints plain lines when output is not a TTY.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace doppel {

class ProgressBar {
 public:
  // `unit` names what is counted ("samples"); `label` prefixes the line ("epoch 1/5").
  ProgressBar(int64_t total, std::string label, std::string unit = "it", std::FILE* out = stderr);
  // Advances by `n` and sets the extra fields shown after the rate.
  void update(int64_t n, const std::string& fields = {});
  // Draws the final state and ends the line.
  void finish(const std::string& fields = {});
  double elapsed_seconds() const;
  double rate() const;  // units per second so far

 private:
  void draw(bool final);

  int64_t total_;
  int64_t done_ = 0;
  std::string label_, unit_, fields_;
  std::FILE* out_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int64_t last_plain_percent_ = -1;
};

// "1m05s", "12.3s"
std::string format_duration(double seconds);

}  // namespace doppel
