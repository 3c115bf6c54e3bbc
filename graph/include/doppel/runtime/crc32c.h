#pragma once
// CRC-32C (Castagnoli, polynomial 0x1EDC6F41 reflected, init and final xor 0xFFFFFFFF — the
// checksum of iSCSI, ext4 and SSE4.2's crc32 instruction): the model file's section checksums
// (graph/FORMAT.md). The SSE4.2 instruction over three interleaved streams when the CPU has
// it, else slicing-by-8 tables.
#include <cstddef>
#include <cstdint>
#include <span>

namespace doppel::runtime {

// The CRC-32C of `bytes`; `crc32c(b, crc32c(a))` is the CRC-32C of a followed by b.
uint32_t crc32c(std::span<const std::byte> bytes, uint32_t previous = 0);

// The portable tables alone (tests compare the two paths).
uint32_t crc32c_portable(std::span<const std::byte> bytes, uint32_t previous = 0);

}  // namespace doppel::runtime
