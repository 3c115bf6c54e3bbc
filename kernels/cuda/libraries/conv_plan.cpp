#include "cuda/libraries/conv_plan.h"

#include <fmt/format.h>

#include <climits>
#include <memory>
#include <vector>

#include "cuda/libraries/algo_cache.h"
#include "cuda/libraries/library_common.h"

namespace doppel::cuda {

ConvShape conv_shape(DType dtype, IntList cx, IntList w, IntList cy, IntList pad, IntList stride, IntList dilation,
                     int64_t groups) {
  ConvShape s{dtype, Shape(cx), Shape(w), Shape(cy), Shape(pad), Shape(stride), Shape(dilation), groups};
  if (s.pad.size() == 1) {
    // [N, C, L] as [N, C, 1, L].
    for (Shape* d : {&s.cx, &s.w, &s.cy}) d->insert(2, 1);
    s.pad.insert(0, 0);
    s.stride.insert(0, 1);
    s.dilation.insert(0, 1);
  }
  return s;
}

namespace {

struct TensorDeleter {
  void operator()(cudnnTensorDescriptor_t d) const { (void)cudnnDestroyTensorDescriptor(d); }
};
struct FilterDeleter {
  void operator()(cudnnFilterDescriptor_t d) const { (void)cudnnDestroyFilterDescriptor(d); }
};
struct ConvDeleter {
  void operator()(cudnnConvolutionDescriptor_t d) const { (void)cudnnDestroyConvolutionDescriptor(d); }
};
struct ActivationDeleter {
  void operator()(cudnnActivationDescriptor_t d) const { (void)cudnnDestroyActivationDescriptor(d); }
};
using TensorDesc = std::unique_ptr<cudnnTensorStruct, TensorDeleter>;
using FilterDesc = std::unique_ptr<cudnnFilterStruct, FilterDeleter>;
using ConvDesc = std::unique_ptr<cudnnConvolutionStruct, ConvDeleter>;
using ActivationDesc = std::unique_ptr<cudnnActivationStruct, ActivationDeleter>;

std::vector<int> int_dims(IntList v, const char* what) {
  std::vector<int> out;
  for (int64_t x : v) {
    DOPPEL_CHECK_SHAPE(x <= INT_MAX, "convolution (cuDNN): {} {} has a dim over 2^31-1", what, shape_str(v));
    out.push_back(int(x));
  }
  return out;
}

// A packed NCHW tensor descriptor.
TensorDesc tensor_desc(DType t, IntList dims) {
  cudnnTensorDescriptor_t d = nullptr;
  DOPPEL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
  TensorDesc desc(d);
  const std::vector<int> n = int_dims(dims, "tensor");
  std::vector<int> strides(n.size());
  int64_t s = 1;
  for (size_t i = n.size(); i-- > 0;) {
    DOPPEL_CHECK_SHAPE(s <= INT_MAX, "convolution (cuDNN): tensor {} has over 2^31-1 elements", shape_str(dims));
    strides[i] = int(s);
    s *= n[i];
  }
  DOPPEL_CUDNN_CHECK(cudnnSetTensorNdDescriptor(d, cudnn_data_type(t), int(n.size()), n.data(), strides.data()));
  return desc;
}

// The tensor descriptor of a per-channel vector [C] as [1, C, 1, ...] for `rank` dims.
TensorDesc channel_desc(DType t, int64_t channels, size_t rank) {
  Shape dims(rank, 1);
  dims[1] = channels;
  return tensor_desc(t, dims);
}

// What a pass chose, and the descriptors it runs with (read-only once made).
struct ConvPlan {
  TensorDesc cx, cy;
  FilterDesc w;
  ConvDesc conv;
  int algo = 0;  // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t of the pass
  size_t workspace = 0;
};

AlgoCache<ConvPlan>& plan_cache() {
  static AlgoCache<ConvPlan> cache;
  return cache;
}

std::string describe(const ConvShape& s) {
  return fmt::format("{} input {} filter {} output {} padding {} stride {} dilation {} groups {}", dtype_name(s.dtype),
                     shape_str(s.cx), shape_str(s.w), shape_str(s.cy), shape_str(s.pad), shape_str(s.stride),
                     shape_str(s.dilation), s.groups);
}

const char* pass_name(ConvPass p) {
  switch (p) {
    case ConvPass::forward:
      return "forward";
    case ConvPass::backward_data:
      return "backward data";
    case ConvPass::backward_filter:
      return "backward filter";
  }
  return "?";
}

// Whether an algorithm's math type is allowed: float32 uses no tensor cores (TF32) unless
// allowed; everything else takes what the heuristics rank first.
bool math_ok(DType t, cudnnMathType_t m) { return t != DType::Float32 || allow_tf32() || m != CUDNN_TENSOR_OP_MATH; }

// The math type the descriptor runs with once `m` was chosen.
cudnnMathType_t run_math(DType t, cudnnMathType_t m) {
  return t == DType::Float32 && !allow_tf32() ? CUDNN_FMA_MATH : m;
}

// The first ranked result that succeeded with an allowed math type.
template <typename Perf>
const Perf* pick(const Perf* perf, int n, DType t) {
  for (int i = 0; i < n; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && math_ok(t, perf[i].mathType)) return &perf[i];
  return nullptr;
}

ConvPlan make_plan(const ConvShape& s, ConvPass pass, cudnnHandle_t h) {
  ConvPlan p;
  p.cx = tensor_desc(s.dtype, s.cx);
  p.cy = tensor_desc(s.dtype, s.cy);
  cudnnFilterDescriptor_t f = nullptr;
  DOPPEL_CUDNN_CHECK(cudnnCreateFilterDescriptor(&f));
  p.w.reset(f);
  const std::vector<int> wd = int_dims(s.w, "filter");
  DOPPEL_CUDNN_CHECK(
      cudnnSetFilterNdDescriptor(f, cudnn_data_type(s.dtype), CUDNN_TENSOR_NCHW, int(wd.size()), wd.data()));
  cudnnConvolutionDescriptor_t c = nullptr;
  DOPPEL_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&c));
  p.conv.reset(c);
  const std::vector<int> pad = int_dims(s.pad, "padding"), stride = int_dims(s.stride, "stride"),
                         dil = int_dims(s.dilation, "dilation");
  // 16-bit floats accumulate in float32, float64 in float64.
  const cudnnDataType_t compute = s.dtype == DType::Float64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  DOPPEL_CUDNN_CHECK(cudnnSetConvolutionNdDescriptor(c, int(pad.size()), pad.data(), stride.data(), dil.data(),
                                                     CUDNN_CROSS_CORRELATION, compute));
  DOPPEL_CUDNN_CHECK(cudnnSetConvolutionGroupCount(c, int(s.groups)));
  DOPPEL_CUDNN_CHECK(cudnnSetConvolutionMathType(c, s.dtype == DType::Float32 && !allow_tf32() ? CUDNN_FMA_MATH
                                                    : s.dtype == DType::Float64                ? CUDNN_DEFAULT_MATH
                                                                                               : CUDNN_TENSOR_OP_MATH));
  int n = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  bool found = false;
  switch (pass) {
    case ConvPass::forward: {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      DOPPEL_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p.cx.get(), p.w.get(), c, p.cy.get(),
                                                                CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
      if (const auto* best = pick(perf, n, s.dtype)) {
        found = true, p.algo = int(best->algo), math = best->mathType;
        DOPPEL_CUDNN_CHECK(cudnnSetConvolutionMathType(c, run_math(s.dtype, math)));
        DOPPEL_CUDNN_CHECK(
            cudnnGetConvolutionForwardWorkspaceSize(h, p.cx.get(), p.w.get(), c, p.cy.get(), best->algo, &p.workspace));
      }
      break;
    }
    case ConvPass::backward_data: {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      DOPPEL_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w.get(), p.cy.get(), c, p.cx.get(),
                                                                     CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
      if (const auto* best = pick(perf, n, s.dtype)) {
        found = true, p.algo = int(best->algo), math = best->mathType;
        DOPPEL_CUDNN_CHECK(cudnnSetConvolutionMathType(c, run_math(s.dtype, math)));
        DOPPEL_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w.get(), p.cy.get(), c, p.cx.get(),
                                                                        best->algo, &p.workspace));
      }
      break;
    }
    case ConvPass::backward_filter: {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      DOPPEL_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
          h, p.cx.get(), p.cy.get(), c, p.w.get(), CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
      if (const auto* best = pick(perf, n, s.dtype)) {
        found = true, p.algo = int(best->algo), math = best->mathType;
        DOPPEL_CUDNN_CHECK(cudnnSetConvolutionMathType(c, run_math(s.dtype, math)));
        DOPPEL_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p.cx.get(), p.cy.get(), c, p.w.get(),
                                                                          best->algo, &p.workspace));
      }
      break;
    }
  }
  DOPPEL_CHECK_DEVICE(found, "convolution (cuDNN): no {} algorithm for {}; try float32 or other parameters",
                      pass_name(pass), describe(s));
  return p;
}

std::shared_ptr<const ConvPlan> plan_for(const ConvShape& s, ConvPass pass, int device, cudnnHandle_t h) {
  AlgoKey key(OpId::convolution, device);
  key.add(int64_t(pass)).add(int64_t(s.dtype)).add(IntList(s.cx)).add(IntList(s.w)).add(IntList(s.cy));
  key.add(IntList(s.pad)).add(IntList(s.stride)).add(IntList(s.dilation)).add(s.groups).add(int64_t(allow_tf32()));
  return plan_cache().get(key, [&] { return make_plan(s, pass, h); });
}

// alpha = 1 and beta = 0 in the scaling type of the dtype (double for float64, else float).
struct Scaling {
  float f1 = 1.f, f0 = 0.f;
  double d1 = 1.0, d0 = 0.0;
  bool f64;
  explicit Scaling(DType t) : f64(t == DType::Float64) {}
  const void* one() const { return f64 ? static_cast<const void*>(&d1) : static_cast<const void*>(&f1); }
  const void* zero() const { return f64 ? static_cast<const void*>(&d0) : static_cast<const void*>(&f0); }
};

}  // namespace

void run_conv(const ConvShape& s, ConvPass pass, void* cx, void* w, void* cy, Device device) {
  const DeviceGuard guard(device.index);
  const cudnnHandle_t h = cudnn_handle(device.index, current_stream(device.index));
  const auto plan = plan_for(s, pass, device.index, h);
  // The workspace returns to the stream-ordered allocator after the call; later work on the
  // stream is ordered after this one.
  const Tensor ws = workspace(plan->workspace, device);
  void* ws_ptr = ws.defined() ? ws.raw_data() : nullptr;
  const Scaling k(s.dtype);
  switch (pass) {
    case ConvPass::forward:
      DOPPEL_CUDNN_CHECK(cudnnConvolutionForward(h, k.one(), plan->cx.get(), cx, plan->w.get(), w, plan->conv.get(),
                                                 cudnnConvolutionFwdAlgo_t(plan->algo), ws_ptr, plan->workspace,
                                                 k.zero(), plan->cy.get(), cy));
      break;
    case ConvPass::backward_data:
      DOPPEL_CUDNN_CHECK(cudnnConvolutionBackwardData(h, k.one(), plan->w.get(), w, plan->cy.get(), cy,
                                                      plan->conv.get(), cudnnConvolutionBwdDataAlgo_t(plan->algo),
                                                      ws_ptr, plan->workspace, k.zero(), plan->cx.get(), cx));
      break;
    case ConvPass::backward_filter:
      DOPPEL_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, k.one(), plan->cx.get(), cx, plan->cy.get(), cy,
                                                        plan->conv.get(), cudnnConvolutionBwdFilterAlgo_t(plan->algo),
                                                        ws_ptr, plan->workspace, k.zero(), plan->w.get(), w));
      break;
  }
}

void run_conv_bias_relu(const ConvShape& s, const void* cx, const void* w, const void* bias, const void* z, void* cy,
                        Device device) {
  DOPPEL_INTERNAL_ASSERT(s.dtype == DType::Float32);
  const DeviceGuard guard(device.index);
  const cudnnHandle_t h = cudnn_handle(device.index, current_stream(device.index));
  const auto plan = plan_for(s, ConvPass::forward, device.index, h);
  const Tensor ws = workspace(plan->workspace, device);
  cudnnActivationDescriptor_t a = nullptr;
  DOPPEL_CUDNN_CHECK(cudnnCreateActivationDescriptor(&a));
  const ActivationDesc act(a);
  DOPPEL_CUDNN_CHECK(cudnnSetActivationDescriptor(a, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0));
  const TensorDesc bias_desc = channel_desc(s.dtype, s.cy[1], s.cy.size());
  const float one = 1.f;
  // Without a residual, z is the output buffer zeroed first (a 0 weight on uninitialized memory
  // could still read a NaN into the sum).
  if (!z) {
    int64_t n = 1;
    for (int64_t d : s.cy) n *= d;
    DOPPEL_CUDA_CHECK(cudaMemsetAsync(cy, 0, size_t(n) * sizeof(float), current_stream(device.index)));
  }
  DOPPEL_CUDNN_CHECK(cudnnConvolutionBiasActivationForward(
      h, &one, plan->cx.get(), cx, plan->w.get(), w, plan->conv.get(), cudnnConvolutionFwdAlgo_t(plan->algo),
      ws.defined() ? ws.raw_data() : nullptr, plan->workspace, &one, plan->cy.get(), z ? z : cy, bias_desc.get(), bias,
      act.get(), plan->cy.get(), cy));
}

}  // namespace doppel::cuda
