#pragma once
// Inference that reuses another op's: its errors re-thrown (same type) prefixed with the calling
// op's name, so a user sees which op of the graph failed (fused ops run the unfused op's
// inference, quantized ops the float op's).
#include <string_view>

#include "doppel/core/error.h"

namespace doppel::registration {

template <typename F>
void as_part_of(std::string_view op, F&& f) {
  try {
    f();
  } catch (const ShapeError& e) {
    throw ShapeError(fmt::format("{}: {}", op, e.what()));
  } catch (const DTypeError& e) {
    throw DTypeError(fmt::format("{}: {}", op, e.what()));
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("{}: {}", op, e.what()));
  }
}

}  // namespace doppel::registration
