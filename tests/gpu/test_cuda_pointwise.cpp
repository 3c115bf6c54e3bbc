// The CUDA pointwise kernels (kernels/cuda/pointwise) against the reference kernels on the CPU,
// beyond the op specs of test_op_specs_cuda.cpp: every unary and binary op in every dtype at
// sizes and offsets that take the vectorized path, its tail and the strided path; broadcasting,
// wrapped numbers and mixed dtypes; every cast pair; random ops and dropout bitwise equal to the
// CPU for the same (seed, offset); adam_step; fused_elementwise. Skipped without a CUDA device.
#include <catch2/catch_test_macros.hpp>
#include <string>
#include <vector>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "doppel/kernels/op_attrs/optimizer.h"
#include "doppel/kernels/op_attrs/views.h"
#include "doppel/kernels/type_promotion.h"
#include "support/gpu.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kAll = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int8,
                                 DType::UInt8,   DType::Int32,   DType::Int64,    DType::Bool};
const Tolerance kExact{0, 0};
const std::vector<DType> kFloating = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16};

// The CPU reference result of `op`, and the CUDA one brought back, compared within `tol`
// (0 = bitwise; nullopt: the default tolerance of a floating output, exact otherwise); requires
// the CUDA backend to have run.
void check_op(OpId op, const std::vector<Tensor>& cpu_inputs, const Attrs& attrs, std::optional<Tolerance> tol,
              const std::string& what) {
  INFO(what);
  OpOutputs ref;
  {
    ForceBackendGuard g(Backend::Reference);
    ref = dispatch(op, cpu_inputs, attrs);
  }
  std::vector<Tensor> dev;
  for (const Tensor& t : cpu_inputs) dev.push_back(t.defined() && !t.impl()->is_wrapped_number() ? t.to(kCuda0) : t);
  const OpOutputs got = dispatch(op, dev, attrs);
  REQUIRE(last_selected_backend() == Backend::CUDA);
  for (int k = 0; k < ref.n; ++k) {
    const Tolerance t = tol ? *tol : is_floating(ref[k].dtype()) ? default_tolerance(ref[k].dtype()) : Tolerance{0, 0};
    const auto diff = compare(got[k].to(kCPU), ref[k], t);
    INFO("output " << k << ": " << diff.value_or(""));
    CHECK(!diff);
  }
}

// Whether the reference kernel runs `op` on these inputs (inference rejects some dtypes).
bool reference_accepts(OpId op, const std::vector<Tensor>& inputs, const Attrs& attrs) {
  ForceBackendGuard g(Backend::Reference);
  try {
    (void)dispatch(op, inputs, attrs);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// Sizes around the vector width (16 bytes) and its tail, and one large enough for many blocks.
const std::vector<int64_t> kSizes = {1, 3, 16, 17, 1023, 65537};

const std::vector<std::pair<OpId, Attrs>> kUnary = {
    {OpId::exp, {}},
    {OpId::log, {}},
    {OpId::log1p, {}},
    {OpId::sqrt, {}},
    {OpId::rsqrt, {}},
    {OpId::sin, {}},
    {OpId::cos, {}},
    {OpId::tanh, {}},
    {OpId::sigmoid, {}},
    {OpId::silu, {}},
    {OpId::erf, {}},
    {OpId::reciprocal, {}},
    {OpId::gelu, GeluAttrs{.tanh = false}.pack()},
    {OpId::gelu, GeluAttrs{.tanh = true}.pack()},
    {OpId::leaky_relu, LeakyReluAttrs{.negative_slope = 0.1}.pack()},
    {OpId::elu, EluAttrs{.alpha = 1.5}.pack()},
    {OpId::softplus, SoftplusAttrs{.beta = 2.0, .threshold = 3.0}.pack()},
    {OpId::neg, {}},
    {OpId::abs, {}},
    {OpId::relu, {}},
    {OpId::floor, {}},
    {OpId::ceil, {}},
    {OpId::round, {}},
    {OpId::sign, {}},
    {OpId::logical_not, {}},
    {OpId::clamp, ClampAttrs{.min = -0.5, .max = 1.25}.pack()},
    {OpId::clamp, ClampAttrs{.min = std::nullopt, .max = 0.75}.pack()},
    {OpId::trunc, {}},
    {OpId::bitwise_not, {}},
    {OpId::hardtanh, HardtanhAttrs{.min_val = -0.5, .max_val = 1.25}.pack()},
    {OpId::hardswish, {}},
    {OpId::hardsigmoid, {}},
    {OpId::mish, {}},
    {OpId::selu, {}},
    {OpId::logsigmoid, {}}};

TEST_CASE("cuda pointwise: unary ops in every dtype, vectorized, tail and strided paths", "[gpu][cuda_pointwise]") {
  DOPPEL_REQUIRE_GPU();
  for (const auto& [op, attrs] : kUnary)
    for (const DType d : kAll)
      for (const int64_t n : kSizes) {
        const Tensor x = make_input({n}, d, uint64_t(n));
        if (!reference_accepts(op, {x}, attrs)) continue;
        const std::string what =
            std::string(op_def(op).name) + " " + std::string(dtype_name(d)) + " n=" + std::to_string(n);
        check_op(op, {x}, attrs, std::nullopt, what);
        // Misaligned (offset by one element) and strided views.
        if (n > 2) check_op(op, {x.slice(0, 1, n)}, attrs, std::nullopt, what + " offset 1");
        check_op(op, {make_noncontiguous(x)}, attrs, std::nullopt, what + " strided");
      }
}

const std::vector<OpId> kBinary = {
    OpId::add, OpId::sub, OpId::mul, OpId::div, OpId::pow, OpId::maximum,     OpId::minimum,    OpId::eq,
    OpId::ne,  OpId::lt,  OpId::le,  OpId::gt,  OpId::ge,  OpId::logical_and, OpId::logical_or, OpId::logical_xor};

TEST_CASE("cuda pointwise: binary ops with broadcasting, wrapped numbers and mixed dtypes", "[gpu][cuda_pointwise]") {
  DOPPEL_REQUIRE_GPU();
  for (const OpId op : kBinary)
    for (const DType d : kAll) {
      const std::string name = std::string(op_def(op).name) + " " + std::string(dtype_name(d));
      for (const int64_t n : kSizes) {
        const Tensor a = make_input({n}, d, 1), b = make_input({n}, d, 2);
        if (!reference_accepts(op, {a, b}, {})) break;
        check_op(op, {a, b}, {}, std::nullopt, name + " n=" + std::to_string(n));
        if (n > 2) check_op(op, {a.slice(0, 1, n), b.slice(0, 0, n - 1)}, {}, std::nullopt, name + " misaligned");
      }
      const Tensor m = make_input({3, 1, 5}, d, 3), r = make_input({4, 1}, d, 4);
      if (!reference_accepts(op, {m, r}, {})) continue;
      check_op(op, {m, r}, {}, std::nullopt, name + " broadcast");
      check_op(op, {make_noncontiguous(make_input({6, 7}, d, 5)), make_input({7}, d, 6)}, {}, std::nullopt,
               name + " strided");
      check_op(op, {make_input({33}, d, 7), wrap_scalar(Scalar(2.5))}, {}, std::nullopt, name + " tensor-scalar");
      check_op(op, {wrap_scalar(Scalar(int64_t(3))), make_input({33}, d, 8)}, {}, std::nullopt,
               name + " scalar-tensor");
      check_op(op, {make_input({33}, d, 9), make_input({33}, DType::Float32, 10)}, {}, Tolerance{1e-5, 1e-6},
               name + " with float32");
    }
}

TEST_CASE("cuda pointwise: bitwise ops, rounding divisions and atan2; integer division by zero raises",
          "[gpu][cuda_pointwise]") {
  DOPPEL_REQUIRE_GPU();
  for (const OpId op : {OpId::bitwise_and, OpId::bitwise_or, OpId::bitwise_xor, OpId::fmod, OpId::remainder,
                        OpId::floor_divide, OpId::atan2})
    for (const DType d : kAll) {
      const std::string name = std::string(op_def(op).name) + " " + std::string(dtype_name(d));
      for (const int64_t n : kSizes) {
        // Divisors in [1, 4), negated where the dtype allows: never zero.
        const Tensor a = make_input({n}, d, 1, -60, 60), b = make_input({n}, d, 2, 1, 4);
        const Tensor den = d == DType::UInt8 || d == DType::Bool ? b : neg(b);
        if (!reference_accepts(op, {a, den}, {})) break;
        check_op(op, {a, den}, {}, std::nullopt, name + " n=" + std::to_string(n));
        check_op(op, {make_input({3, 1, 5}, d, 3, -60, 60), make_input({4, 1}, d, 4, 1, 4)}, {}, std::nullopt,
                 name + " broadcast");
      }
    }
  const Tensor i = tensor(std::vector<int32_t>{7, -7, 3}).to(kCuda0),
               z = tensor(std::vector<int32_t>{2, 0, 1}).to(kCuda0);
  for (const OpId op : {OpId::fmod, OpId::remainder, OpId::floor_divide})
    CHECK_THROWS_AS(dispatch(op, std::vector<Tensor>{i, z}, {}), ValueError);
}

TEST_CASE("cuda pointwise: where, relu_backward and every cast pair", "[gpu][cuda_pointwise]") {
  DOPPEL_REQUIRE_GPU();
  for (const DType d : kAll) {
    const Tensor c = make_input({4, 9}, DType::Bool, 1);
    check_op(OpId::where, {c, make_input({4, 9}, d, 2), make_input({9}, d, 3)}, {}, kExact, "where");
    check_op(OpId::where, {c, make_input({4, 9}, d, 2), wrap_scalar(Scalar(1.0))}, {}, std::nullopt, "where scalar");
    for (const DType to : kAll)
      for (const int64_t n : {int64_t(5), int64_t(4099)}) {
        const Tensor x = make_input({n}, d, 4);
        check_op(OpId::cast, {x}, CastAttrs{.dtype = to}.pack(), kExact, "cast");
        check_op(OpId::cast, {make_noncontiguous(x)}, CastAttrs{.dtype = to}.pack(), kExact, "cast strided");
      }
    check_op(OpId::copy, {make_noncontiguous(make_input({5, 6}, d, 5))}, {}, kExact, "copy strided");
  }
  for (const DType d : kFloating)
    check_op(OpId::relu_backward, {make_input({1031}, d, 1), make_input({1031}, d, 2)}, {}, kExact, "relu_backward");
}

TEST_CASE("cuda pointwise: factories and random ops equal the CPU bit for bit", "[gpu][cuda_pointwise]") {
  DOPPEL_REQUIRE_GPU();
  // `attrs(device)`: the op's attributes with its device attribute.
  auto run_both = [&](OpId op, auto attrs, Tolerance tol, const std::string& what) {
    INFO(what);
    const Tensor ref = dispatch(op, {}, attrs(Attr::of_device(kCPU)))[0];
    const Tensor got = dispatch(op, {}, attrs(Attr::of_device(kCuda0)))[0];
    REQUIRE(last_selected_backend() == Backend::CUDA);
    const auto diff = compare(got.to(kCPU), ref, tol);
    INFO(diff.value_or(""));
    CHECK(!diff);
  };
  for (const DType d : kAll) {
    const Attr dt = Attr::of_dtype(d);
    run_both(
        OpId::full,
        [&](const Attr& dev) -> Attrs {
          return {Attr::of_ints({5, 7}), Attr::of_float(1.75), dt, dev};
        },
        kExact, "full");
    run_both(
        OpId::arange,
        [&](const Attr& dev) -> Attrs {
          return {Attr::of_float(-3), Attr::of_float(40), Attr::of_float(0.5), dt, dev};
        },
        kExact, "arange");
    run_both(
        OpId::linspace,
        [&](const Attr& dev) -> Attrs {
          return {Attr::of_float(-1), Attr::of_float(2), Attr::of_int(101), dt, dev};
        },
        kExact, "linspace");
    run_both(
        OpId::eye,
        [&](const Attr& dev) -> Attrs {
          return {Attr::of_int(7), Attr::of_int(9), dt, dev};
        },
        kExact, "eye");
    for (const int64_t n : {int64_t(1), int64_t(6), int64_t(100003)})
      for (const int64_t offset : {int64_t(0), int64_t(12345)}) {
        const std::string at = std::string(dtype_name(d)) + " n=" + std::to_string(n);
        run_both(
            OpId::uniform,
            [&](const Attr& dev) -> Attrs {
              return {Attr::of_ints({n}), Attr::of_float(-1),  Attr::of_float(3), dt, dev,
                      Attr::of_int(42),   Attr::of_int(offset)};
            },
            kExact, "uniform " + at);
        // Normal goes through log/sin/cos in double, whose device rounding may differ in the
        // last bit: bitwise for the narrow dtypes, within a few ulps in float64.
        run_both(
            OpId::normal,
            [&](const Attr& dev) -> Attrs {
              return {Attr::of_ints({n}), Attr::of_float(0.5), Attr::of_float(2), dt, dev,
                      Attr::of_int(7),    Attr::of_int(offset)};
            },
            d == DType::Float64 ? Tolerance{1e-14, 1e-14} : Tolerance{0, 0}, "normal " + at);
        if (!is_floating(d) && d != DType::Bool)
          run_both(
              OpId::randint,
              [&](const Attr& dev) -> Attrs {
                return {Attr::of_ints({n}), Attr::of_float(-5),  Attr::of_float(100), dt, dev,
                        Attr::of_int(9),    Attr::of_int(offset)};
              },
              kExact, "randint " + at);
      }
  }
}

TEST_CASE("cuda pointwise: dropout draws the CPU's mask", "[gpu][cuda_pointwise]") {
  DOPPEL_REQUIRE_GPU();
  for (const DType d : kFloating)
    for (const double p : {0.0, 0.3, 1.0})
      for (const bool training : {true, false})
        check_op(OpId::dropout, {make_input({3, 4099}, d, 1)},
                 DropoutAttrs{.p = p, .training = training, .seed = 5, .offset = 77}.pack(), kExact,
                 std::string("dropout ") + std::string(dtype_name(d)) + " p=" + std::to_string(p));
}

TEST_CASE("cuda pointwise: adam_step matches the reference kernel", "[gpu][cuda_pointwise]") {
  DOPPEL_REQUIRE_GPU();
  for (const DType d : kFloating)
    for (const bool amsgrad : {false, true})
      for (const bool decoupled : {false, true}) {
        const int64_t n = 10007;
        std::vector<Tensor> in = {make_input({n}, d, 1),       make_input({n}, d, 2),
                                  make_input({n}, d, 3),       make_input({n}, d, 4, 0.0, 1.0),
                                  scalar(3.0, DType::Float64), scalar(1e-2, DType::Float64)};
        if (amsgrad) in.push_back(make_input({n}, d, 5, 0.0, 1.0));
        const Attrs attrs = AdamAttrs{.beta1 = 0.9,
                                      .beta2 = 0.999,
                                      .eps = 1e-8,
                                      .weight_decay = 0.05,
                                      .amsgrad = amsgrad,
                                      .decoupled = decoupled,
                                      .maximize = false}
                                .pack();
        // step and lr are on the parameter's device, like every other input.
        check_op(OpId::adam_step, in, attrs, d == DType::Float64 ? Tolerance{1e-13, 1e-15} : default_tolerance(d),
                 std::string("adam_step ") + std::string(dtype_name(d)));
      }
}

TEST_CASE("cuda pointwise: fused_elementwise runs the reference program", "[gpu][cuda_pointwise]") {
  DOPPEL_REQUIRE_GPU();
  using Op = FusedOpcode;
  Shape prog;
  for (const FusedInstr& i : std::initializer_list<FusedInstr>{{Op::abs, 3, 0},
                                                               {Op::add_imm, 3, 3, 0, 0.5},
                                                               {Op::log, 3, 3},
                                                               {Op::mul, 4, 3, 1},
                                                               {Op::gelu, 4, 4, 0, 1.0},
                                                               {Op::maximum, 5, 4, 2},
                                                               {Op::sigmoid, 5, 5},
                                                               {Op::sub, 5, 5, 0}})
    append_instr(prog, i);
  for (const DType d : kFloating) {
    check_op(OpId::fused_elementwise, {make_input({64, 33}, d, 1), make_input({64, 33}, d, 2), make_input({33}, d, 3)},
             FusedElementwiseAttrs{.program = prog}.pack(), default_tolerance(d), "fused broadcast");
    check_op(OpId::fused_elementwise,
             {make_input({4097}, d, 1), make_input({4097}, d, 2), make_noncontiguous(make_input({4097}, d, 3))},
             FusedElementwiseAttrs{.program = prog}.pack(), default_tolerance(d), "fused strided");
  }
}

}  // namespace
}  // namespace doppel::testing
