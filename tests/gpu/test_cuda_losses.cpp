// The CUDA losses against the reference kernels on the CPU: every sample of the loss ops' specs
// (contiguous and strided), out-of-range class indices, and sizes that take every launch path
// (more classes than a warp, many samples, 3-d scores, all targets ignored, long elementwise
// reductions), and class weights refused with DeviceError. Skipped without a CUDA device.
#include <fmt/format.h>
#include <catch2/catch_test_macros.hpp>

#include "doppel/dispatch.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/loss.h"
#include "gpu/gpu_compare.h"
#include "support/gpu.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const OpId kOps[] = {OpId::cross_entropy,
                     OpId::nll_loss,
                     OpId::mse_loss,
                     OpId::l1_loss,
                     OpId::smooth_l1_loss,
                     OpId::binary_cross_entropy_with_logits,
                     OpId::cross_entropy_backward,
                     OpId::nll_loss_backward};

TEST_CASE("cuda losses: every spec sample matches the reference", "[gpu][cuda][loss]") {
  DOPPEL_REQUIRE_GPU();
  auto specs = specs_by_op();
  for (OpId op : kOps) {
    const OpSpec& spec = specs.at(op);
    for (DType dtype : spec.dtypes) {
      const Tolerance tol = gpu_tolerance(dtype, spec.tolerance ? spec.tolerance(dtype) : Tolerance{});
      for (const Sample& s : spec.samples(dtype)) {
        INFO(fmt::format("op {} dtype {} sample {}", op_name(op), dtype_name(dtype), describe(s)));
        if (has_class_weights(op, s.inputs)) {
          std::vector<Tensor> on_gpu;
          for (const Tensor& t : s.inputs) on_gpu.push_back(cuda_copy(t));
          CHECK_THROWS_AS(dispatch(op, on_gpu, s.attrs), DeviceError);
          continue;
        }
        check_against_reference(op, s.inputs, s.attrs, tol);
      }
    }
  }
}

Attrs ce_attrs(int64_t reduction, int64_t ignore_index, double smoothing) {
  return CrossEntropyAttrs{.reduction = reduction, .ignore_index = ignore_index, .label_smoothing = smoothing}.pack();
}

TEST_CASE("cuda losses: out-of-range class indices raise IndexError naming the op", "[gpu][cuda][loss]") {
  DOPPEL_REQUIRE_GPU();
  const Tensor x = make_input({4, 3}, DType::Float32, 31);
  for (const int64_t bad : {int64_t(3), int64_t(-1), int64_t(1) << 40}) {
    Tensor t = make_input({4}, DType::Int64, 32, 0, 3);
    t.data_ptr<int64_t>()[2] = bad;
    const Tensor dx = cuda_copy(x), dt = cuda_copy(t);
    const auto message = [&](OpId op, std::vector<Tensor> in, const Attrs& attrs) {
      return error_message<IndexError>([&] { dispatch(op, in, attrs); });
    };
    CHECK(message(OpId::cross_entropy, {dx, dt}, ce_attrs(1, -100, 0.0)).find("cross_entropy") != std::string::npos);
    CHECK(
        message(OpId::nll_loss, {dx, dt}, NllLossAttrs{.reduction = 2, .ignore_index = -100}.pack()).find("nll_loss") !=
        std::string::npos);
    const Tensor g = cuda_copy(make_input({}, DType::Float32, 33));
    CHECK(message(OpId::cross_entropy_backward, {g, dx, dt}, ce_attrs(1, -100, 0.1)).find("cross_entropy_backward") !=
          std::string::npos);
  }
  // The device is still usable afterwards: a valid call runs.
  check_against_reference(OpId::cross_entropy, {x, make_input({4}, DType::Int64, 34, 0, 3)}, ce_attrs(1, -100, 0.0),
                          {});
}

TEST_CASE("cuda losses: many samples, wide rows, 3-d scores, ignored targets, long reductions", "[gpu][cuda][loss]") {
  DOPPEL_REQUIRE_GPU();
  using loss_attrs::Reduction;
  for (DType dtype : {DType::Float32, DType::Float64, DType::BFloat16}) {
    const Tolerance tol = gpu_tolerance(dtype, {1e-3, 1e-3});
    const std::vector<std::pair<Shape, Shape>> class_shapes = {
        {{1000}, {}}, {{5, 1000}, {5}}, {{4097, 7}, {4097}}, {{3, 33, 5, 6}, {3, 5, 6}}, {{2, 0}, {2}}};
    for (const auto& [xs, ts] : class_shapes) {
      const int64_t C = xs.size() == 1 ? xs[0] : xs[1];
      const Tensor x = make_input(xs, dtype, 41);
      Tensor t = make_input(ts, DType::Int64, 42, 0, double(std::max<int64_t>(C, 1)));
      if (C == 0) t = make_input(ts, DType::Int64, 42, 1, 1.5);  // every sample ignored (ignore_index 1)
      const Tensor p = make_input(xs, dtype, 43, 0, 1);
      for (int64_t red : {0, 1, 2}) {
        INFO(fmt::format("dtype {} scores {} reduction {}", dtype_name(dtype), shape_str(xs), red));
        const Attrs attrs = ce_attrs(red, 1, 0.2);  // ignore_index 1: some samples are ignored
        check_against_reference(OpId::cross_entropy, {x, t}, attrs, tol);
        check_against_reference(OpId::nll_loss, {x, t}, NllLossAttrs{.reduction = red, .ignore_index = 1}.pack(), tol);
        const Shape gs = Reduction(red) == Reduction::None ? ts : Shape{};
        const Tensor g = make_input(gs, dtype, 44);
        check_against_reference(OpId::cross_entropy_backward, {g, x, t}, attrs, tol);
        check_against_reference(OpId::nll_loss_backward, {g, x, t},
                                NllLossAttrs{.reduction = red, .ignore_index = 1}.pack(), tol);
        if (C > 0) {
          check_against_reference(OpId::cross_entropy, {x, p}, attrs, tol);
          check_against_reference(OpId::cross_entropy_backward, {make_input(gs, dtype, 45), x, p}, attrs, tol);
        }
      }
    }
    for (const Shape& s : {Shape{}, Shape{31}, Shape{1025, 3}, Shape{1 << 20}}) {
      const Tensor x = make_input(s, dtype, 51), y = make_input(s, dtype, 52, 0, 1);
      for (int64_t red : {0, 1, 2}) {
        INFO(fmt::format("dtype {} shape {} reduction {}", dtype_name(dtype), shape_str(s), red));
        check_against_reference(OpId::mse_loss, {x, y}, LossAttrs{.reduction = red}.pack(), tol);
        check_against_reference(OpId::l1_loss, {x, y}, LossAttrs{.reduction = red}.pack(), tol);
        check_against_reference(OpId::smooth_l1_loss, {x, y}, SmoothL1Attrs{.reduction = red, .beta = 0.5}.pack(), tol);
        check_against_reference(OpId::binary_cross_entropy_with_logits, {x, y}, LossAttrs{.reduction = red}.pack(),
                                tol);
        if (!s.empty())
          check_against_reference(OpId::binary_cross_entropy_with_logits,
                                  {x, y, make_input({s.back()}, dtype, 53, 0.5, 2)}, LossAttrs{.reduction = red}.pack(),
                                  tol);
      }
    }
  }
}

}  // namespace
}  // namespace doppel::testing
