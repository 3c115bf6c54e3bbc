// TraceError cases beyond test_trace.cpp's: each thing a graph cannot reproduce — reading values
// into C++ (to_vector, printing, a loop on item()), a write the trace cannot see, an in-place
// write into an input, a trace inside a trace — is refused with a message that names what was
// done and the user's own call site (file:line), so the user can find and fix it.
#include <catch2/catch_test_macros.hpp>
#include <sstream>

#include "doppel/graph/trace.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;
using Tensors = std::vector<Tensor>;

// Runs trace(fn) and returns the TraceError's message ("" when none was thrown).
std::string trace_error(const graph::TracedFunction& fn, const Tensors& inputs) {
  try {
    trace(fn, inputs);
  } catch (const TraceError& e) {
    return e.what();
  }
  return "";
}

std::string here(int line) { return fmt::format("test_trace_errors.cpp:{}", line); }

void require_mentions(const std::string& message, std::initializer_list<std::string> parts) {
  INFO("message: " << message);
  REQUIRE(!message.empty());
  for (const std::string& p : parts) {
    INFO("expected to mention: " << p);
    CHECK(message.find(p) != std::string::npos);
  }
}

TEST_CASE("trace errors: to_vector names the read and the call site", "[graph][trace_errors]") {
  static int line = 0;
  const std::string m = trace_error(
      [](const Tensors& in) {
        Tensor y = in[0].exp();
        line = __LINE__ + 1;
        const std::vector<float> v = y.to_vector<float>();
        return Tensors{y * double(v[0])};
      },
      {make_input({3}, DType::Float32, 1)});
  require_mentions(m, {"to_vector()", here(line), "the result of exp"});
}

TEST_CASE("trace errors: printing a traced tensor names the print and the call site", "[graph][trace_errors]") {
  static int line = 0;
  const std::string m = trace_error(
      [](const Tensors& in) {
        std::ostringstream os;
        line = __LINE__ + 1;
        os << in[0].str();  // operator<< has no call site of its own; str() takes the caller's
        return Tensors{in[0] * 2.0};
      },
      {make_input({3}, DType::Float32, 1)});
  // The user's line, not the printer's own source file.
  require_mentions(m, {"print", here(line), "input 0"});
}

TEST_CASE("trace errors: a loop on item() names the read and the call site", "[graph][trace_errors]") {
  // The C++ analogue of Python's `while x.abs().max() > 1: x = x / 2`: the loop count depends
  // on the values, so one trace cannot serve other inputs.
  static int line = 0;
  const std::string m = trace_error(
      [](const Tensors& in) {
        Tensor x = in[0];
        line = __LINE__ + 1;
        while (x.abs().max().item<float>() > 1.0f) x = x / 2.0;
        return Tensors{x};
      },
      {make_input({4}, DType::Float32, 2, 4.0, 8.0)});
  require_mentions(m, {"item()", here(line), "the result of amax"});
}

TEST_CASE("trace errors: a raw write into a state tensor is caught when the state is used next",
          "[graph][trace_errors]") {
  Tensor w = make_input({3}, DType::Float32, 3);
  // A pointer taken outside the trace (inside, data_ptr itself is refused). A raw writer bumps
  // the version counter as it must; an unannounced raw write is invisible to any tracer.
  float* raw = w.data_ptr<float>();
  static int line = 0;
  const std::string m = trace_error(
      [&](const Tensors& in) {
        Tensor y = in[0] * w;
        raw[0] = 42.0f;
        w.bump_version();
        line = __LINE__ + 1;
        return Tensors{y + w};
      },
      {make_input({3}, DType::Float32, 4)});
  require_mentions(m, {"modified in place", "add", here(line), "state"});
}

TEST_CASE("trace errors: a write through another view of a state tensor is caught at the next use",
          "[graph][trace_errors]") {
  Tensor w = make_input({2, 3}, DType::Float32, 5);
  // A second tensor on w's memory, made before the trace: every other element, which no
  // reshape/slice/permute of w gives (a reshape of w is traced as one: test_trace_aliases.cpp).
  Tensor w_strided = make_view(w, {3}, {2}, 0);
  static int line = 0;
  const std::string m = trace_error(
      [&](const Tensors& in) {
        Tensor y = in[0] * w;
        add_(w_strided, 1.0);
        line = __LINE__ + 1;
        return Tensors{y + w};
      },
      {make_input({2, 3}, DType::Float32, 6)});
  require_mentions(m, {"modified in place", here(line)});
}

TEST_CASE("trace errors: an in-place write into an input names the op and the call site", "[graph][trace_errors]") {
  static int line = 0;
  const std::string m = trace_error(
      [](const Tensors& in) {
        line = __LINE__ + 1;
        mul_(in[0], 3.0);
        return Tensors{in[0] + 1.0};
      },
      {make_input({3}, DType::Float32, 7)});
  require_mentions(m, {"mul", "in place", "input", here(line)});
}

TEST_CASE("trace errors: a trace inside a trace is refused with the inner call site", "[graph][trace_errors]") {
  static int line = 0;
  const std::string m = trace_error(
      [](const Tensors& in) {
        line = __LINE__ + 1;
        graph::TraceResult inner = trace([](const Tensors& x) { return Tensors{x[0] * 2.0}; }, in);
        return inner.outputs;
      },
      {make_input({3}, DType::Float32, 8)});
  require_mentions(m, {"nest", here(line)});
  // The failed outer trace left no trace active: a new one works.
  const graph::TraceResult r =
      trace([](const Tensors& x) { return Tensors{x[0] * 2.0}; }, {make_input({3}, DType::Float32, 9)});
  CHECK(r.graph->nodes().size() == 1);
}

}  // namespace
}  // namespace doppel
