#pragma once
// A minimal protobuf wire-format encoder: just what writing an ONNX ModelProto needs (varints,
// length-delimited fields, fixed32 floats). Hand-written so that the export links no protobuf
// library; field numbers live with the messages that use them (onnx_model.cpp).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace doppel::onnx::detail {

class ProtoWriter {
 public:
  // Wire type 0: int32/int64/enum/bool fields (negative values take 10 bytes, as protobuf's).
  void varint_field(uint32_t field, int64_t value);
  // Wire type 2: strings, bytes and embedded messages (a nested writer's bytes).
  void bytes_field(uint32_t field, std::string_view bytes);
  void message_field(uint32_t field, const ProtoWriter& message) { bytes_field(field, message.bytes()); }
  // Wire type 5: a float.
  void float_field(uint32_t field, float value);
  // A packed repeated int64 field (one length-delimited run of varints).
  void packed_int64s(uint32_t field, std::span<const int64_t> values);

  const std::string& bytes() const { return buf_; }

 private:
  void tag(uint32_t field, uint32_t wire_type);
  void varint(uint64_t v);
  std::string buf_;
};

}  // namespace doppel::onnx::detail
