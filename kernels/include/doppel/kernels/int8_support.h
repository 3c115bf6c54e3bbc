#pragma once
// Whether oneDNN's int8 dot product saturates on this CPU. Without VNNI (AVX2, AVX-512 before
// avx512_core_vnni) oneDNN multiplies uint8 activations by int8 weights with vpmaddubsw, which adds
// each adjacent pair of products into an int16 with saturation: 255·127·2 > 32767, so large
// activations meeting large weights come out clipped. There the int8 kernels run the exact paired
// form (kernels/cpu/onednn/int8_pairs.h); with VNNI or AMX (int32 accumulation) oneDNN's own.
// oneDNN's effective ISA decides, so ONEDNN_MAX_CPU_ISA=AVX2 shows the paired form on any x86 CPU.

namespace doppel {

bool onednn_int8_saturates();  // probed once (kernels/cpu/onednn/int8_pairs.cpp)

}  // namespace doppel
