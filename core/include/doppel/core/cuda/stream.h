#pragma once
// CUDA streams and events as owning handles, and StreamGuard, which sets the stream this thread
// launches work on for a device (current_stream in runtime.h).
#include <cuda_runtime_api.h>

namespace doppel::cuda {

// A non-blocking stream on one device (never the legacy null stream). Move-only; the stream is
// destroyed with its last owner, so work must not be left pending on it by callers that care.
class Stream {
 public:
  // A new stream on `device`. `priority`: lower numbers run first (see priority_range()); 0 is
  // the default priority. Out-of-range priorities are clamped by CUDA.
  explicit Stream(int device, int priority = 0);
  // The stream is not owned (current_stream's streams are the runtime's).
  static Stream borrow(int device, cudaStream_t stream);
  ~Stream();
  Stream(Stream&& o) noexcept;
  Stream& operator=(Stream&& o) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  cudaStream_t get() const { return stream_; }
  int device() const { return device_; }
  int priority() const;
  // Blocks until all work queued on the stream has completed.
  void synchronize() const;
  // True when all work queued on the stream has completed (never blocks).
  bool query() const;

  // The device's [least, greatest] priority: greatest is the smallest number.
  struct PriorityRange {
    int least;
    int greatest;
  };
  static PriorityRange priority_range(int device);

 private:
  Stream(int device, cudaStream_t stream, bool owned) : device_(device), stream_(stream), owned_(owned) {}
  void reset() noexcept;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  bool owned_ = false;
};

// An event on one device. With `timing`, elapsed_ms measures between two recorded events.
class Event {
 public:
  explicit Event(int device, bool timing = false);
  ~Event();
  Event(Event&& o) noexcept;
  Event& operator=(Event&& o) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  cudaEvent_t get() const { return event_; }
  int device() const { return device_; }
  // Captures the work queued on `stream` so far (a stream of this event's device).
  void record(cudaStream_t stream);
  // Makes later work on `stream` wait until this event has completed (any device's stream).
  void wait(cudaStream_t stream) const;
  // Blocks until the recorded work has completed.
  void synchronize() const;
  // True when the recorded work has completed, or when nothing was recorded.
  bool query() const;
  // Milliseconds from `start` to this event; both recorded, completed and created with timing.
  float elapsed_ms(const Event& start) const;

 private:
  void reset() noexcept;
  int device_ = 0;
  cudaEvent_t event_ = nullptr;
  bool timing_ = false;
  bool recorded_ = false;
};

// Sets this thread's current stream for the stream's device for the scope (current_stream(d)
// returns it); restores the previous one after. Work that doppel launches for tensors on that
// device goes to it, and allocations made in the scope belong to it.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  StreamGuard(int device, cudaStream_t stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  int device_;
  cudaStream_t previous_;
};

}  // namespace doppel::cuda
