// Model file format version 3 (graph/FORMAT.md): the writer writes 3, files of the version 2
// writer (a committed fixture) still load, and bf16 / int8 / uint8 weights round-trip bit for
// bit (NaN payloads, infinities, -0 and denormals of bf16; every int8 and uint8 value).
#include <bit>
#include <catch2/catch_test_macros.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "doppel/graph/export.h"
#include "doppel/graph/ir.h"
#include "doppel/kernels/op_attrs/views.h"
#include "doppel/runtime/model.h"
#include "export_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

std::vector<std::byte> saved_bytes(const runtime::Model& m) {
  const testing::TempPath path;
  m.save(path.str());
  std::ifstream f(path.path, std::ios::binary);
  const std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

uint32_t header_version(const std::vector<std::byte>& b) {
  uint32_t v = 0;
  std::memcpy(&v, b.data() + 8, 4);
  return v;
}

TEST_CASE("model file v3: a committed version 2 file loads and computes tanh(W x + b)", "[export]") {
  // tests/graph/data/mlp_v2.dpl: Linear(4, 3) + Tanh, input x [batch, 4], output y, written by
  // the version 2 writer (doppel.export before the format went to version 3).
  const std::string path = std::string(DOPPEL_SOURCE_DIR) + "/tests/graph/data/mlp_v2.dpl";
  const runtime::Model m = runtime::Model::load(path);
  CHECK(m.metadata().format_version == 2);
  REQUIRE(m.weights().size() == 2);
  const std::vector<float> w = m.weights()[0].second.to_vector<float>(), b = m.weights()[1].second.to_vector<float>();
  REQUIRE(w.size() == 12);
  REQUIRE(b.size() == 3);
  const Tensor x = testing::make_input({5, 4}, DType::Float32, 3);
  const std::vector<float> xs = x.to_vector<float>(), y = m.run({x})[0].to_vector<float>();
  REQUIRE(y.size() == 15);
  for (size_t r = 0; r < 5; ++r)
    for (size_t o = 0; o < 3; ++o) {
      double acc = b[o];
      for (size_t i = 0; i < 4; ++i) acc += double(w[o * 4 + i]) * double(xs[r * 4 + i]);
      CHECK(std::abs(double(y[r * 3 + o]) - std::tanh(acc)) < 1e-6);
    }
  // Saved again, it is a version 3 file with the same graph and weights.
  const std::vector<std::byte> again = saved_bytes(m);
  CHECK(header_version(again) == 3);
  const runtime::Model m3 = runtime::Model::from_bytes(again);
  CHECK(m3.metadata().format_version == 3);
  CHECK(m3.run({x})[0].to_vector<float>() == y);
}

template <typename T>
Tensor raw_tensor(const std::vector<T>& bits, DType dtype) {
  Tensor t = make_tensor({int64_t(bits.size())}, dtype);
  REQUIRE(t.nbytes() == bits.size() * sizeof(T));
  std::memcpy(t.raw_data(), bits.data(), t.nbytes());
  return t;
}

TEST_CASE("model file v3: bf16, int8 and uint8 weights round-trip bit for bit", "[export]") {
  // bf16 bit patterns: 1, -2.5, +inf, -inf, quiet NaN with a payload, -0, the smallest denormal,
  // the largest finite, a negative denormal.
  const std::vector<uint16_t> bf16_bits = {0x3f80, 0xc020, 0x7f80, 0xff80, 0x7fc5, 0x8000, 0x0001, 0x7f7f, 0x8042};
  std::vector<int8_t> i8;
  std::vector<uint8_t> u8;
  for (int v = -128; v < 128; ++v) i8.push_back(int8_t(v));
  for (int v = 0; v < 256; ++v) u8.push_back(uint8_t(v));
  const Tensor wb = raw_tensor(bf16_bits, DType::BFloat16), wi = raw_tensor(i8, DType::Int8),
               wu = raw_tensor(u8, DType::UInt8);
  graph::Graph g;
  const std::vector<int64_t> none;
  const graph::ValueId x = g.add_input(DType::Float32, kCPU, graph::static_shape({9}), "x");
  const graph::ValueId cb = g.add_constant(wb, "w_bf16"), ci = g.add_constant(wi, "w_int8"),
                       cu = g.add_constant(wu, "w_uint8");
  const Attrs to_f32 = CastAttrs{.dtype = DType::Float32}.pack();
  const graph::ValueId yb = g.add_op(OpId::add, {g.add_op(OpId::cast, {cb}, to_f32, none)[0], x}, {}, none)[0];
  g.outputs() = {yb, g.add_op(OpId::cast, {ci}, to_f32, none)[0], g.add_op(OpId::cast, {cu}, to_f32, none)[0]};
  graph::verify(g);
  const std::vector<std::byte> bytes = export_graph_bytes(g);
  CHECK(header_version(bytes) == 3);
  const testing::TempPath file;
  export_graph(g, file.str());
  for (const runtime::Model& m : {runtime::Model::from_bytes(bytes), runtime::Model::load(file.str())}) {
    CHECK(m.metadata().format_version == 3);
    const std::vector<Tensor>& weights = m.graph().constants();
    REQUIRE(weights.size() == 3);
    const Tensor* want[] = {&wb, &wi, &wu};
    for (size_t k = 0; k < 3; ++k) {
      INFO(m.graph().value(m.graph().constant_values()[k]).name);
      REQUIRE(weights[k].dtype() == want[k]->dtype());
      REQUIRE(weights[k].shape() == want[k]->shape());
      CHECK(std::memcmp(weights[k].raw_data(), want[k]->raw_data(), want[k]->nbytes()) == 0);
    }
    // The values as the graph computes with them: bf16 widened exactly, integers as they are.
    const std::vector<Tensor> y = m.run({zeros({9})});
    const std::vector<float> fb = y[0].to_vector<float>(), fi = y[1].to_vector<float>(), fu = y[2].to_vector<float>();
    CHECK(fb[0] == 1.0f);
    CHECK(fb[1] == -2.5f);
    CHECK(fb[2] == INFINITY);
    CHECK(fb[3] == -INFINITY);
    CHECK(std::isnan(fb[4]));
    CHECK(fb[6] == std::bit_cast<float>(uint32_t(0x00010000)));  // the denormal survives
    CHECK(fb[7] == std::bit_cast<float>(uint32_t(0x7f7f0000)));
    for (size_t k = 0; k < 256; ++k) {
      REQUIRE(fi[k] == float(int(k) - 128));
      REQUIRE(fu[k] == float(k));
    }
  }
  // The encoder is deterministic: the loaded file saves to the same bytes.
  CHECK(saved_bytes(runtime::Model::from_bytes(bytes)) == bytes);
}

}  // namespace
}  // namespace doppel
