// The CUDA library kernels (kernels/cuda/libraries) against the reference kernels on the CPU:
// matmul in every rank case (1-d, batched, broadcast batches that fold into one product or loop,
// transposed and strided operands), linear and fused_linear with every activation (epilogues
// and the fallback after the product, NaN propagation), convolution in 1-3 spatial dims with
// groups, dilation, stride, padding and transposed with output_padding, its backward passes
// per output mask, fused_conv2d (cuDNN's fused path and the composed one), the pooling ops,
// layer_norm and batch_norm (training, eval, running statistics), forward and backward. Every supported dtype. Skipped
// without a CUDA device.
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <cmath>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "gpu/gpu_compare.h"
#include "support/gpu.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kFloatTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};

// float32 products accumulate in float32 without TF32; convolutions may take Winograd/FFT
// algorithms, whose rounding differs more from the direct loop.
Tolerance tolerance(DType dtype, bool conv = false) {
  if (dtype == DType::Float32) return conv ? Tolerance{1e-3, 5e-4} : Tolerance{2e-4, 1e-4};
  if (dtype == DType::Float64) return {1e-10, 1e-10};
  return default_tolerance(dtype);
}

Tensor transposed(const Tensor& t) { return t.transpose(-1, -2); }

TEST_CASE("cuda matmul: rank cases, broadcast batches, transposed and strided operands", "[gpu][cuda][libraries]") {
  DOPPEL_REQUIRE_GPU();
  for (DType dt : kFloatTypes) {
    INFO("dtype " << dtype_name(dt));
    auto in = [&](IntList s, uint64_t seed) { return make_input(s, dt, seed); };
    const std::vector<std::pair<Tensor, Tensor>> cases = {
        {in({5, 7}, 1), in({7, 3}, 2)},                                  // 2-d
        {in({7}, 3), in({7, 3}, 4)},                                     // 1-d @ 2-d
        {in({5, 7}, 5), in({7}, 6)},                                     // 2-d @ 1-d
        {in({7}, 7), in({7}, 8)},                                        // dot
        {in({4, 5, 7}, 9), in({7, 3}, 10)},                              // broadcast b: one taller product
        {in({4, 5, 7}, 11), in({4, 7, 3}, 12)},                          // batched
        {in({2, 1, 5, 7}, 13), in({3, 7, 4}, 14)},                       // broadcast batch dims: a loop
        {in({3, 7}, 15), in({2, 4, 7, 6}, 16)},                          // broadcast a
        {transposed(in({7, 5}, 17)), in({7, 3}, 18)},                    // a transposed view
        {in({5, 7}, 19), transposed(in({3, 7}, 20))},                    // b transposed view
        {transposed(in({4, 7, 5}, 21)), transposed(in({4, 3, 7}, 22))},  // both, batched
        {in({64, 96}, 23), in({96, 80}, 24)},                            // larger
        {in({3, 0}, 25), in({0, 4}, 26)},                                // K = 0: zeros
        {in({0, 7}, 27), in({7, 4}, 28)},                                // empty output
    };
    for (const auto& [a, b] : cases) {
      INFO("a " << shape_str(a.shape()) << " strides " << shape_str(a.strides()) << ", b " << shape_str(b.shape()));
      check_against_reference(OpId::matmul, {a, b}, {}, tolerance(dt));
    }
  }
}

TEST_CASE("cuda linear: batched inputs, transposed weights, bias", "[gpu][cuda][libraries]") {
  DOPPEL_REQUIRE_GPU();
  for (DType dt : kFloatTypes) {
    INFO("dtype " << dtype_name(dt));
    const Tensor w = make_input({6, 10}, dt, 1), b = make_input({6}, dt, 2);
    const Tensor wt = transposed(make_input({10, 6}, dt, 3));
    for (const Tensor& x : {make_input({4, 10}, dt, 4), make_input({2, 3, 10}, dt, 5), make_input({10}, dt, 6),
                            transposed(make_input({10, 4}, dt, 7))}) {
      INFO("x " << shape_str(x.shape()) << " strides " << shape_str(x.strides()));
      check_against_reference(OpId::linear, {x, w}, {}, tolerance(dt));
      check_against_reference(OpId::linear, {x, w, b}, {}, tolerance(dt));
      check_against_reference(OpId::linear, {x, wt, b}, {}, tolerance(dt));
    }
    check_against_reference(OpId::linear, {make_input({4, 0}, dt, 8), make_input({6, 0}, dt, 9), b}, {}, tolerance(dt));  // K = 0
  }
}

TEST_CASE("cuda fused_linear: every activation, epilogue or not, NaNs propagate", "[gpu][cuda][libraries]") {
  DOPPEL_REQUIRE_GPU();
  for (DType dt : kFloatTypes) {
    Tensor x = make_input({9, 12}, dt, 1).to(DType::Float64);
    x.data_ptr<double>()[5] = std::nan("");  // row 0 becomes NaN everywhere
    x = x.to(dt);
    const Tensor w = make_input({8, 12}, dt, 2), b = make_input({8}, dt, 3);
    for (int64_t a = 0; a < kNumFusedActivations; ++a) {
      INFO("dtype " << dtype_name(dt) << " activation " << a);
      const Attrs attrs = FusedLinearAttrs{.activation = a, .alpha = 0.2, .beta = 20.0}.pack();
      check_against_reference(OpId::fused_linear, {x, w, b}, attrs, tolerance(dt));
      check_against_reference(OpId::fused_linear, {x, w}, attrs, tolerance(dt));
    }
  }
}

TEST_CASE("cuda matmul: TF32 is off by default (float32 accuracy)", "[gpu][cuda][libraries]") {
  DOPPEL_REQUIRE_GPU();
  // K = 4096 products of values in [0, 1): TF32's 10-bit mantissa would be off by ~1e-3.
  const Tensor a = make_input({32, 4096}, DType::Float32, 1, 0, 1), b = make_input({4096, 32}, DType::Float32, 2, 0, 1);
  check_against_reference(OpId::matmul, {a, b}, {}, {2e-5, 0});
}

struct ConvCase {
  Shape x, w;
  Shape stride, pad, dil;
  int64_t groups;
  bool transposed;
  Shape out_pad;
};

const std::vector<ConvCase> kConvCases = {
    {{2, 3, 17}, {4, 3, 3}, {1}, {1}, {1}, 1, false, {0}},                                     // 1-d
    {{2, 4, 9, 8}, {6, 4, 3, 3}, {1, 1}, {0, 0}, {1, 1}, 1, false, {0, 0}},                    // 2-d
    {{2, 4, 11, 10}, {6, 2, 3, 2}, {2, 1}, {1, 2}, {2, 1}, 2, false, {0, 0}},                  // groups, dilation
    {{1, 6, 9, 9}, {6, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1}, 6, false, {0, 0}},                    // depthwise
    {{2, 2, 5, 6, 7}, {4, 2, 3, 3, 2}, {1, 2, 1}, {1, 0, 1}, {1, 1, 2}, 1, false, {0, 0, 0}},  // 3-d
    {{2, 4, 5, 6}, {4, 3, 3, 3}, {2, 2}, {1, 1}, {1, 1}, 1, true, {1, 0}},                     // transposed
    {{1, 4, 5, 5}, {4, 2, 3, 2}, {2, 3}, {0, 1}, {1, 2}, 2, true, {1, 1}},                     // transposed, groups
    {{2, 3, 8}, {3, 2, 4}, {3}, {1}, {1}, 1, true, {2}},                                       // transposed 1-d
};

ConvolutionAttrs conv_of(const ConvCase& c) {
  return {.stride = c.stride,
          .padding = c.pad,
          .dilation = c.dil,
          .groups = c.groups,
          .transposed = c.transposed,
          .output_padding = c.out_pad};
}
Attrs conv_attrs(const ConvCase& c) { return conv_of(c).pack(); }

int64_t out_channels(const ConvCase& c) { return c.transposed ? c.w[1] * c.groups : c.w[0]; }

TEST_CASE("cuda convolution: 1-3 spatial dims, groups, dilation, stride, padding, transposed",
          "[gpu][cuda][libraries]") {
  DOPPEL_REQUIRE_GPU();
  for (DType dt : kFloatTypes)
    for (const ConvCase& c : kConvCases) {
      INFO("dtype " << dtype_name(dt) << " x " << shape_str(c.x) << " w " << shape_str(c.w) << " transposed "
                    << c.transposed);
      const Tensor x = make_input(c.x, dt, 1), w = make_input(c.w, dt, 2), b = make_input({out_channels(c)}, dt, 3);
      check_against_reference(OpId::convolution, {x, w}, conv_attrs(c), tolerance(dt, true));
      check_against_reference(OpId::convolution, {x, w, b}, conv_attrs(c), tolerance(dt, true));
    }
}

TEST_CASE("cuda convolution_backward: data, filter and bias per the output mask", "[gpu][cuda][libraries]") {
  DOPPEL_REQUIRE_GPU();
  for (DType dt : kFloatTypes)
    for (const ConvCase& c : kConvCases) {
      INFO("dtype " << dtype_name(dt) << " x " << shape_str(c.x) << " w " << shape_str(c.w) << " transposed "
                    << c.transposed);
      const Tensor x = make_input(c.x, dt, 1), w = make_input(c.w, dt, 2);
      Tensor y;
      {
        ForceBackendGuard g(Backend::Reference);
        y = dispatch(OpId::convolution, {x, w}, conv_attrs(c))[0];
      }
      const Tensor go = make_input(y.shape(), dt, 3);
      for (const Shape& mask : {Shape{1, 1, 1}, Shape{1, 0, 0}, Shape{0, 1, 0}, Shape{0, 0, 1}}) {
        const Attrs attrs = backward_attrs(conv_of(c), mask).pack();
        INFO("mask " << shape_str(mask));
        check_against_reference(OpId::convolution_backward, {go, x, w}, attrs, tolerance(dt, true));
      }
    }
}

TEST_CASE("cuda fused_conv2d: cuDNN's fused relu, residuals and other activations", "[gpu][cuda][libraries]") {
  DOPPEL_REQUIRE_GPU();
  for (DType dt : kFloatTypes) {
    Tensor x = make_input({2, 4, 9, 9}, dt, 1).to(DType::Float64);
    x.data_ptr<double>()[7] = std::nan("");
    x = x.to(dt);
    const Tensor w = make_input({6, 2, 3, 3}, dt, 2), b = make_input({6}, dt, 3);
    const Tensor r = make_input({2, 6, 5, 9}, dt, 4);
    for (int64_t a = 0; a < kNumFusedActivations; ++a) {
      INFO("dtype " << dtype_name(dt) << " activation " << a);
      const Attrs attrs = FusedConv2dAttrs{.stride = {2, 1},
                                           .padding = {1, 1},
                                           .dilation = {1, 1},
                                           .groups = 2,
                                           .activation = a,
                                           .alpha = 0.2,
                                           .beta = 20.0}
                              .pack();
      check_against_reference(OpId::fused_conv2d, {x, w, b}, attrs, tolerance(dt, true));
      check_against_reference(OpId::fused_conv2d, {x, w, b, r}, attrs, tolerance(dt, true));
      check_against_reference(OpId::fused_conv2d, {x, w, Tensor(), r}, attrs, tolerance(dt, true));
    }
  }
}

TEST_CASE("cuda pooling: max, avg and adaptive avg, forward and backward", "[gpu][cuda][libraries]") {
  DOPPEL_REQUIRE_GPU();
  for (DType dt : kFloatTypes) {
    INFO("dtype " << dtype_name(dt));
    // Few distinct values: ties, where max pooling's gradient goes to the first maximum.
    Tensor x = make_input({2, 3, 11, 10}, DType::Float64, 1, 0, 4).to(DType::Int64).to(DType::Float64);
    x.data_ptr<double>()[13] = std::nan("");
    x = x.to(dt);
    const Tensor x3 = make_input({3, 7, 9}, dt, 2);  // [C, H, W]
    auto max_attrs = [](Shape k, Shape s, Shape p, Shape d, bool ceil) {
      return MaxPoolAttrs{.kernel_size = k, .stride = s, .padding = p, .dilation = d, .ceil_mode = ceil}.pack();
    };
    auto avg_attrs = [](Shape k, Shape s, Shape p, bool ceil, bool include_pad, std::optional<int64_t> div) {
      return AvgPoolAttrs{.kernel_size = k,
                          .stride = s,
                          .padding = p,
                          .ceil_mode = ceil,
                          .count_include_pad = include_pad,
                          .divisor_override = div}
          .pack();
    };
    for (const Tensor& in : {x, x3}) {
      for (const Attrs& a : {max_attrs({2}, {}, {}, {}, false), max_attrs({3, 2}, {2, 1}, {1, 1}, {2, 1}, true),
                             max_attrs({3}, {2}, {1}, {1}, true)}) {
        check_against_reference(OpId::max_pool2d, {in}, a, tolerance(dt));
        Tensor y;
        {
          ForceBackendGuard g(Backend::Reference);
          y = dispatch(OpId::max_pool2d, {in}, a)[0];
        }
        check_against_reference(OpId::max_pool2d_backward, {make_input(y.shape(), dt, 3), in}, a, tolerance(dt));
      }
      for (const Attrs& a :
           {avg_attrs({2}, {}, {}, false, true, std::nullopt), avg_attrs({3}, {2}, {1}, true, true, std::nullopt),
            avg_attrs({3}, {2}, {1}, true, false, std::nullopt), avg_attrs({3, 2}, {2, 3}, {1, 1}, false, true, 5)}) {
        check_against_reference(OpId::avg_pool2d, {in}, a, tolerance(dt));
        Tensor y;
        {
          ForceBackendGuard g(Backend::Reference);
          y = dispatch(OpId::avg_pool2d, {in}, a)[0];
        }
        check_against_reference(OpId::avg_pool2d_backward, {make_input(y.shape(), dt, 4), in}, a, tolerance(dt));
      }
      for (const Shape& size : {Shape{1}, Shape{3, 4}, Shape{5}, Shape{13, 12}}) {  // incl. upsampling
        const Attrs a = AdaptivePoolAttrs{.output_size = size}.pack();
        check_against_reference(OpId::adaptive_avg_pool2d, {in}, a, tolerance(dt));
        Tensor y;
        {
          ForceBackendGuard g(Backend::Reference);
          y = dispatch(OpId::adaptive_avg_pool2d, {in}, a)[0];
        }
        check_against_reference(OpId::adaptive_avg_pool2d_backward, {make_input(y.shape(), dt, 5), in}, a, tolerance(dt));
      }
    }
  }
}

TEST_CASE("cuda layer_norm: forward and backward per output mask", "[gpu][cuda][libraries]") {
  DOPPEL_REQUIRE_GPU();
  for (DType dt : kFloatTypes) {
    INFO("dtype " << dtype_name(dt));
    for (const auto& [shape, normalized] : std::vector<std::pair<Shape, Shape>>{
             {{4, 10}, {10}}, {{2, 3, 4, 5}, {4, 5}}, {{3, 1000}, {1000}}, {{2, 5000}, {5000}}, {{7}, {7}}}) {
      INFO("shape " << shape_str(shape) << " normalized " << shape_str(normalized));
      // An offset mean, so a naive E[x^2] - E[x]^2 variance would lose digits.
      const Tensor x = make_input(shape, dt, 1, 90, 110), w = make_input(normalized, dt, 2),
                   b = make_input(normalized, dt, 3);
      const Attrs attrs = LayerNormAttrs{.normalized_shape = normalized, .eps = 1e-5}.pack();
      check_against_reference(OpId::layer_norm, {x, w, b}, attrs, tolerance(dt));
      check_against_reference(OpId::layer_norm, {x}, attrs, tolerance(dt));
      OpOutputs fwd;
      {
        ForceBackendGuard g(Backend::Reference);
        fwd = dispatch(OpId::layer_norm, {x, w, b}, attrs);
      }
      const Tensor go = make_input(shape, dt, 4);
      for (const Shape& mask : {Shape{1, 1, 1}, Shape{1, 0, 0}, Shape{0, 1, 1}}) {
        INFO("mask " << shape_str(mask));
        const Attrs bw = LayerNormBackwardAttrs{.normalized_shape = normalized, .output_mask = mask}.pack();
        check_against_reference(OpId::layer_norm_backward, {go, x, fwd[1], fwd[2], w}, bw, tolerance(dt));
        check_against_reference(OpId::layer_norm_backward, {go, x, fwd[1], fwd[2]}, bw, tolerance(dt));
      }
    }
  }
}

TEST_CASE("cuda batch_norm: training with running statistics, eval, backward", "[gpu][cuda][libraries]") {
  DOPPEL_REQUIRE_GPU();
  for (DType dt : kFloatTypes) {
    INFO("dtype " << dtype_name(dt));
    for (const Shape& shape : {Shape{4, 3, 5, 6}, Shape{8, 5}, Shape{2, 4, 3, 2, 2}, Shape{64, 2, 33, 17}}) {
      INFO("shape " << shape_str(shape));
      const int64_t C = shape[1];
      const Tensor x = make_input(shape, dt, 1, 40, 60), w = make_input({C}, dt, 2), b = make_input({C}, dt, 3);
      // Running statistics in float32 (as BatchNorm keeps them) and in the input's dtype.
      for (DType rt : {DType::Float32, dt}) {
        const Tensor rm = make_input({C}, rt, 4), rv = make_input({C}, rt, 5, 0.5, 2);
        for (const bool training : {true, false}) {
          INFO("training " << training << " running dtype " << dtype_name(rt));
          const Attrs attrs = BatchNormAttrs{.training = training, .momentum = 0.1, .eps = 1e-5}.pack();
          check_against_reference(OpId::batch_norm, {x, w, b, rm, rv}, attrs, tolerance(dt));
          if (training)
            check_against_reference(OpId::batch_norm, {x, Tensor(), Tensor(), Tensor(), Tensor()}, attrs,
                                    tolerance(dt));
          OpOutputs fwd;
          {
            ForceBackendGuard g(Backend::Reference);
            fwd = dispatch(OpId::batch_norm, {x, w, b, rm, rv}, attrs);
          }
          const Tensor go = make_input(shape, dt, 6);
          for (const Shape& mask : {Shape{1, 1, 1}, Shape{1, 0, 0}, Shape{0, 1, 1}}) {
            INFO("mask " << shape_str(mask));
            const Attrs bw = BatchNormBackwardAttrs{.training = training, .output_mask = mask}.pack();
            check_against_reference(OpId::batch_norm_backward, {go, x, fwd[1], fwd[2], w}, bw, tolerance(dt));
            check_against_reference(OpId::batch_norm_backward, {go, x, fwd[1], fwd[2]}, bw, tolerance(dt));
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace doppel::testing
