#include "doppel/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace doppel {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 60) return fmt::format("{:.1f}s", s);
  const int64_t t = int64_t(s);
  if (t < 3600) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}h{:02d}m", t / 3600, (t % 3600) / 60);
}

ProgressBar::ProgressBar(int64_t total, std::string label, std::string unit, std::FILE* out)
    : total_(std::max<int64_t>(total, 1)), label_(std::move(label)), unit_(std::move(unit)), out_(out),
      tty_(isatty(fileno(out)) != 0), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double ProgressBar::rate() const {
  const double e = elapsed_seconds();
  return e > 0 ? double(done_) / e : 0.0;
}

void ProgressBar::update(int64_t n, const std::string& fields) {
  done_ = std::min(total_, done_ + n);
  if (!fields.empty()) fields_ = fields;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && done_ < total_) return;
    last_draw_ = now;
    draw(false);
  } else {
    // Without a terminal: one line per 10% so logs stay readable.
    const int64_t percent = done_ * 10 / total_ * 10;
    if (percent != last_plain_percent_ && percent < 100) {
      last_plain_percent_ = percent;
      draw(false);
    }
  }
}

void ProgressBar::finish(const std::string& fields) {
  if (!fields.empty()) fields_ = fields;
  draw(true);
}

void ProgressBar::draw(bool final) {
  constexpr int kWidth = 24;
  const double frac = double(done_) / double(total_);
  const int filled = int(frac * kWidth);
  const double r = rate();
  const double eta = r > 0 ? double(total_ - done_) / r : INFINITY;
  std::string bar(size_t(filled), '#');
  bar.resize(kWidth, '.');
  const std::string line =
      fmt::format("{} [{}] {:3.0f}% {}/{} | {:.0f} {}/s | {} elapsed, ETA {}{}{}", label_, bar, frac * 100, done_,
                  total_, r, unit_, format_duration(elapsed_seconds()), final ? "0s" : format_duration(eta),
                  fields_.empty() ? "" : " | ", fields_);
  if (tty_) fmt::print(out_, "\r\033[K{}{}", line, final ? "\n" : "");
  else fmt::print(out_, "{}\n", line);
  std::fflush(out_);
}

}  // namespace doppel
