#pragma once
// The registration functions of kernels/cuda/reduce_index, one per file of kernels, called by
// cuda_reduction_indexing_kernels() (registration.cpp).
namespace doppel::registration {

void cuda_reduction_kernels();   // reduce.cpp: reductions, softmax and their backward ops
void cuda_indexing_kernels();    // index.cpp: indexing, joining and view-backward ops
void cuda_group_norm_kernels();  // group_norm.cpp: group_norm and its backward
void cuda_loss_kernels();        // loss.cpp: the losses and the backward ops of cross_entropy, nll_loss
void cuda_sorting_kernels();     // sorting.cpp: topk, sort, multinomial, tril, triu

}  // namespace doppel::registration
