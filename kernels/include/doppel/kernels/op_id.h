#pragma once
// OpId: one enumerator per line of ops.def.
#include <cstdint>

namespace doppel {

enum class OpId : uint16_t {
#define DOPPEL_OP(name) name,
#include "doppel/kernels/ops.def"
#undef DOPPEL_OP
};

inline constexpr int kNumOps = 0
#define DOPPEL_OP(name) +1
#include "doppel/kernels/ops.def"
#undef DOPPEL_OP
    ;

}  // namespace doppel
