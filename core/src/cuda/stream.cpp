// Stream, Event and StreamGuard (stream.h) over the CUDA runtime.
#include "doppel/core/cuda/stream.h"

#include <utility>

#include "doppel/core/cuda/runtime.h"
#include "doppel/core/error.h"

namespace doppel::cuda {

Stream::Stream(int device, int priority) : device_(device), owned_(true) {
  DeviceGuard guard(device);
  DOPPEL_CUDA_CHECK(cudaStreamCreateWithPriority(&stream_, cudaStreamNonBlocking, priority));
}

Stream Stream::borrow(int device, cudaStream_t stream) { return Stream(device, stream, false); }

Stream::~Stream() { reset(); }

Stream::Stream(Stream&& o) noexcept
    : device_(o.device_), stream_(std::exchange(o.stream_, nullptr)), owned_(std::exchange(o.owned_, false)) {}

Stream& Stream::operator=(Stream&& o) noexcept {
  if (this != &o) {
    reset();
    device_ = o.device_;
    stream_ = std::exchange(o.stream_, nullptr);
    owned_ = std::exchange(o.owned_, false);
  }
  return *this;
}

void Stream::reset() noexcept {
  // cudaStreamDestroy returns at once; queued work still completes. Errors (a driver already
  // shut down at exit) cannot be reported from a destructor.
  if (owned_ && stream_) (void)cudaStreamDestroy(stream_);
  stream_ = nullptr;
  owned_ = false;
}

int Stream::priority() const {
  int p = 0;
  DOPPEL_CUDA_CHECK(cudaStreamGetPriority(stream_, &p));
  return p;
}

void Stream::synchronize() const { DOPPEL_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

bool Stream::query() const {
  const cudaError_t err = cudaStreamQuery(stream_);
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  DOPPEL_CUDA_CHECK(err);
  return true;
}

Stream::PriorityRange Stream::priority_range(int device) {
  DeviceGuard guard(device);
  PriorityRange r{0, 0};
  DOPPEL_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&r.least, &r.greatest));
  return r;
}

Event::Event(int device, bool timing) : device_(device), timing_(timing) {
  DeviceGuard guard(device);
  DOPPEL_CUDA_CHECK(cudaEventCreateWithFlags(&event_, timing ? cudaEventDefault : cudaEventDisableTiming));
}

Event::~Event() { reset(); }

Event::Event(Event&& o) noexcept
    : device_(o.device_),
      event_(std::exchange(o.event_, nullptr)),
      timing_(o.timing_),
      recorded_(std::exchange(o.recorded_, false)) {}

Event& Event::operator=(Event&& o) noexcept {
  if (this != &o) {
    reset();
    device_ = o.device_;
    event_ = std::exchange(o.event_, nullptr);
    timing_ = o.timing_;
    recorded_ = std::exchange(o.recorded_, false);
  }
  return *this;
}

void Event::reset() noexcept {
  if (event_) (void)cudaEventDestroy(event_);  // cannot throw from a destructor
  event_ = nullptr;
  recorded_ = false;
}

void Event::record(cudaStream_t stream) {
  DOPPEL_CHECK_DEVICE(event_ != nullptr, "Event::record: the event was moved from");
  DeviceGuard guard(device_);
  DOPPEL_CUDA_CHECK(cudaEventRecord(event_, stream));
  recorded_ = true;
}

void Event::wait(cudaStream_t stream) const {
  if (!recorded_) return;  // nothing to wait for, as in cudaStreamWaitEvent on a fresh event
  DOPPEL_CUDA_CHECK(cudaStreamWaitEvent(stream, event_, 0));
}

void Event::synchronize() const {
  if (recorded_) DOPPEL_CUDA_CHECK(cudaEventSynchronize(event_));
}

bool Event::query() const {
  if (!recorded_) return true;
  const cudaError_t err = cudaEventQuery(event_);
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  DOPPEL_CUDA_CHECK(err);
  return true;
}

float Event::elapsed_ms(const Event& start) const {
  DOPPEL_CHECK_DEVICE(timing_ && start.timing_, "Event::elapsed_ms: both events must be created with timing = true");
  DOPPEL_CHECK_DEVICE(recorded_ && start.recorded_, "Event::elapsed_ms: record both events first");
  float ms = 0;
  DOPPEL_CUDA_CHECK(cudaEventElapsedTime(&ms, start.event_, event_));
  return ms;
}

StreamGuard::StreamGuard(const Stream& stream) : StreamGuard(stream.device(), stream.get()) {}

StreamGuard::StreamGuard(int device, cudaStream_t stream)
    : device_(device), previous_(exchange_current_stream(device, stream)) {}

StreamGuard::~StreamGuard() { (void)exchange_current_stream(device_, previous_); }

}  // namespace doppel::cuda
