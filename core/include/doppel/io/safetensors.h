#pragma once
// Reading and writing the safetensors format (https://github.com/huggingface/safetensors):
//
//   [u64 little-endian N][N bytes of UTF-8 JSON header][data section]
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the data section) plus an optional "__metadata__" string->string map. Files we
// write load with the reference implementation and vice versa.
//
// Loading never trusts the file: header size, UTF-8, JSON syntax, duplicate keys, dtypes,
// shapes, byte counts (with overflow checks), offsets, overlaps and full coverage of the data
// section are all validated, and any violation is a FormatError naming the problem. Only core
// is used here (no ops), so the fuzzer links just core and this reader.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "doppel/core/dtype.h"
#include "doppel/io/atomic_file.h"  // io::detail::write_file_atomically, shared with other writers
#include "doppel/state_dict.h"

namespace doppel::io {

using Metadata = std::map<std::string, std::string>;

struct SafetensorsFile {
  StateDict tensors;  // in data-section order (for files we write: the order they were given in)
  Metadata metadata;
};

// The reference implementation's limit on the header size.
inline constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

// Serializes to bytes. Tensors may have any strides (they are written row-major); they must be
// defined, on the CPU, with unique valid UTF-8 names other than "__metadata__". Throws ValueError otherwise.
std::string serialize_safetensors(const StateDict& tensors, const Metadata& metadata = {});

// Parses a complete file image. Every tensor is copied into fresh contiguous CPU memory.
SafetensorsFile parse_safetensors(std::span<const uint8_t> bytes, std::string_view what = "safetensors data");

// Writes `path` atomically and streamed (io::AtomicFileWriter): the header, then each tensor
// straight from its storage (a non-contiguous one through a copy of that tensor alone), into a
// temporary beside `path` that is fsync'ed and renamed over it.
void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata = {});

// Reads and validates `path`. A missing/unreadable file is a ValueError, a malformed one a
// FormatError; both name the path.
SafetensorsFile load_safetensors(const std::string& path);

// The safetensors dtype code ("F32", "I64", "BOOL", ...) and back (nullopt when unsupported).
std::string_view safetensors_dtype_code(DType dtype);
std::optional<DType> dtype_from_safetensors_code(std::string_view code);

}  // namespace doppel::io
