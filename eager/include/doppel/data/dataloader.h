#pragma once
// DataLoader: batches a Dataset, optionally shuffled and transformed, with batches prepared
// ahead by a background thread.
//
//   data::DataLoader loader(dataset, {.batch_size = 64, .shuffle = true, .seed = 1});
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const data::Batch& b : loader) train_step(b.data, b.target);
//
// Each range-for (each begin()) starts a new epoch. The order and the augmentation of epoch e
// depend only on (seed, e), never on timing or on `prefetch`, so runs are reproducible.
#include <cstdint>
#include <iterator>
#include <memory>
#include <vector>

#include "doppel/data/dataset.h"
#include "doppel/data/transforms.h"

namespace doppel::data {

struct Batch {
  Tensor data;    // [B, ...example data shape]
  Tensor target;  // [B, ...example target shape] ([B] for scalar labels); undefined if unlabeled
};

struct DataLoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = false;
  uint64_t seed = 0;
  // Drop the last batch when it would be smaller than batch_size.
  bool drop_last = false;
  // Batches prepared ahead by a background thread; 0 builds each batch on the caller's thread.
  int64_t prefetch = 2;
  // Applied to each example's data before batching (with a per-batch Generator).
  Transform transform;
  // Batches in pinned host memory, so that copying them to a CUDA device (batch.data.to(cuda),
  // copy_) is asynchronous. Needs a CUDA device (DeviceError otherwise).
  bool pin_memory = false;
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});

  // Batches per epoch.
  size_t size() const;
  const DataLoaderOptions& options() const { return options_; }
  const std::shared_ptr<const Dataset>& dataset() const { return dataset_; }

  // The epoch the next begin() starts (0 at first; each begin() increments it).
  uint64_t epoch() const { return epoch_; }
  void set_epoch(uint64_t epoch) { epoch_ = epoch; }

  // The example order of `epoch` (identity without shuffle).
  std::vector<size_t> indices(uint64_t epoch) const;
  // Batch `b` of `epoch`, exactly as iteration yields it.
  Batch batch(uint64_t epoch, size_t b) const;

  struct EpochState;
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = const Batch*;
    using reference = const Batch&;

    Iterator() = default;
    explicit Iterator(std::shared_ptr<EpochState> state);
    const Batch& operator*() const { return current_; }
    const Batch* operator->() const { return &current_; }
    Iterator& operator++();
    void operator++(int) { ++*this; }
    friend bool operator==(const Iterator& it, std::default_sentinel_t) { return it.done_; }

   private:
    void fetch();
    std::shared_ptr<EpochState> state_;
    Batch current_;
    bool done_ = true;
  };

  // Starts the next epoch (and its prefetch thread).
  Iterator begin();
  std::default_sentinel_t end() const { return {}; }

 private:
  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  uint64_t epoch_ = 0;
};

// Stacks examples into a batch (all must have the same data/target shapes and dtypes).
// Contiguous examples are copied with one memcpy each; with pin_memory, into pinned host memory.
Batch collate(const std::vector<Example>& examples, bool pin_memory = false);

}  // namespace doppel::data
