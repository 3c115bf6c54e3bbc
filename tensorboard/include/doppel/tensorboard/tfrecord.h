#pragma once
// TFRecord framing, the container of TensorBoard event files: each record is
//   uint64 length (little endian) | uint32 masked CRC-32C of those 8 bytes | payload |
//   uint32 masked CRC-32C of the payload
// where masking is TensorFlow's: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace doppel::tensorboard {

// The masked CRC-32C of `bytes` (doppel::runtime::crc32c, masked as above).
uint32_t masked_crc32c(std::span<const std::byte> bytes);

// `payload` framed as one record.
std::string tfrecord(std::string_view payload);

}  // namespace doppel::tensorboard
