#pragma once
// A hand-written encoder of the model file, field by field as graph/FORMAT.md lays it out,
// independent of the library's encoder: the malformed-file tests build a valid tiny model with
// it, then change, drop or add single labelled fields and check the loader's FormatError.
// Version 2 files get their checksums from a bit-at-a-time CRC-32C written here from the
// polynomial (not the library's table or SSE4.2 code), computed after the change, so that a
// structural defect reaches the check it is meant for.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace doppel::testing {

using Bytes = std::vector<std::byte>;

template <typename T>
Bytes le(T v) {
  Bytes b(sizeof(T));
  std::memcpy(b.data(), &v, sizeof(T));
  return b;
}
inline Bytes u8(uint8_t v) { return le(v); }
inline Bytes u32(uint32_t v) { return le(v); }
inline Bytes i32(int32_t v) { return le(v); }
inline Bytes i64(int64_t v) { return le(v); }
inline Bytes u64(uint64_t v) { return le(v); }
inline Bytes f64(double v) { return le(v); }
inline Bytes str(const std::string& s) {
  Bytes b = u32(uint32_t(s.size()));
  for (char c : s) b.push_back(std::byte(uint8_t(c)));
  return b;
}
inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
// A dimension: constant, coefficient, symbol (-1: static).
inline Bytes dim(int64_t constant, int64_t coef = 0, int32_t sym = -1) {
  return cat({i64(constant), i64(coef), i32(sym)});
}
// CRC-32C one bit at a time (reflected polynomial 0x82F63B78, init and final xor ~0).
inline uint32_t crc32c_bitwise(const Bytes& b, size_t begin, size_t end) {
  uint32_t c = ~0u;
  for (size_t k = begin; k < end; ++k) {
    c ^= uint8_t(b[k]);
    for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1u) ? 0x82f63b78u : 0u);
  }
  return ~c;
}
// dtype, device type, device index.
inline Bytes type(uint8_t dtype, uint8_t device = 0) { return cat({u8(dtype), u8(device), u8(0)}); }

struct ModelFileBuilder {
  struct Field {
    std::string label;
    Bytes bytes;
  };
  std::vector<Field> meta;
  Bytes data;
  uint32_t format = 3;  // 1: no checksums (the reserved field instead); 2 and 3: checksums
  // Header fields; unset ones are computed from the sections.
  std::optional<Bytes> magic, version, flags, file_size, meta_offset, meta_size, data_offset, data_size, reserved;
  std::optional<Bytes> meta_crc, header_crc;  // versions 2 and 3

  ModelFileBuilder& add(std::string label, Bytes b) {
    meta.push_back({std::move(label), std::move(b)});
    return *this;
  }
  Field& at(const std::string& label) {
    for (Field& f : meta)
      if (f.label == label) return f;
    throw std::logic_error("ModelFileBuilder: no field " + label);
  }
  ModelFileBuilder& set(const std::string& label, Bytes b) {
    at(label).bytes = std::move(b);
    return *this;
  }
  ModelFileBuilder& insert_after(const std::string& label, std::string new_label, Bytes b) {
    for (size_t k = 0; k < meta.size(); ++k)
      if (meta[k].label == label) {
        meta.insert(meta.begin() + ptrdiff_t(k) + 1, Field{std::move(new_label), std::move(b)});
        return *this;
      }
    throw std::logic_error("ModelFileBuilder: no field " + label);
  }
  ModelFileBuilder& erase(const std::string& label) {
    for (size_t k = 0; k < meta.size(); ++k)
      if (meta[k].label == label) {
        meta.erase(meta.begin() + ptrdiff_t(k));
        return *this;
      }
    throw std::logic_error("ModelFileBuilder: no field " + label);
  }

  Bytes build() const {
    Bytes m;
    for (const Field& f : meta) m.insert(m.end(), f.bytes.begin(), f.bytes.end());
    const uint64_t doff = (64 + m.size() + 63) / 64 * 64;
    Bytes out = cat({magic.value_or(Bytes{std::byte('D'), std::byte('O'), std::byte('P'), std::byte('P'),
                                          std::byte('E'), std::byte('L'), std::byte('M'), std::byte('F')}),
                     version.value_or(u32(format)), flags.value_or(u32(0)), file_size.value_or(u64(doff + data.size())),
                     meta_offset.value_or(u64(64)), meta_size.value_or(u64(m.size())), data_offset.value_or(u64(doff)),
                     data_size.value_or(u64(data.size()))});
    if (format == 1) {
      out = cat({out, reserved.value_or(u64(0))});
    } else {
      out = cat({out, meta_crc.value_or(u32(crc32c_bitwise(m, 0, m.size())))});
      out = cat({out, header_crc.value_or(u32(crc32c_bitwise(out, 0, 60)))});
    }
    out.insert(out.end(), m.begin(), m.end());
    out.resize(doff, std::byte{0});
    out.insert(out.end(), data.begin(), data.end());
    return out;
  }
};

// A valid tiny model: y = view(leaky_relu(linear(x, fc.weight, fc.bias), 0.1), [3 * batch]) for
// x: f32[batch, 4], traced at batch 2. Weights: fc.weight [3, 4] = 0.1 * (k + 1) at offset 0,
// fc.bias [3] = {1, -1, 0.5} at offset 64 (weight entries: name, dtype, flags, rank, dims,
// offset, size and, from version 2 on, the blob's CRC-32C). Values: %0 x, %1 fc.weight,
// %2 fc.bias, %3..%5 nodes.
inline ModelFileBuilder tiny_model(uint32_t format = 3) {
  ModelFileBuilder b;
  b.format = format;
  b.add("producer", str("hand-built")).add("created", i64(1700000000)).add("user.count", u32(1));
  b.add("user0.key", str("task")).add("user0.value", str("tiny"));
  b.add("weights.count", u32(2));
  b.add("w0.name", str("fc.weight"))
      .add("w0.dtype", u8(0))
      .add("w0.flags", u8(0))
      .add("w0.rank", u32(2))
      .add("w0.dim0", i64(3));
  b.add("w0.dim1", i64(4)).add("w0.offset", u64(0)).add("w0.nbytes", u64(48));
  b.add("w1.name", str("fc.bias"))
      .add("w1.dtype", u8(0))
      .add("w1.flags", u8(0))
      .add("w1.rank", u32(1))
      .add("w1.dim0", i64(3));
  b.add("w1.offset", u64(64)).add("w1.nbytes", u64(12));
  b.add("graphs.count", u32(1)).add("g.name", str("inference"));
  b.add("g.symbols.count", u32(1)).add("sym0.name", str("batch")).add("sym0.example", i64(2));
  b.add("g.inputs.count", u32(1)).add("in0.name", str("x")).add("in0.type", type(0)).add("in0.rank", u32(2));
  b.add("in0.dim0", dim(0, 1, 0)).add("in0.dim1", dim(4));
  b.add("g.state.count", u32(2)).add("st0.weight", u32(0)).add("st0.name", str("fc.weight"));
  b.add("st1.weight", u32(1)).add("st1.name", str("fc.bias")).add("g.constants.count", u32(0));
  b.add("g.nodes.count", u32(3));
  // %3 = linear(%0, %1, %2): f32[batch, 3]
  b.add("n0.op", str("linear")).add("n0.attrs.count", u32(0)).add("n0.sym.count", u32(0));
  b.add("n0.inputs.count", u32(3)).add("n0.in0", i32(0)).add("n0.in1", i32(1)).add("n0.in2", i32(2));
  b.add("n0.outputs.count", u32(1)).add("n0.out0.type", type(0)).add("n0.out0.rank", u32(2));
  b.add("n0.out0.dim0", dim(0, 1, 0)).add("n0.out0.dim1", dim(3)).add("n0.out0.name", str(""));
  b.add("n0.rng", i32(0)).add("n0.where", str("tiny.cpp:1"));
  // %4 = leaky_relu(%3, negative_slope=0.1)
  b.add("n1.op", str("leaky_relu")).add("n1.attrs.count", u32(1)).add("n1.attr0", cat({u8(2), f64(0.1)}));
  b.add("n1.sym.count", u32(0)).add("n1.inputs.count", u32(1)).add("n1.in0", i32(3));
  b.add("n1.outputs.count", u32(1)).add("n1.out0.type", type(0)).add("n1.out0.rank", u32(2));
  b.add("n1.out0.dim0", dim(0, 1, 0)).add("n1.out0.dim1", dim(3)).add("n1.out0.name", str(""));
  b.add("n1.rng", i32(0)).add("n1.where", str("tiny.cpp:2"));
  // %5 = view(%4, shape=[3 * batch]) (the list entry is symbolic)
  b.add("n2.op", str("view")).add("n2.attrs.count", u32(1)).add("n2.attr0", cat({u8(4), u32(1), i64(6)}));
  b.add("n2.sym.count", u32(1)).add("n2.sym0", cat({i32(0), i32(0), dim(0, 3, 0)}));
  b.add("n2.inputs.count", u32(1)).add("n2.in0", i32(4));
  b.add("n2.outputs.count", u32(1)).add("n2.out0.type", type(0)).add("n2.out0.rank", u32(1));
  b.add("n2.out0.dim0", dim(0, 3, 0)).add("n2.out0.name", str(""));
  b.add("n2.rng", i32(0)).add("n2.where", str("tiny.cpp:3"));
  b.add("g.outputs.count", u32(1)).add("out0.value", i32(5)).add("out0.name", str("y"));
  b.add("g.updates.count", u32(0)).add("g.grad_updates.count", u32(0));
  b.data.resize(128, std::byte{0});
  for (int k = 0; k < 12; ++k) {
    const float w = 0.1f * float(k + 1);
    std::memcpy(b.data.data() + 4 * k, &w, 4);
  }
  const float bias[3] = {1.0f, -1.0f, 0.5f};
  std::memcpy(b.data.data() + 64, bias, sizeof bias);
  if (format >= 2) {
    b.insert_after("w0.nbytes", "w0.crc", u32(crc32c_bitwise(b.data, 0, 48)));
    b.insert_after("w1.nbytes", "w1.crc", u32(crc32c_bitwise(b.data, 64, 76)));
  }
  return b;
}

}  // namespace doppel::testing
