// libFuzzer target for the model file loader: any input either loads or throws FormatError.
// Anything else — another exception, a crash, a sanitizer report, a hang, a huge allocation
// (-rss_limit_mb) — is a bug in graph/src/runtime/model_reader.cpp and friends. Each input is
// loaded without checksum verification first (a mutated version 2 file nearly always fails its
// checksums, which would hide the decoder behind them), then with it.
#include <cstddef>
#include <cstdint>
#include <span>

#include "doppel/runtime/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  for (const bool verify : {false, true}) {
    try {
      const doppel::runtime::Model m =
          doppel::runtime::Model::from_bytes(bytes, "inference", {.verify_checksums = verify});
      (void)m.signature();
      (void)m.weights();
    } catch (const doppel::FormatError&) {
      // Expected for malformed input.
    }
  }
  return 0;
}
