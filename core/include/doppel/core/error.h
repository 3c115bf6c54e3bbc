#pragma once
// The error hierarchy and the check macros.
//
// User errors (bad shapes, dtypes, devices, indices, files) throw a doppel::Error subclass whose
// message names the op, the operands and what to do, followed by the caller's file:line when
// the public API knows it. Internal invariants use DOPPEL_INTERNAL_ASSERT, which also throws
// (never aborts), so a bug surfaces as an exception with a location instead of a crash.
#include <fmt/format.h>

#include <source_location>
#include <stdexcept>
#include <string>

namespace doppel {

using SourceLoc = std::source_location;

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};
class ShapeError : public Error {
  using Error::Error;
};
class DTypeError : public Error {
  using Error::Error;
};
class DeviceError : public Error {
  using Error::Error;
};
class IndexError : public Error {
  using Error::Error;
};
class ValueError : public Error {
  using Error::Error;
};
class TraceError : public Error {
  using Error::Error;
};
class FormatError : public Error {
  using Error::Error;
};
class OutOfMemoryError : public Error {
  using Error::Error;
};
class InternalError : public Error {
  using Error::Error;
};

namespace detail {
// The call site of the public API function currently running on this thread, if any. Set by
// CallSiteScope in the eager layer; error messages append it.
struct CallSite {
  const char* file = nullptr;
  unsigned line = 0;
};
CallSite& current_call_site();

std::string with_call_site(std::string msg);

template <typename E>
[[noreturn]] void throw_error(std::string msg) {
  throw E(with_call_site(std::move(msg)));
}
}  // namespace detail

// Sets the caller's location for the duration of one public API call. Only the outermost
// scope records, so nested API calls report the user's line, not the library's.
class CallSiteScope {
 public:
  explicit CallSiteScope(const SourceLoc& loc) {
    auto& cs = detail::current_call_site();
    if (cs.file == nullptr) {
      cs = {loc.file_name(), static_cast<unsigned>(loc.line())};
      owner_ = true;
    }
  }
  ~CallSiteScope() {
    if (owner_) detail::current_call_site() = {};
  }
  CallSiteScope(const CallSiteScope&) = delete;
  CallSiteScope& operator=(const CallSiteScope&) = delete;

 private:
  bool owner_ = false;
};

}  // namespace doppel

#define DOPPEL_CHECK_TYPED(ERR, cond, ...)                                        \
  do {                                                                            \
    if (!(cond)) [[unlikely]]                                                     \
      ::doppel::detail::throw_error<::doppel::ERR>(fmt::format(__VA_ARGS__));     \
  } while (0)

#define DOPPEL_CHECK(cond, ...) DOPPEL_CHECK_TYPED(ValueError, cond, __VA_ARGS__)
#define DOPPEL_CHECK_SHAPE(cond, ...) DOPPEL_CHECK_TYPED(ShapeError, cond, __VA_ARGS__)
#define DOPPEL_CHECK_DTYPE(cond, ...) DOPPEL_CHECK_TYPED(DTypeError, cond, __VA_ARGS__)
#define DOPPEL_CHECK_DEVICE(cond, ...) DOPPEL_CHECK_TYPED(DeviceError, cond, __VA_ARGS__)
#define DOPPEL_CHECK_INDEX(cond, ...) DOPPEL_CHECK_TYPED(IndexError, cond, __VA_ARGS__)

#define DOPPEL_INTERNAL_ASSERT(cond)                                                       \
  do {                                                                                     \
    if (!(cond)) [[unlikely]]                                                              \
      throw ::doppel::InternalError(fmt::format("internal error: {} failed at {}:{}; "     \
                                                "please report this as a doppel bug",      \
                                                #cond, __FILE__, __LINE__));               \
  } while (0)
