#pragma once
// Whether oneDNN computes bfloat16 convolutions and matmuls natively on this CPU: AVX512-BF16
// (avx512_core_bf16) or AMX (avx512_core_amx) in oneDNN's effective ISA, which the environment
// variable ONEDNN_MAX_CPU_ISA may lower. On other CPUs oneDNN emulates bf16 with float32 math,
// slower than float32 itself, so graph/src/passes/reduced_precision.cpp keeps float32 there.
#include <string>

namespace doppel {

struct Bf16Support {
  bool native = false;
  std::string isa;  // oneDNN's effective ISA ("avx512_core_amx", "avx2", ...)
};

const Bf16Support& onednn_bf16_support();  // probed once (kernels/cpu/onednn/bf16_support.cpp)

}  // namespace doppel
