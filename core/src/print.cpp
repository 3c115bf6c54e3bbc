// PyTorch-style printing, matching torch's default print options: tensor([[1., 2.], [3., 4.]]), a
// common width per tensor, fixed or scientific notation chosen from the value range, lines
// wrapped at 80 columns, and "..." summaries past 1000 elements. dtypes print as doppel names
// (dtype=float64, not torch.float64).
#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "doppel/core/tensor.h"

namespace doppel {
namespace {

// PyTorch's print options (torch.set_printoptions defaults).
constexpr int64_t kSummarizeThreshold = 1000;
constexpr int64_t kEdgeItems = 3;
constexpr int64_t kLineWidth = 80;

// Mirrors torch/_tensor_str.py's _Formatter: the width and notation come only from the nonzero
// finite values, so zeros, nan and inf never widen a column.
struct Formatter {
  bool floating = false;
  bool boolean = false;
  bool int_mode = true;
  bool sci = false;
  size_t width = 1;

  std::string format(double v) const {
    if (boolean) return v != 0 ? "True" : "False";
    if (!floating) return fmt::format("{}", int64_t(v));
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (sci) return fmt::format("{:.4e}", v);
    if (int_mode) return fmt::format("{:.0f}.", v);
    return fmt::format("{:.4f}", v);
  }
  std::string padded(double v) const {
    std::string s = format(v);
    return std::string(width - std::min(width, s.size()), ' ') + s;
  }
};

class Printer {
 public:
  Printer(const Tensor& t) : t_(t), summarize_(t.numel() > kSummarizeThreshold) {
    values_ = t.to_vector<double>();
    strides_ = contiguous_strides(t.shape());
  }

  std::string run() {
    // Suffixes in PyTorch's order: device, then size (empty tensors), then dtype. float32 is the
    // default dtype; int64 and bool are implied by the printed values unless there are none.
    std::string suffix;
    if (!t_.device().is_cpu()) suffix += fmt::format(", device='{}'", t_.device().str());
    const DType dt = t_.dtype();
    if (t_.numel() == 0) {
      if (t_.dim() != 1) {
        std::string sz = "(";
        for (int64_t d = 0; d < t_.dim(); ++d) sz += fmt::format("{}{}", d ? ", " : "", t_.shape()[size_t(d)]);
        suffix += ", size=" + sz + ")";
      }
      if (dt != DType::Float32) suffix += fmt::format(", dtype={}", dtype_name(dt));
      return "tensor([]" + suffix + ")";
    }
    if (dt != DType::Float32 && dt != DType::Int64 && dt != DType::Bool)
      suffix += fmt::format(", dtype={}", dtype_name(dt));
    init_formatter();
    std::string out = "tensor(";
    if (t_.dim() == 0)
      out += fmt_.padded(values_[0]);
    else
      body(0, 0, out, 7);
    return out + suffix + ")";
  }

 private:
  void init_formatter() {
    fmt_.floating = is_floating(t_.dtype());
    fmt_.boolean = t_.dtype() == DType::Bool;
    if (!fmt_.floating) {
      visit(0, 0, [&](double v) { fmt_.width = std::max(fmt_.width, fmt_.format(v).size()); });
      return;
    }
    double max_abs = 0, min_abs = INFINITY;
    bool any = false;
    visit(0, 0, [&](double v) {
      if (!std::isfinite(v) || v == 0) return;
      any = true;
      if (v != std::ceil(v)) fmt_.int_mode = false;
      max_abs = std::max(max_abs, std::fabs(v));
      min_abs = std::min(min_abs, std::fabs(v));
    });
    if (!any) return;
    fmt_.sci = max_abs / min_abs > 1000.0 || max_abs > 1.0e8 || (!fmt_.int_mode && min_abs < 1.0e-4);
    visit(0, 0, [&](double v) {
      if (std::isfinite(v) && v != 0) fmt_.width = std::max(fmt_.width, fmt_.format(v).size());
    });
  }

  bool skip(int64_t d, int64_t i) const {
    const int64_t n = t_.shape()[size_t(d)];
    return summarize_ && n > 2 * kEdgeItems && i >= kEdgeItems && i < n - kEdgeItems;
  }

  template <typename F>
  void visit(int64_t d, int64_t off, F&& f) {
    if (d == t_.dim()) {
      f(values_[size_t(off)]);
      return;
    }
    for (int64_t i = 0; i < t_.shape()[size_t(d)]; ++i) {
      if (skip(d, i)) continue;
      visit(d + 1, off + i * strides_[size_t(d)], f);
    }
  }

  // The innermost dim: elements wrapped at the line width, " ..." standing for skipped ones.
  void vector(int64_t off, std::string& out, size_t indent) {
    const int64_t d = t_.dim() - 1, n = t_.shape()[size_t(d)];
    std::vector<std::string> items;
    for (int64_t i = 0; i < n; ++i) {
      if (skip(d, i)) {
        if (i == kEdgeItems) items.push_back(" ...");
        continue;
      }
      items.push_back(fmt_.padded(values_[size_t(off + i * strides_[size_t(d)])]));
    }
    const size_t per_line = size_t(std::max<int64_t>(1, (kLineWidth - int64_t(indent)) / int64_t(fmt_.width + 2)));
    out += '[';
    for (size_t k = 0; k < items.size(); ++k) {
      if (k) out += k % per_line == 0 ? ",\n" + std::string(indent + 1, ' ') : ", ";
      out += items[k];
    }
    out += ']';
  }

  void body(int64_t d, int64_t off, std::string& out, size_t indent) {
    if (d + 1 == t_.dim()) {
      vector(off, out, indent);
      return;
    }
    const std::string sep = "," + std::string(size_t(t_.dim() - d - 1), '\n') + std::string(indent + 1, ' ');
    out += '[';
    const int64_t n = t_.shape()[size_t(d)];
    for (int64_t i = 0; i < n; ++i) {
      if (skip(d, i)) {
        if (i == kEdgeItems) out += sep + "...";
        continue;
      }
      if (i) out += sep;
      body(d + 1, off + i * strides_[size_t(d)], out, indent + 1);
    }
    out += ']';
  }

  const Tensor& t_;
  bool summarize_;
  std::vector<double> values_;
  Strides strides_;
  Formatter fmt_;
};

}  // namespace

std::string Tensor::str(SourceLoc loc) const {
  if (!defined()) return "tensor(undefined)";
  DOPPEL_CHECK_DEVICE(device().is_cpu(), "print: tensor is on {}; move it to the cpu to print it", device().str());
  if (auto hook = detail::value_read_hook()) hook(*this, "print", loc);
  return Printer(*this).run();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace doppel
