// The CUDA reductions, softmax, indexing ops and group_norm against the reference kernels on the
// CPU: every sample of the ops' specs (contiguous and strided), index bounds errors, then sizes that take every launch
// path (1, 31, 1025, 65537 elements, rows, columns, split rows and columns), empty tensors, keepdim, negative dims and
// NaNs. Skipped without a CUDA device.
#include <cuda_runtime_api.h>
#include <fmt/format.h>
#include <catch2/catch_test_macros.hpp>

#include <cmath>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "doppel/kernels/op_attrs/reduction.h"
#include "gpu/gpu_compare.h"
#include "support/gpu.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const Device kCuda{DeviceType::CUDA, 0};


const OpId kOps[] = {OpId::sum,
                     OpId::mean,
                     OpId::prod,
                     OpId::amax,
                     OpId::amin,
                     OpId::argmax,
                     OpId::argmin,
                     OpId::var,
                     OpId::std,
                     OpId::logsumexp,
                     OpId::softmax,
                     OpId::log_softmax,
                     OpId::softmax_backward,
                     OpId::log_softmax_backward,
                     OpId::embedding,
                     OpId::index_select,
                     OpId::gather,
                     OpId::scatter_add,
                     OpId::index_add,
                     OpId::embedding_backward,
                     OpId::masked_fill,
                     OpId::one_hot,
                     OpId::cat,
                     OpId::slice_backward,
                     OpId::select_backward,
                     OpId::group_norm,
                     OpId::group_norm_backward};

// The calls the CUDA kernels refuse with a DTypeError instead of running: atomic adds of 8-bit
// integers, and cat of inputs of different dtypes (the CUDA copy does not convert).
bool cuda_refuses(OpId op, const Sample& s, DType dtype) {
  if ((op == OpId::scatter_add || op == OpId::index_add) && (dtype == DType::Int8 || dtype == DType::UInt8))
    return true;
  if (op != OpId::cat) return false;
  for (const Tensor& t : s.inputs)
    if (t.defined() && t.dtype() != s.inputs[0].dtype()) return true;
  return false;
}

TEST_CASE("cuda reductions, softmax, indexing, group_norm: every spec sample matches the reference",
          "[gpu][cuda][reduce]") {
  DOPPEL_REQUIRE_GPU();
  auto specs = specs_by_op();
  for (OpId op : kOps) {
    const OpSpec& spec = specs.at(op);
    for (DType dtype : spec.dtypes) {
      const Tolerance tol = gpu_tolerance(dtype, spec.tolerance ? spec.tolerance(dtype) : Tolerance{});
      for (const Sample& s : spec.samples(dtype)) {
        INFO(fmt::format("op {} dtype {} sample {}", op_name(op), dtype_name(dtype), describe(s)));
        if (cuda_refuses(op, s, dtype)) {
          std::vector<Tensor> dev;
          for (const Tensor& t : s.inputs) dev.push_back(cuda_copy(t));
          CHECK_THROWS_AS(dispatch(op, dev, s.attrs), DTypeError);
          continue;
        }
        check_against_reference(op, s.inputs, s.attrs, tol);
      }
    }
  }
}

TEST_CASE("cuda indexing: out-of-range indices raise IndexError naming the op", "[gpu][cuda][reduce]") {
  DOPPEL_REQUIRE_GPU();
  const Tensor x = cuda_copy(make_input({4, 3}, DType::Float32, 21));
  for (const int64_t bad : {int64_t(4), int64_t(-1), int64_t(1) << 40}) {
    Tensor idx = make_input({3}, DType::Int64, 22, 0, 3);
    idx.data_ptr<int64_t>()[1] = bad;
    const Tensor di = cuda_copy(idx);
    const auto message = [&](OpId op, std::vector<Tensor> in, const Attrs& attrs) {
      return error_message<IndexError>([&] { dispatch(op, in, attrs); });
    };
    CHECK(message(OpId::embedding, {x, di}, EmbeddingAttrs{.padding_idx = std::nullopt}.pack()).find("embedding") !=
          std::string::npos);
    CHECK(message(OpId::index_select, {x, di}, DimAttrs{.dim = 0}.pack()).find("index_select") != std::string::npos);
    CHECK(
        message(OpId::index_add, {x, di, cuda_copy(make_input({3, 3}, DType::Float32, 23))}, DimAttrs{.dim = 0}.pack())
            .find("index_add") != std::string::npos);
    CHECK(message(OpId::one_hot, {di}, OneHotAttrs{.num_classes = 4}.pack()).find("one_hot") != std::string::npos);
  }
  // The device is still usable afterwards (no sticky error): a valid call runs.
  Tensor ok = make_input({3}, DType::Int64, 24, 0, 3);
  check_against_reference(OpId::index_select, {make_input({4, 3}, DType::Float32, 21), ok}, DimAttrs{.dim = 0}.pack(),
                          {});
}

Attrs dims_attrs(IntList dims, bool keepdim) { return ReduceAttrs{.dims = dims, .keepdim = keepdim}.pack(); }

// Values in [0, 1) (positive, so large float sums are compared without cancellation), with NaNs
// at the given flat positions.
Tensor input_with_nans(IntList shape, DType dtype, uint64_t seed, std::initializer_list<int64_t> nans = {}) {
  Tensor x = make_input(shape, DType::Float64, seed, 0, 1);
  double* p = x.data_ptr<double>();
  for (int64_t k : nans) p[k] = std::nan("");
  return x.to(dtype);
}

struct Geometry {
  Shape shape;
  Shape dims;
  bool keepdim;
};

// Every launch path: single rows of odd lengths, many rows, strided columns (split and not),
// the two-pass path of one long row, size-1 and empty dims, a 0-d tensor.
const std::vector<Geometry> kGeometries = {
    {{1}, {0}, false},        {{31}, {}, false},         {{1025}, {-1}, true},         {{65537}, {0}, false},
    {{1 << 22}, {}, false},   {{3, 65537}, {1}, false},  {{65537, 3}, {0}, true},      {{4096, 8}, {-2}, false},
    {{31, 1025}, {0}, false}, {{5, 7, 9}, {0, 2}, true}, {{5, 7, 9}, {-1, -3}, false}, {{2, 3, 4, 5}, {1}, false},
    {{3, 1, 4}, {1}, false},  {{}, {}, false},
};

TEST_CASE("cuda reductions: launch paths, odd sizes, keepdim and negative dims", "[gpu][cuda][reduce]") {
  DOPPEL_REQUIRE_GPU();
  const std::vector<DType> dtypes = {DType::Float32, DType::Float64, DType::BFloat16};
  for (OpId op : {OpId::sum, OpId::mean, OpId::amax, OpId::amin, OpId::logsumexp, OpId::prod}) {
    for (DType dtype : dtypes) {
      for (const Geometry& g : kGeometries) {
        INFO(fmt::format("op {} dtype {} shape {} dims {} keepdim {}", op_name(op), dtype_name(dtype),
                         shape_str(g.shape), shape_str(g.dims), g.keepdim));
        const double low = op == OpId::prod ? 0.999 : 0;  // products of many values stay finite
        Tensor x = make_input(g.shape, dtype, 11, low, 1);
        check_against_reference(op, {x}, dims_attrs(g.dims, g.keepdim), gpu_tolerance(dtype, {}));
      }
    }
  }
  for (OpId op : {OpId::var, OpId::std})
    for (DType dtype : dtypes)
      for (const Geometry& g : kGeometries)
        for (int64_t correction : {0, 1}) {
          INFO(fmt::format("op {} dtype {} shape {} dims {} correction {}", op_name(op), dtype_name(dtype),
                           shape_str(g.shape), shape_str(g.dims), correction));
          Tensor x = make_input(g.shape, dtype, 12, -1, 1);
          check_against_reference(op, {x},
                                  VarAttrs{.dims = g.dims, .keepdim = g.keepdim, .correction = correction}.pack(),
                                  gpu_tolerance(dtype, {}));
        }
}

TEST_CASE("cuda reductions: integer sums wrap in int64, argmax takes the first index", "[gpu][cuda][reduce]") {
  DOPPEL_REQUIRE_GPU();
  for (DType dtype : {DType::Int32, DType::Int64, DType::UInt8, DType::Int8, DType::Bool})
    for (const Geometry& g : kGeometries) {
      INFO(fmt::format("dtype {} shape {} dims {}", dtype_name(dtype), shape_str(g.shape), shape_str(g.dims)));
      // Few distinct values: many ties for argmax/argmin.
      Tensor x = make_input(g.shape, dtype, 13, 0, 3);
      for (OpId op : {OpId::sum, OpId::prod, OpId::amax, OpId::amin})
        check_against_reference(op, {x}, dims_attrs(g.dims, g.keepdim), {});
      if (x.numel() == 0) continue;
      for (OpId op : {OpId::argmax, OpId::argmin}) {
        check_against_reference(op, {x}, ArgReduceAttrs{.dim = std::nullopt, .keepdim = false}.pack(), {});
        if (x.dim() > 0) check_against_reference(op, {x}, ArgReduceAttrs{.dim = -1, .keepdim = true}.pack(), {});
      }
    }
  // int64 wrap-around of a sum past 2^63.
  Tensor big = make_input({1025}, DType::Float64, 14, 0, 1).to(DType::Int64);
  int64_t* p = big.data_ptr<int64_t>();
  for (int64_t k = 0; k < 1025; ++k) p[k] = int64_t(1) << 61;
  check_against_reference(OpId::sum, {big}, dims_attrs({}, false), {});
}

TEST_CASE("cuda reductions and softmax: NaNs propagate like the reference", "[gpu][cuda][reduce]") {
  DOPPEL_REQUIRE_GPU();
  for (DType dtype : {DType::Float32, DType::Float64, DType::BFloat16}) {
    const Tolerance tol = gpu_tolerance(dtype, {});
    // Row 1 has one NaN, row 2 two (argmax: the first), row 0 none.
    Tensor x = input_with_nans({3, 1025}, dtype, 15, {1025 + 700, 2 * 1025 + 5, 2 * 1025 + 1000});
    for (OpId op : {OpId::sum, OpId::mean, OpId::amax, OpId::amin, OpId::logsumexp})
      check_against_reference(op, {x}, dims_attrs({1}, false), tol);
    check_against_reference(OpId::var, {x}, VarAttrs{.dims = {1}, .keepdim = false, .correction = 1}.pack(), tol);
    for (OpId op : {OpId::argmax, OpId::argmin})
      check_against_reference(op, {x}, ArgReduceAttrs{.dim = 1, .keepdim = false}.pack(), {});
    for (OpId op : {OpId::softmax, OpId::log_softmax})
      check_against_reference(op, {x}, SoftmaxAttrs{.dim = 1}.pack(), tol);
    // Infinities: logsumexp gives +inf with a +inf and -inf for rows of -inf; softmax gives NaN.
    Tensor inf = make_input({4, 33}, DType::Float64, 16, -1, 1);
    double* p = inf.data_ptr<double>();
    p[3] = INFINITY;
    for (int64_t k = 33; k < 66; ++k) p[k] = -INFINITY;
    p[70] = -INFINITY;
    const Tensor xi = inf.to(dtype);
    check_against_reference(OpId::logsumexp, {xi}, dims_attrs({1}, false), tol);
    check_against_reference(OpId::amax, {xi}, dims_attrs({1}, false), tol);
    for (OpId op : {OpId::softmax, OpId::log_softmax})
      check_against_reference(op, {xi}, SoftmaxAttrs{.dim = -1}.pack(), tol);
  }
}

TEST_CASE("cuda softmax and its backward: odd row lengths and strided dims", "[gpu][cuda][reduce]") {
  DOPPEL_REQUIRE_GPU();
  struct Case {
    Shape shape;
    int64_t dim;
  };
  const std::vector<Case> cases = {{{1}, 0},       {{31}, 0},       {{7, 1025}, -1}, {{3, 65537}, 1},
                                   {{4, 5, 6}, 1}, {{65537, 3}, 0}, {{2, 0, 3}, 2},  {{}, 0}};
  for (DType dtype : {DType::Float32, DType::Float64, DType::BFloat16})
    for (const Case& k : cases) {
      INFO(fmt::format("dtype {} shape {} dim {}", dtype_name(dtype), shape_str(k.shape), k.dim));
      const Tolerance tol = gpu_tolerance(dtype, {});
      const Tensor x = make_input(k.shape, dtype, 17, -3, 3), g = make_input(k.shape, dtype, 18, -1, 1);
      for (OpId op : {OpId::softmax, OpId::log_softmax})
        check_against_reference(op, {x}, SoftmaxAttrs{.dim = k.dim}.pack(), tol);
      Tensor y, ly;
      {
        ForceBackendGuard guard(Backend::Reference);
        y = dispatch1(OpId::softmax, {x}, SoftmaxAttrs{.dim = k.dim}.pack());
        ly = dispatch1(OpId::log_softmax, {x}, SoftmaxAttrs{.dim = k.dim}.pack());
      }
      check_against_reference(OpId::softmax_backward, {g, y}, SoftmaxAttrs{.dim = k.dim}.pack(), tol);
      check_against_reference(OpId::log_softmax_backward, {g, ly}, SoftmaxAttrs{.dim = k.dim}.pack(), tol);
    }
}

}  // namespace
}  // namespace doppel::testing
