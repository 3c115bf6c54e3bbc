// Specs of the collective ops on a world of one process (no process group initialised): every
// collective is its input there, so the generic checks (backends, gradcheck in float64, trace ==
// eager, export round trip) run in the single-process suite. The multi-process semantics are
// tested under mpirun (tests/distributed/).
#include <catch2/catch_test_macros.hpp>

#include "doppel/dispatch.h"
#include "doppel/kernels/communicator.h"
#include "doppel/kernels/op_attrs/collective.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

using kernels::ReduceOp;

const std::vector<DType> kCollectiveDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16,
                                              DType::Int8,    DType::UInt8,   DType::Int32,    DType::Int64};

Attrs reduce_attrs(ReduceOp op, int64_t world_size = 1, int64_t group = 0) {
  return CollectiveReduceAttrs{.group = group, .world_size = world_size, .reduce_op = int64_t(op)}.pack();
}
Attrs move_attrs(int64_t world_size = 1, int64_t group = 0) {
  return CollectiveAttrs{.group = group, .world_size = world_size}.pack();
}

// Shapes every collective takes on a world of one: 1 element, a matrix, empty, large.
std::vector<Tensor> inputs(DType dt) {
  return {make_input({1}, dt, 1), make_input({3, 4}, dt, 2), make_input({0, 5}, dt, 3), make_input({1000, 70}, dt, 4)};
}

std::vector<Sample> samples_with(DType dt, const std::vector<std::pair<std::string, Attrs>>& attrs) {
  std::vector<Sample> out;
  for (const auto& [what, a] : attrs)
    for (const Tensor& x : inputs(dt)) out.push_back({what + " " + shape_str(x.shape()), {x}, a});
  return out;
}

std::vector<std::pair<std::string, Attrs>> reduce_variants(DType dt) {
  std::vector<std::pair<std::string, Attrs>> v = {
      {"sum", reduce_attrs(ReduceOp::Sum)}, {"max", reduce_attrs(ReduceOp::Max)}, {"min", reduce_attrs(ReduceOp::Min)}};
  if (is_floating(dt)) v.push_back({"avg", reduce_attrs(ReduceOp::Avg)});
  return v;
}

// Errors common to every collective: a non-contiguous input, a world_size below 1, a group that
// does not exist, a world_size the (absent) group does not have.
std::vector<ErrorSample> common_errors(OpId op, const std::function<Attrs(int64_t world, int64_t group)>& attrs) {
  const Tensor x = make_input({4, 3}, DType::Float32, 1);
  const std::string name(op_name(op));
  return {{"non-contiguous", {x.t()}, attrs(1, 0), ErrorKind::Value, "contiguous"},
          {"world_size 0", {x}, attrs(0, 0), ErrorKind::Value, name},
          {"no such group", {x}, attrs(1, 7), ErrorKind::Value, "process group 7 does not exist"},
          {"world of 2 without a process group", {x}, attrs(2, 0), ErrorKind::Value, "init_process_group"}};
}

std::vector<ErrorSample> reduce_errors(OpId op) {
  auto e = common_errors(op, [](int64_t w, int64_t g) { return reduce_attrs(ReduceOp::Sum, w, g); });
  const std::string name(op_name(op));
  e.push_back({"avg of int", {make_input({4}, DType::Int32, 1)}, reduce_attrs(ReduceOp::Avg), ErrorKind::DType, name});
  e.push_back({"bool", {make_input({4}, DType::Bool, 1)}, reduce_attrs(ReduceOp::Max), ErrorKind::DType, name});
  e.push_back({"reduce_op 9", {make_input({4}, DType::Float32, 1)}, reduce_attrs(ReduceOp(9)), ErrorKind::Value, name});
  return e;
}

}  // namespace

DOPPEL_OP_SPEC(all_reduce_spec) {
  return OpSpec{.op = OpId::all_reduce,
                .dtypes = kCollectiveDTypes,
                .samples = [](DType dt) { return samples_with(dt, reduce_variants(dt)); },
                .errors = [] { return reduce_errors(OpId::all_reduce); },
                .test_noncontiguous = false,
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(broadcast_spec) {
  return OpSpec{
      .op = OpId::broadcast,
      .dtypes = kCollectiveDTypes,
      .samples =
          [](DType dt) {
            auto s = samples_with(dt, {{"src 0", BroadcastAttrs{.group = 0, .world_size = 1, .src = 0}.pack()}});
            s.push_back({"0-d", {make_input({}, dt, 9)}, BroadcastAttrs{.group = 0, .world_size = 1, .src = 0}.pack()});
            return s;
          },
      .errors =
          [] {
            auto e = common_errors(OpId::broadcast, [](int64_t w, int64_t g) {
              return BroadcastAttrs{.group = g, .world_size = w, .src = 0}.pack();
            });
            e.push_back({"src outside the group",
                         {make_input({4}, DType::Float32, 1)},
                         BroadcastAttrs{.group = 0, .world_size = 1, .src = 1}.pack(),
                         ErrorKind::Index,
                         "src 1"});
            return e;
          },
      .test_noncontiguous = false,
      .gradgradcheck = true};
}

DOPPEL_OP_SPEC(all_gather_spec) {
  return OpSpec{.op = OpId::all_gather,
                .dtypes = kCollectiveDTypes,
                .samples =
                    [](DType dt) {
                      auto s = samples_with(dt, {{"world of one", move_attrs()}});
                      s.push_back({"0-d gathers into [1]", {make_input({}, dt, 9)}, move_attrs()});
                      return s;
                    },
                .errors = [] { return common_errors(OpId::all_gather, move_attrs); },
                .test_noncontiguous = false,
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(reduce_scatter_spec) {
  return OpSpec{.op = OpId::reduce_scatter,
                .dtypes = kCollectiveDTypes,
                .samples = [](DType dt) { return samples_with(dt, reduce_variants(dt)); },
                .errors =
                    [] {
                      auto e = reduce_errors(OpId::reduce_scatter);
                      e.push_back({"0-d",
                                   {make_input({}, DType::Float32, 1)},
                                   reduce_attrs(ReduceOp::Sum),
                                   ErrorKind::Shape,
                                   "equal chunks"});
                      return e;
                    },
                .test_noncontiguous = false,
                .gradgradcheck = true};
}

DOPPEL_OP_SPEC(all_to_all_spec) {
  return OpSpec{
      .op = OpId::all_to_all,
      .dtypes = kCollectiveDTypes,
      .samples =
          [](DType dt) {
            return samples_with(dt, {{"world of one", move_attrs()}});
          },
      .errors =
          [] {
            auto e = common_errors(OpId::all_to_all, move_attrs);
            e.push_back({"0-d", {make_input({}, DType::Float32, 1)}, move_attrs(), ErrorKind::Shape, "equal chunks"});
            return e;
          },
      .test_noncontiguous = false,
      .gradgradcheck = true};
}

TEST_CASE("collectives: shapes for a group of 3 (inference only)", "[op_table][collective]") {
  const Tensor x = make_input({6, 2}, DType::Float32, 1);
  const Attrs r3 = reduce_attrs(ReduceOp::Sum, 3), m3 = move_attrs(3);
  auto shape_of = [](OpId op, const Tensor& in, const Attrs& a) {
    std::array<OutputMeta, 1> out;
    const Tensor ins[] = {in};
    op_def(op).infer(OpCall{op, ins, a}, out);
    return out[0].shape;
  };
  CHECK(shape_of(OpId::all_gather, x, m3) == Shape{18, 2});
  CHECK(shape_of(OpId::all_gather, make_input({}, DType::Float32, 2), m3) == Shape{3});
  CHECK(shape_of(OpId::reduce_scatter, x, r3) == Shape{2, 2});
  CHECK(shape_of(OpId::all_to_all, x, m3) == Shape{6, 2});
  CHECK(shape_of(OpId::all_reduce, x, r3) == Shape{6, 2});
  // 7 rows do not split into 3 chunks.
  const Tensor seven = make_input({7}, DType::Float32, 3);
  CHECK_THROWS_AS(shape_of(OpId::reduce_scatter, seven, r3), ShapeError);
  CHECK_THROWS_AS(shape_of(OpId::all_to_all, seven, m3), ShapeError);
}

TEST_CASE("collectives: in place on a world of one leaves the tensor as it was", "[collective]") {
  const Tensor x = make_input({5}, DType::Float32, 4);
  const std::vector<float> before = x.to_vector<float>();
  dispatch_out(OpId::all_reduce, {x}, reduce_attrs(ReduceOp::Sum), {x});
  CHECK(x.to_vector<float>() == before);
  CHECK(kernels::is_collective(OpId::all_to_all));
  CHECK_FALSE(kernels::is_collective(OpId::add));
}

}  // namespace doppel::testing
