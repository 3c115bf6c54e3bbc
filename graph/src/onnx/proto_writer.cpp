#include "proto_writer.h"

#include <bit>

namespace doppel::onnx::detail {

void ProtoWriter::varint(uint64_t v) {
  while (v >= 0x80) {
    buf_.push_back(char(uint8_t(v) | 0x80));
    v >>= 7;
  }
  buf_.push_back(char(uint8_t(v)));
}

void ProtoWriter::tag(uint32_t field, uint32_t wire_type) { varint((uint64_t(field) << 3) | wire_type); }

void ProtoWriter::varint_field(uint32_t field, int64_t value) {
  tag(field, 0);
  varint(uint64_t(value));
}

void ProtoWriter::bytes_field(uint32_t field, std::string_view bytes) {
  tag(field, 2);
  varint(bytes.size());
  buf_.append(bytes);
}

void ProtoWriter::float_field(uint32_t field, float value) {
  tag(field, 5);
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  for (int k = 0; k < 4; ++k) buf_.push_back(char(uint8_t(bits >> (8 * k))));  // little-endian
}

void ProtoWriter::packed_int64s(uint32_t field, std::span<const int64_t> values) {
  ProtoWriter run;
  for (int64_t v : values) run.varint(uint64_t(v));
  bytes_field(field, run.bytes());
}

}  // namespace doppel::onnx::detail
