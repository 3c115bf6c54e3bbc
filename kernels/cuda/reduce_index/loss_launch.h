#pragma once
// The launch interface of the CUDA loss kernels (loss.cu), shared with their host glue
// (loss.cpp): plain types only. Arithmetic is in float for the 16-bit floats and float32, in
// double for float64. Sums over samples are fixed-order block reductions, so results are
// deterministic. A class index outside [0, C) other than ignore_index is recorded in an
// IndexFault (index_launch.h) and its sample contributes nothing.
#include "cuda/common/cuda_common.cuh"
#include "cuda/reduce_index/index_launch.h"

namespace doppel::cuda {

// The geometry of a class loss: `samples` rows of `classes` scores. Sample i, class k of the
// scores (and of a probability target, and of the backward's output) is at
// x_ix.offset(i * classes + k) of the row-ordered view (sample dims row-major, then the class
// dim). target_ix: an index target's class of sample i at target_ix.offset(i); a probability
// target's like the scores, at target_ix.offset(i * classes + k).
struct ClassLossArgs {
  int64_t samples = 0, classes = 0;
  StridedIndexer x_ix, target_ix;
  bool index_target = true;  // int64 class indices; else probabilities of the scores' dtype
  int64_t ignore_index = -100;
  double label_smoothing = 0;
  int reduction = 0;  // loss_attrs::Reduction: 0 none, 1 mean, 2 sum
};

// cross_entropy (log_softmax = true) or nll_loss. `out` is contiguous: `samples` losses for
// reduction none, one value otherwise. `scratch` holds samples + 1 values of the accumulation
// type (float, or double for float64) for mean and sum; unused (may be null) for none.
bool launch_class_loss(bool log_softmax, DType dtype, const void* x, const void* target, const ClassLossArgs& a,
                       void* out, void* scratch, IndexFault* fault, cudaStream_t stream);

// cross_entropy_backward (softmax = true) or nll_loss_backward: the scores' gradient written
// through `out_ix` (the output's strides in the row-ordered view). `grad` is read at
// grad_ix.offset(i) for reduction none, at offset 0 otherwise. `scratch`: one accumulation-type
// value (the mean's count).
bool launch_class_loss_backward(bool softmax, DType dtype, const void* grad, const StridedIndexer& grad_ix,
                                const void* x, const void* target, const ClassLossArgs& a, void* out,
                                const StridedIndexer& out_ix, void* scratch, IndexFault* fault, cudaStream_t stream);

enum class PointwiseLoss { Mse, L1, SmoothL1, BceWithLogits };

// The elementwise losses over n elements read row-major through their indexers (pos_weight
// broadcast to the input's shape; null for none). `param`: smooth_l1's beta. `out` contiguous.
// `scratch`: pointwise_loss_scratch(n) accumulation-type values for mean and sum.
bool launch_pointwise_loss(PointwiseLoss loss, DType dtype, const void* x, const StridedIndexer& x_ix, const void* y,
                           const StridedIndexer& y_ix, const void* pos_weight, const StridedIndexer& pw_ix,
                           double param, int reduction, int64_t n, void* out, void* scratch, cudaStream_t stream);
int64_t pointwise_loss_scratch(int64_t n);

}  // namespace doppel::cuda
