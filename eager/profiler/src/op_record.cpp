#include "doppel/profiler_op_record.h"

#include "doppel/core/allocator.h"
#include "doppel/kernels/implementation_report.h"
#include "flops.h"
#include "recorder.h"

namespace doppel::profiler {

struct OpRecord::State {
  const OpCall* call;
  detail::OpenEvent event;
  Device device = kCPU;  // whose allocator the bytes come from
  int64_t bytes_before = 0;
  std::string implementation;  // the kernel's reports
  std::string* outer_sink = nullptr;
};

namespace {

int64_t bytes_in_use(Device d) { return allocator_for(d).stats().bytes_in_use; }

}  // namespace

OpRecord::OpRecord(EventKind kind, const OpCall& call) : s_(std::make_unique<State>()) {
  Event e;
  e.start_ns = detail::now_ns();
  e.name = op_name(call.op);
  e.kind = kind;
  e.input_shapes.reserve(call.inputs.size());
  e.input_dtypes.reserve(call.inputs.size());
  bool found = false;
  for (const Tensor& t : call.inputs) {
    e.input_shapes.emplace_back(t.defined() ? t.shape() : Shape{});
    e.input_dtypes.emplace_back(t.defined() ? dtype_name(t.dtype()) : "");
    if (t.defined() && !found) {
      s_->device = t.device();
      found = true;
    }
  }
  s_->call = &call;
  s_->bytes_before = bytes_in_use(s_->device);
  s_->outer_sink = implementation_sink();
  implementation_sink() = &s_->implementation;
  s_->event = detail::open_event(std::move(e));
}

void OpRecord::finish(std::span<const Tensor> outputs, std::optional<Backend> backend) {
  const int64_t end = detail::now_ns();
  implementation_sink() = s_->outer_sink;
  const int64_t bytes = bytes_in_use(s_->device) - s_->bytes_before;
  const int64_t flops = detail::op_flops(*s_->call, outputs);
  detail::close_event(s_->event, end, [&](Event& e) {
    e.backend = backend ? backend_name(*backend) : "view";
    e.implementation = !s_->implementation.empty() ? std::move(s_->implementation) : e.backend;
    e.bytes_allocated = bytes;
    e.flops = flops;
  });
  s_.reset();
}

OpRecord::~OpRecord() {
  if (!s_) return;
  implementation_sink() = s_->outer_sink;
  detail::close_event(s_->event, detail::now_ns(), [](Event&) {});
}

}  // namespace doppel::profiler
