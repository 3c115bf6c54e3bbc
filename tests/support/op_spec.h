#pragma once
// OpInfo-like specs: each op of the op table declares its sample inputs, error inputs, tested
// dtypes and tolerances once; the generic tests in support/test_op_specs.cpp run every sample
// on every backend against the reference kernel, on contiguous and non-contiguous inputs, and
// check every error input raises the declared error type. A test fails when an op of the table
// has no spec.
//
// Register a spec from any test file:
//   DOPPEL_OP_SPEC(relu_spec) { return OpSpec{ .op = OpId::relu, ... }; }
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "support/test_util.h"

namespace doppel::testing {

struct Sample {
  std::string name;
  std::vector<Tensor> inputs;  // an undefined Tensor stands for an absent optional input
  Attrs attrs;
};

enum class ErrorKind { Shape, DType, Device, Index, Value };

struct ErrorSample {
  std::string name;
  std::vector<Tensor> inputs;
  Attrs attrs;
  ErrorKind kind;
  std::string message_contains;  // a substring the message must have (the op name at least)
};

struct OpSpec {
  OpId op;
  std::vector<DType> dtypes;
  // Sample inputs in `dtype`: cover broadcasting, empty, 0-d and larger shapes where they apply.
  std::function<std::vector<Sample>(DType)> samples;
  std::function<std::vector<ErrorSample>()> errors;  // may be empty
  std::function<Tolerance(DType)> tolerance;         // empty: default_tolerance
  // Inputs that must stay as given (index tensors that a strided copy would not change are
  // fine; set false for ops whose samples rely on aliasing or exact layouts).
  bool test_noncontiguous = true;
  // Finite-difference checks of the op's gradient rule on the float64 samples whose inputs are
  // all small (see test_op_specs.cpp); gradgradcheck also checks the rule's own gradient.
  bool gradcheck = true;
  bool gradgradcheck = false;
  // Inputs (by position) that gradcheck must leave alone although the op marks them
  // differentiable (e.g. a target whose gradient is checked elsewhere).
  std::vector<size_t> gradcheck_skip_inputs;
};

int register_op_spec(OpSpec (*make)());
const std::vector<OpSpec (*)()>& op_spec_makers();
// Every registered spec, by op (built fresh: samples are made on demand).
std::map<OpId, OpSpec> specs_by_op();
// "name (float32[2, 3], none) attrs..." for failure messages.
std::string describe(const Sample& s);

#define DOPPEL_OP_SPEC(name)                                                               \
  static ::doppel::testing::OpSpec name();                                                 \
  [[maybe_unused]] static const int name##_registered = ::doppel::testing::register_op_spec(name); \
  static ::doppel::testing::OpSpec name()

}  // namespace doppel::testing
