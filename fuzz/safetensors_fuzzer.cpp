// libFuzzer target for the safetensors reader (core/src/io/safetensors.cpp + json.cpp).
//
// Properties checked on every input, besides ASan/UBSan finding memory and UB bugs:
//  - the reader either returns or throws FormatError: any other exception (ValueError,
//    InternalError, std::bad_alloc, ...) escapes and libFuzzer reports it as a crash;
//  - whatever parses re-serializes with our writer and parses back to the same tensors.
#include <cstdint>
#include <cstring>
#include <span>

#include "doppel/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace doppel;
  io::SafetensorsFile f;
  try {
    f = io::parse_safetensors(std::span(data, size), "fuzz input");
  } catch (const FormatError&) {
    return 0;
  }
  const std::string again = io::serialize_safetensors(f.tensors, f.metadata);
  const io::SafetensorsFile g =
      io::parse_safetensors(std::span(reinterpret_cast<const uint8_t*>(again.data()), again.size()), "re-serialized");
  if (g.metadata != f.metadata || g.tensors.size() != f.tensors.size()) __builtin_trap();
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    const Tensor& a = f.tensors[i].second;
    const Tensor& b = g.tensors[i].second;
    if (f.tensors[i].first != g.tensors[i].first || a.dtype() != b.dtype() || a.shape() != b.shape() ||
        a.nbytes() != b.nbytes())
      __builtin_trap();
    if (a.nbytes() > 0 && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) != 0) __builtin_trap();
  }
  return 0;
}
