#include "doppel/tensorboard/tfrecord.h"

#include "doppel/runtime/crc32c.h"

namespace doppel::tensorboard {

namespace {

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(char((v >> (8 * i)) & 0xffu));
}

}  // namespace

uint32_t masked_crc32c(std::span<const std::byte> bytes) {
  const uint32_t crc = runtime::crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string tfrecord(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 16);
  const uint64_t n = payload.size();
  for (int i = 0; i < 8; ++i) out.push_back(char((n >> (8 * i)) & 0xffu));
  put_u32(out, masked_crc32c(bytes_of(out)));
  out.append(payload);
  put_u32(out, masked_crc32c(bytes_of(payload)));
  return out;
}

}  // namespace doppel::tensorboard
