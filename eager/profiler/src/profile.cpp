#include "recorder.h"

#include <algorithm>

#include "doppel/core/error.h"
#include "doppel/io/atomic_file.h"

namespace doppel::profiler {

struct Profile::Impl {
  uint64_t session = 0;
  bool recording = true;
  int64_t start_ns = 0, stop_ns = 0;
  std::vector<Event> events;
};

Profile::Profile() : impl_(std::make_unique<Impl>()) {
  impl_->session = detail::start_session();
  impl_->start_ns = detail::now_ns();
}

Profile::~Profile() { stop(); }

void Profile::stop() {
  if (!impl_->recording) return;
  impl_->stop_ns = detail::now_ns();
  impl_->events = detail::stop_session(impl_->session);
  impl_->recording = false;
}

bool Profile::recording() const { return impl_->recording; }

const std::vector<Event>& Profile::events() const {
  DOPPEL_CHECK(!impl_->recording, "profiler: the profile is still recording; call stop() before reading its events");
  return impl_->events;
}

int64_t Profile::wall_ns() const { return (impl_->recording ? detail::now_ns() : impl_->stop_ns) - impl_->start_ns; }

KeyAverages Profile::key_averages() const {
  const std::vector<Event>& ev = events();
  std::vector<int64_t> children_ns(ev.size(), 0);
  for (const Event& e : ev)
    if (e.parent >= 0) children_ns[size_t(e.parent)] += e.duration_ns();
  std::vector<KeyAverage> rows;
  std::vector<std::pair<std::string_view, size_t>> index;  // name -> row, in first-seen order
  for (size_t k = 0; k < ev.size(); ++k) {
    const Event& e = ev[k];
    auto it = std::find_if(index.begin(), index.end(), [&](const auto& p) { return p.first == e.name; });
    size_t row = 0;
    if (it == index.end()) {
      row = rows.size();
      rows.push_back({e.name});
      index.emplace_back(ev[k].name, row);
    } else {
      row = it->second;
    }
    KeyAverage& r = rows[row];
    ++r.calls;
    r.total_ns += e.duration_ns();
    r.self_ns += e.duration_ns() - children_ns[k];
    r.flops += e.flops;
    r.bytes_allocated += e.bytes_allocated;
  }
  return KeyAverages(std::move(rows));
}

void Profile::export_chrome_trace(const std::string& path) const {
  io::AtomicFileWriter f(path);
  f.write(chrome_trace_json());
  f.commit();
}

}  // namespace doppel::profiler
