#pragma once
// Reading and writing numpy's .npy format (format versions 1.0, 2.0 and 3.0):
//
//   "\x93NUMPY" major minor [u16 (1.0) | u32 (2.0, 3.0) little-endian header length]
//   header: a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
//   data:   the elements, C (row-major) or Fortran (column-major) order
//
// Supported dtypes are those doppel and numpy share: float32/64, float16, int8, uint8, int32,
// int64, bool ('|b1'); both byte orders are read ('<', '>', '|', '='). Loading never trusts the
// file: magic, version, header syntax and keys, descr, shape (negative sizes, overflow), and the
// data size (truncated or trailing bytes) are validated; any violation is a FormatError naming
// the file and the problem. Only core is used, so the runtime tools can link this.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "doppel/core/tensor.h"

namespace doppel::serve {

// Parses a complete .npy image into a fresh contiguous CPU tensor. `what` names the data in
// error messages ("npy file 'x.npy'"). Throws FormatError (malformed) or DTypeError (a numpy
// dtype doppel lacks, e.g. complex or unicode).
Tensor parse_npy(std::span<const uint8_t> bytes, std::string_view what = "npy data");

// Serializes `t` (any strides, CPU) as a C-order little-endian version 1.0 file (2.0 when the
// header needs more than 65535 bytes). bfloat16 has no numpy dtype: DTypeError.
std::string serialize_npy(const Tensor& t);

// Reads `path`: a missing or unreadable file, or one that is not a regular file (a FIFO, a
// device such as /dev/zero, a folder: refused at once, never read) is a ValueError, a malformed
// one a FormatError.
Tensor load_npy(const std::string& path);
// Writes `path` atomically (temporary file + rename).
void save_npy(const std::string& path, const Tensor& t);

// numpy's dtype string for `dtype` ("<f4", "|b1", ...); DTypeError for bfloat16.
std::string_view npy_descr(DType dtype);

}  // namespace doppel::serve
