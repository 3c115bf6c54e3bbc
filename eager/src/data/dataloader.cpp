#include "doppel/data/dataloader.h"

#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <numeric>
#include <thread>

#include "doppel/kernels/philox.h"

namespace doppel::data {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Independent streams per (seed, epoch, purpose, batch): hashing (not adding) keeps nearby
// seeds from producing shifted copies of each other's orders.
uint64_t mix(uint64_t seed, uint64_t epoch, uint64_t purpose, uint64_t batch) {
  return splitmix64(splitmix64(splitmix64(seed) ^ epoch) ^ (purpose << 56 | batch));
}

// Copies `src` into the contiguous memory at `dst` (one memcpy when `src` is contiguous).
void copy_into(char* dst, const Tensor& src) {
  if (src.numel() == 0) return;
  if (src.is_contiguous()) {
    std::memcpy(dst, src.raw_data(), src.nbytes());
    return;
  }
  Tensor d = from_blob(dst, src.shape(), contiguous_strides(src.shape()), src.dtype(), src.device());
  copy_strided(d, src);
}

Tensor stack(const std::vector<Example>& ex, Tensor Example::*field, std::string_view what, bool pin_memory) {
  const Tensor& first = ex[0].*field;
  if (!first.defined()) {
    for (const auto& e : ex)
      DOPPEL_CHECK(!(e.*field).defined(), "collate: some examples have a {} and others do not", what);
    return {};
  }
  Shape shape{int64_t(ex.size())};
  for (int64_t d : first.shape()) shape.push_back(d);
  Tensor out = pin_memory ? make_pinned_tensor(shape, first.dtype()) : make_tensor(shape, first.dtype());
  const size_t nbytes = first.nbytes();
  auto* dst = static_cast<char*>(out.raw_data());
  for (size_t i = 0; i < ex.size(); ++i) {
    const Tensor& t = ex[i].*field;
    DOPPEL_CHECK(t.defined(), "collate: example {} has no {} but example 0 does", i, what);
    DOPPEL_CHECK_DEVICE(t.device().is_cpu(), "collate: example {} {} is on {}; datasets must return CPU tensors", i,
                        what, t.device().str());
    DOPPEL_CHECK_SHAPE(t.shape() == first.shape(),
                       "collate: example {} {} has shape {} but example 0 has {}; all examples of a batch must "
                       "match (crop or pad them in a transform)",
                       i, what, shape_str(t.shape()), shape_str(first.shape()));
    DOPPEL_CHECK_DTYPE(t.dtype() == first.dtype(), "collate: example {} {} is {} but example 0 is {}", i, what,
                       dtype_name(t.dtype()), dtype_name(first.dtype()));
    copy_into(dst + i * nbytes, t);
  }
  return out;
}

}  // namespace

Batch collate(const std::vector<Example>& examples, bool pin_memory) {
  DOPPEL_CHECK(!examples.empty(), "collate: no examples");
  return {stack(examples, &Example::data, "data", pin_memory), stack(examples, &Example::target, "target", pin_memory)};
}

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  DOPPEL_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
  DOPPEL_CHECK(options_.batch_size > 0, "DataLoader: batch_size must be positive, got {}", options_.batch_size);
  DOPPEL_CHECK(options_.prefetch >= 0, "DataLoader: prefetch must be >= 0, got {}", options_.prefetch);
  DOPPEL_CHECK_DEVICE(!options_.pin_memory || cuda_device_count() > 0,
                      "DataLoader: pin_memory needs a CUDA device, and {}; leave pin_memory off",
                      cuda_compiled() ? "none is available" : "doppel was built without CUDA");
}

size_t DataLoader::size() const {
  const size_t n = dataset_->size(), b = size_t(options_.batch_size);
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<size_t> DataLoader::indices(uint64_t epoch) const {
  std::vector<size_t> order(dataset_->size());
  std::iota(order.begin(), order.end(), size_t(0));
  if (!options_.shuffle) return order;
  // Fisher-Yates driven by Philox: the same permutation on every platform for a (seed, epoch).
  Philox ph(mix(options_.seed, epoch, 1, 0), 0);
  for (size_t i = order.size(); i > 1; --i) {
    const auto w = ph.next();
    const uint64_t r = (uint64_t(w[0]) << 32) | w[1];
    __extension__ using u128 = unsigned __int128;
    const size_t j = size_t(u128(r) * i >> 64);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

namespace {

Batch make_batch(const Dataset& ds, const DataLoaderOptions& opt, const std::vector<size_t>& order, uint64_t epoch,
                 size_t b) {
  const size_t begin = b * size_t(opt.batch_size);
  const size_t end = std::min(order.size(), begin + size_t(opt.batch_size));
  DOPPEL_INTERNAL_ASSERT(begin < end);
  std::vector<Example> ex;
  ex.reserve(end - begin);
  Generator gen(mix(opt.seed, epoch, 2, b));
  for (size_t k = begin; k < end; ++k) {
    Example e = ds.get(order[k]);
    if (opt.transform) e.data = opt.transform(e.data, gen);
    ex.push_back(std::move(e));
  }
  return collate(ex, opt.pin_memory);
}

}  // namespace

Batch DataLoader::batch(uint64_t epoch, size_t b) const {
  DOPPEL_CHECK_INDEX(b < size(), "DataLoader::batch: batch {} is out of range for {} batches", b, size());
  return make_batch(*dataset_, options_, indices(epoch), epoch, b);
}

// One epoch's iteration: the order, and (with prefetch) a producer thread filling a bounded queue.
struct DataLoader::EpochState {
  std::shared_ptr<const Dataset> dataset;
  DataLoaderOptions options;
  uint64_t epoch;
  std::vector<size_t> order;
  size_t num_batches;
  size_t next = 0;  // next batch the consumer takes

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Batch> queue;
  std::exception_ptr error;
  size_t produced = 0;
  bool stop = false;
  std::thread producer;

  ~EpochState() {
    if (producer.joinable()) {
      {
        std::lock_guard<std::mutex> lk(mu);
        stop = true;
      }
      cv.notify_all();
      producer.join();
    }
  }

  void run_producer() {
    try {
      for (size_t b = 0; b < num_batches; ++b) {
        {
          std::unique_lock<std::mutex> lk(mu);
          cv.wait(lk, [&] { return stop || queue.size() < size_t(options.prefetch); });
          if (stop) return;
        }
        Batch batch = make_batch(*dataset, options, order, epoch, b);
        {
          std::lock_guard<std::mutex> lk(mu);
          queue.push_back(std::move(batch));
          ++produced;
        }
        cv.notify_all();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu);
      error = std::current_exception();
      cv.notify_all();
    }
  }

  Batch take() {
    if (options.prefetch == 0) return make_batch(*dataset, options, order, epoch, next++);
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [&] { return !queue.empty() || error; });
    // Batches made before a failure are still delivered in order; the error comes after them.
    if (queue.empty()) std::rethrow_exception(error);
    Batch b = std::move(queue.front());
    queue.pop_front();
    ++next;
    lk.unlock();
    cv.notify_all();
    return b;
  }
};

DataLoader::Iterator DataLoader::begin() {
  auto st = std::make_shared<EpochState>();
  st->dataset = dataset_;
  st->options = options_;
  st->epoch = epoch_++;
  st->order = indices(st->epoch);
  st->num_batches = size();
  if (options_.prefetch > 0 && st->num_batches > 0) st->producer = std::thread([p = st.get()] { p->run_producer(); });
  return Iterator(std::move(st));
}

DataLoader::Iterator::Iterator(std::shared_ptr<EpochState> state) : state_(std::move(state)) {
  done_ = false;
  fetch();
}

void DataLoader::Iterator::fetch() {
  if (state_->next >= state_->num_batches) {
    done_ = true;
    current_ = {};
    state_.reset();  // stops and joins the producer now rather than when the iterator dies
    return;
  }
  current_ = state_->take();
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  if (!done_) fetch();
  return *this;
}

}  // namespace doppel::data
