#include "recorder.h"

namespace doppel::profiler {

struct RecordFunction::Open {
  detail::OpenEvent event;
};

RecordFunction::RecordFunction(std::string_view name, EventKind kind) {
  if (!enabled()) [[likely]]
    return;
  Event e;
  e.start_ns = detail::now_ns();
  e.name = name;
  e.kind = kind;
  open_ = std::make_unique<Open>(Open{detail::open_event(std::move(e))});
}

RecordFunction::~RecordFunction() {
  if (open_) detail::close_event(open_->event, detail::now_ns(), [](Event&) {});
}

}  // namespace doppel::profiler
