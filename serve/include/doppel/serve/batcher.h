#pragma once
// Dynamic batching (TF Serving's --enable_batching, Triton's dynamic batcher): requests that
// arrive together are concatenated along the batch dimension (dimension 0 of every input and
// output, symbolic in the signature), run as one model call and split back.
//
// A request waits at most `batch_timeout_micros` for others to join it; a batch closes early
// once it holds `max_batch_size` rows. Only requests whose inputs agree in dtype and in every
// dimension but the first are merged (the others wait for a batch of their own); a request
// with more rows than max_batch_size runs alone. When a merged run fails, each request of the
// batch is run alone, so that an error reaches only the request that caused it.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "doppel/serve/server.h"

namespace doppel::serve {

struct BatchingOptions {
  int64_t max_batch_size = 32;          // rows per model run
  int64_t batch_timeout_micros = 1000;  // how long the first request of a batch waits for more
  int num_batch_threads = 1;            // batches formed and run concurrently
};

// Why `model`'s signature cannot be batched (no symbolic dimension 0 shared by every input and
// output), or nullopt when it can.
std::optional<std::string> batching_unsupported(const ServedModel& model);

// `model` with its run function replaced by a batching one (batching_unsupported(model) must be
// nullopt). `on_batch(n)` is called with the number of requests merged into each model run.
ServedModel with_batching(ServedModel model, const BatchingOptions& options, std::function<void(int64_t)> on_batch);

}  // namespace doppel::serve
