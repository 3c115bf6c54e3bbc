#include "doppel/trainer/metric.h"

#include <fmt/format.h>

#include "doppel/autograd.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::metrics {

void Mean::update(double value, int64_t weight) {
  DOPPEL_CHECK(weight > 0, "Mean.update: weight must be > 0, got {}", weight);
  sum_ += value * double(weight);
  weight_ += weight;
}

double Mean::compute() const {
  DOPPEL_CHECK(weight_ > 0, "Mean.compute: no value was added since the last reset()");
  return sum_ / double(weight_);
}

void Mean::reset() {
  sum_ = 0;
  weight_ = 0;
}

TopKAccuracy::TopKAccuracy(int64_t k) : k_(k) { DOPPEL_CHECK(k >= 1, "TopKAccuracy: k must be >= 1, got {}", k); }

std::string TopKAccuracy::name() const { return fmt::format("top{}_accuracy", k_); }

void TopKAccuracy::update(const Tensor& output, const Tensor& target) {
  if (output.dim() != 2 || target.dim() != 1 || output.size(0) != target.size(0))
    throw ShapeError(
        fmt::format("{}.update: expected output [N, C] and target [N], got output {} and target {}; "
                    "pass the model's class scores and the class indices",
                    name(), shape_str(output.shape()), shape_str(target.shape())));
  if (!is_floating(output.dtype()) || target.dtype() != DType::Int64)
    throw DTypeError(fmt::format("{}.update: expected floating output and int64 target, got {} and {}", name(),
                                 dtype_name(output.dtype()), dtype_name(target.dtype())));
  NoGradGuard no_grad;
  const Tensor scores = output.detach();
  const Tensor target_score = gather(scores, 1, unsqueeze(target, 1));  // [N, 1]; IndexError if out of range
  const Tensor higher = sum(gt(scores, target_score), {1});             // classes scoring above the target
  correct_ += sum(lt(higher, int64_t(k_))).item<int64_t>();
  total_ += target.size(0);
}

double TopKAccuracy::compute() const {
  DOPPEL_CHECK(total_ > 0, "{}.compute: no batch was added since the last reset()", name());
  return double(correct_) / double(total_);
}

void TopKAccuracy::reset() {
  correct_ = 0;
  total_ = 0;
}

std::shared_ptr<Metric> TopKAccuracy::clone() const { return std::make_shared<TopKAccuracy>(k_); }

}  // namespace doppel::metrics
