#pragma once
// The gradient reducer of DistributedDataParallel (PyTorch's c10d::Reducer): it packs the
// parameters' gradients into buckets and all-reduces (averages) each bucket asynchronously as soon
// as backward() has accumulated every gradient in it, so communication overlaps the rest of the
// backward pass; when backward() has processed its graph it waits for the buckets and writes the
// averaged gradients back into the parameters' .grad().
//
// Buckets: parameters in reverse registration order (the order backward produces their gradients
// in), a new bucket once one holds `bucket_cap_mb` (the first: 1 MiB, so communication starts
// early), one dtype per bucket. Buckets are all-reduced in bucket order on every rank, so the
// ranks' collectives match.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "doppel/core/tensor.h"
#include "doppel/distributed/process_group.h"

namespace doppel::distributed {

// PyTorch's DDP defaults (torch.distributed._DEFAULT_FIRST_BUCKET_BYTES and bucket_cap_mb = 25).
inline constexpr int64_t kDefaultFirstBucketBytes = int64_t(1) << 20;
inline constexpr double kDefaultBucketCapMb = 25.0;

// PyTorch's compute_bucket_assignment_by_size: tensors visited in the given order, each joins the
// open bucket of its dtype; a bucket closes once it holds >= its limit (bucket k of a dtype gets
// limits[min(k, limits.size() - 1)] bytes). Returns tensor indices per bucket, ordered by the
// position of each bucket's first tensor (bench/ddp_bucket_sim.py's `buckets` for one dtype).
std::vector<std::vector<size_t>> compute_bucket_assignment_by_size(const std::vector<int64_t>& bytes,
                                                                   const std::vector<DType>& dtypes,
                                                                   const std::vector<int64_t>& limits);

struct ReducerOptions {
  double bucket_cap_mb = kDefaultBucketCapMb;
  // Parameters that get no gradient in a backward pass: an error (false, PyTorch's default, raised
  // by the next prepare_for_backward) or reduced as zeros (true; parameters no rank used keep
  // their .grad() untouched).
  bool find_unused_parameters = false;
  Group group;
};

class Reducer {
 public:
  // `params`: leaves that require grad, with their names for error messages.
  Reducer(std::vector<Tensor> params, std::vector<std::string> names, ReducerOptions options = {});
  ~Reducer();
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  // Called by the forward pass whose backward must synchronise gradients: raises ValueError
  // (PyTorch's message, naming the parameters) when the previous one's reduction did not finish
  // because some parameters got no gradient.
  void prepare_for_backward();
  // Parameter indices per bucket (into `params`), in the order buckets are all-reduced.
  const std::vector<std::vector<size_t>>& buckets() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace doppel::distributed
