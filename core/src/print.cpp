// PyTorch-style printing: tensor([[1., 2.], [3., 4.]]), a common width per tensor, fixed or
// scientific notation chosen from the value range, and "..." summaries past 1000 elements.
#include <cmath>
#include <ostream>

#include "doppel/core/tensor.h"

namespace doppel {
namespace {

constexpr int64_t kSummarizeThreshold = 1000;
constexpr int64_t kEdgeItems = 3;

struct Formatter {
  bool floating = false;
  bool integer_valued = true;
  bool sci = false;
  size_t width = 1;

  std::string format(double v) const {
    if (!floating) return fmt::format("{}", int64_t(v));
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (sci) return fmt::format("{:.4e}", v);
    if (integer_valued) return fmt::format("{:.0f}.", v);
    return fmt::format("{:.4f}", v);
  }
};

class Printer {
 public:
  Printer(const Tensor& t) : t_(t), summarize_(t.numel() > kSummarizeThreshold) {
    values_ = t.to_vector<double>();
    strides_ = contiguous_strides(t.shape());
  }

  std::string run() {
    fmt_.floating = is_floating(t_.dtype());
    double max_abs = 0, min_abs = INFINITY;
    visit(0, 0, [&](double v) {
      if (!std::isfinite(v)) return;
      if (v != std::floor(v)) fmt_.integer_valued = false;
      max_abs = std::max(max_abs, std::fabs(v));
      if (v != 0) min_abs = std::min(min_abs, std::fabs(v));
    });
    if (fmt_.floating && !fmt_.integer_valued && (max_abs >= 1e8 || min_abs < 1e-4)) fmt_.sci = true;
    if (fmt_.floating && fmt_.integer_valued && max_abs >= 1e8) fmt_.sci = true;
    visit(0, 0, [&](double v) { fmt_.width = std::max(fmt_.width, fmt_.format(v).size()); });
    std::string out = "tensor(";
    if (t_.dtype() == DType::Bool) bools_ = true;
    body(0, 0, out, 7);
    std::string suffix;
    if (t_.numel() == 0) suffix += fmt::format(", size={}", shape_str(t_.shape()));
    if (t_.dtype() != DType::Float32 && t_.dtype() != DType::Int64 && t_.dtype() != DType::Bool)
      suffix += fmt::format(", dtype={}", dtype_name(t_.dtype()));
    if (!t_.device().is_cpu()) suffix += fmt::format(", device='{}'", t_.device().str());
    return out + suffix + ")";
  }

 private:
  bool skip(int64_t d, int64_t i) const {
    const int64_t n = t_.shape()[size_t(d)];
    return summarize_ && n > 2 * kEdgeItems && i >= kEdgeItems && i < n - kEdgeItems;
  }

  template <typename F>
  void visit(int64_t d, int64_t off, F&& f) {
    if (d == t_.dim()) {
      if (!values_.empty()) f(values_[size_t(off)]);
      return;
    }
    for (int64_t i = 0; i < t_.shape()[size_t(d)]; ++i) {
      if (skip(d, i)) continue;
      visit(d + 1, off + i * strides_[size_t(d)], f);
    }
  }

  std::string elem(double v) const {
    std::string s = bools_ ? (v != 0 ? "True" : "False") : fmt_.format(v);
    return std::string(bools_ ? 0 : fmt_.width - std::min(fmt_.width, s.size()), ' ') + s;
  }

  void body(int64_t d, int64_t off, std::string& out, size_t indent) {
    if (d == t_.dim()) {
      out += elem(values_[size_t(off)]);
      return;
    }
    out += '[';
    const int64_t n = t_.shape()[size_t(d)];
    bool first = true;
    for (int64_t i = 0; i < n; ++i) {
      if (skip(d, i)) {
        if (i == kEdgeItems) out += d + 1 == t_.dim() ? ", ..." : fmt::format(",\n{}...", std::string(indent + 1, ' '));
        continue;
      }
      if (!first) {
        if (d + 1 == t_.dim()) out += ", ";
        else out += "," + std::string(size_t(t_.dim() - d - 1), '\n') + std::string(indent + 1, ' ');
      }
      first = false;
      body(d + 1, off + i * strides_[size_t(d)], out, indent + 1);
    }
    out += ']';
  }

  const Tensor& t_;
  bool summarize_;
  bool bools_ = false;
  std::vector<double> values_;
  Strides strides_;
  Formatter fmt_;
};

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  DOPPEL_CHECK_DEVICE(device().is_cpu(), "print: tensor is on {}; move it to the cpu to print it", device().str());
  return Printer(*this).run();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace doppel
