// Dynamic batching of a ServedModel's run function (see batcher.h).
#include "doppel/serve/batcher.h"

#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

namespace doppel::serve {

std::optional<std::string> batching_unsupported(const ServedModel& model) {
  if (model.inputs.empty()) return "the model has no inputs";
  const std::string& symbol = model.inputs[0].symbols.empty() ? std::string() : model.inputs[0].symbols[0];
  for (const auto* group : {&model.inputs, &model.outputs})
    for (const auto& t : *group)
      if (t.shape.empty() || t.shape[0] >= 0 || t.symbols.empty() || t.symbols[0] != symbol)
        return fmt::format(
            "'{}' has no symbolic first dimension shared by every input and output (export the model with a dynamic "
            "batch dimension)",
            t.name);
  return std::nullopt;
}

namespace {

using Clock = std::chrono::steady_clock;
using RunFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// One request waiting in the queue; the batch thread fills in the result.
struct Pending {
  std::vector<Tensor> inputs;
  int64_t rows = 0;
  Clock::time_point arrived;
  std::vector<Tensor> outputs;
  std::exception_ptr error;
  bool done = false;
};

// Requests that can be concatenated: same dtypes and same shapes past dimension 0.
bool compatible(const Pending& a, const Pending& b) {
  if (a.inputs.size() != b.inputs.size()) return false;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const Tensor &x = a.inputs[i], &y = b.inputs[i];
    if (x.dtype() != y.dtype() || x.dim() != y.dim() || x.dim() == 0) return false;
    for (int64_t d = 1; d < x.dim(); ++d)
      if (x.size(d) != y.size(d)) return false;
  }
  return true;
}

// The number of rows of a request, or -1 when its inputs do not share one dimension 0 (such a
// request runs alone and the model reports what is wrong).
int64_t rows_of(const std::vector<Tensor>& inputs) {
  int64_t rows = -1;
  for (const Tensor& t : inputs) {
    if (t.dim() == 0 || (rows >= 0 && t.size(0) != rows)) return -1;
    rows = t.size(0);
  }
  return rows;
}

Tensor concat_rows(const std::vector<std::shared_ptr<Pending>>& batch, size_t input, int64_t rows) {
  const Tensor& first = batch[0]->inputs[input];
  Shape shape = first.shape();
  shape[0] = rows;
  Tensor out = make_tensor(shape, first.dtype());
  auto* dst = static_cast<char*>(out.raw_data());
  for (const auto& p : batch) {
    const Tensor c = contiguous_of(p->inputs[input]);
    if (c.nbytes()) std::memcpy(dst, c.raw_data(), c.nbytes());
    dst += c.nbytes();
  }
  return out;
}

Tensor slice_rows(const Tensor& t, int64_t begin, int64_t count) {
  Shape shape = t.shape();
  shape[0] = count;
  Tensor out = make_tensor(shape, t.dtype());
  const size_t row_bytes = t.size(0) ? t.nbytes() / size_t(t.size(0)) : 0;
  if (count)
    std::memcpy(out.raw_data(), static_cast<const char*>(t.raw_data()) + size_t(begin) * row_bytes,
                size_t(count) * row_bytes);
  return out;
}

class Batcher {
 public:
  Batcher(RunFn run, BatchingOptions options, std::function<void(int64_t)> on_batch)
      : run_(std::move(run)), options_(options), on_batch_(std::move(on_batch)) {
    DOPPEL_CHECK(options_.max_batch_size >= 1, "batching: max_batch_size must be at least 1, got {}",
                 options_.max_batch_size);
    DOPPEL_CHECK(options_.num_batch_threads >= 1, "batching: num_batch_threads must be at least 1");
    for (int i = 0; i < options_.num_batch_threads; ++i) threads_.emplace_back([this] { loop(); });
  }

  ~Batcher() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    queue_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  std::vector<Tensor> run(const std::vector<Tensor>& inputs) {
    const int64_t rows = rows_of(inputs);
    if (rows < 0 || rows > options_.max_batch_size) return run_(inputs);  // runs alone
    auto p = std::make_shared<Pending>();
    p->inputs = inputs;
    p->rows = rows;
    p->arrived = Clock::now();
    std::unique_lock lock(mutex_);
    queue_.push_back(p);
    queue_cv_.notify_all();
    done_cv_.wait(lock, [&] { return p->done; });
    if (p->error) std::rethrow_exception(p->error);
    return std::move(p->outputs);
  }

 private:
  void loop() {
    while (true) {
      std::vector<std::shared_ptr<Pending>> batch = next_batch();
      if (batch.empty()) return;
      execute(batch);
      {
        std::lock_guard lock(mutex_);
        for (auto& p : batch) p->done = true;
      }
      done_cv_.notify_all();
    }
  }

  // Waits for a first request, then for more compatible ones until the batch is full or the
  // first one has waited batch_timeout_micros. Empty when stopping.
  std::vector<std::shared_ptr<Pending>> next_batch() {
    std::unique_lock lock(mutex_);
    while (true) {
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return {};  // stopping, and every request was answered
      const std::shared_ptr<Pending> first = queue_.front();
      const auto deadline = first->arrived + std::chrono::microseconds(options_.batch_timeout_micros);
      auto rows_ready = [&] {
        int64_t rows = 0;
        for (const auto& p : queue_)
          if (compatible(*p, *first)) rows += p->rows;
        return rows;
      };
      while (!stopping_ && rows_ready() < options_.max_batch_size &&
             queue_cv_.wait_until(lock, deadline) != std::cv_status::timeout) {
      }
      if (queue_.empty() || queue_.front() != first) continue;  // another batch thread took it
      std::vector<std::shared_ptr<Pending>> batch;
      int64_t rows = 0;
      for (auto it = queue_.begin(); it != queue_.end();) {
        if (compatible(**it, *first) && rows + (*it)->rows <= options_.max_batch_size) {
          rows += (*it)->rows;
          batch.push_back(*it);
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
      queue_cv_.notify_all();  // another batch thread waiting on this batch's first request starts anew
      return batch;
    }
  }

  void execute(const std::vector<std::shared_ptr<Pending>>& batch) {
    if (on_batch_) on_batch_(int64_t(batch.size()));
    if (batch.size() == 1) return run_alone(*batch[0]);
    int64_t rows = 0;
    for (const auto& p : batch) rows += p->rows;
    std::vector<Tensor> merged;
    for (size_t i = 0; i < batch[0]->inputs.size(); ++i) merged.push_back(concat_rows(batch, i, rows));
    std::vector<Tensor> outputs;
    try {
      outputs = run_(merged);
      for (const Tensor& o : outputs)
        DOPPEL_CHECK_SHAPE(o.dim() >= 1 && o.size(0) == rows,
                           "batching: an output of the merged run has shape {}, not {} rows", shape_str(o.shape()),
                           rows);
    } catch (...) {
      for (const auto& p : batch) run_alone(*p);  // the error reaches only the request that caused it
      return;
    }
    std::vector<Tensor> dense;
    for (const Tensor& o : outputs) dense.push_back(contiguous_of(o));
    int64_t begin = 0;
    for (const auto& p : batch) {
      for (const Tensor& o : dense) p->outputs.push_back(slice_rows(o, begin, p->rows));
      begin += p->rows;
    }
  }

  void run_alone(Pending& p) {
    try {
      p.outputs = run_(p.inputs);
    } catch (...) {
      p.error = std::current_exception();
    }
  }

  RunFn run_;
  BatchingOptions options_;
  std::function<void(int64_t)> on_batch_;
  std::mutex mutex_;
  std::condition_variable queue_cv_, done_cv_;
  std::deque<std::shared_ptr<Pending>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

ServedModel with_batching(ServedModel model, const BatchingOptions& options, std::function<void(int64_t)> on_batch) {
  const auto why = batching_unsupported(model);
  DOPPEL_CHECK(!why, "batching: {}", why.value_or(""));
  auto batcher = std::make_shared<Batcher>(std::move(model.run), options, std::move(on_batch));
  model.run = [batcher](const std::vector<Tensor>& inputs) { return batcher->run(inputs); };
  return model;
}

}  // namespace doppel::serve
