#include "doppel/kernels/bf16_support.h"

#include <oneapi/dnnl/dnnl.hpp>

namespace doppel {

namespace {

std::string isa_name(dnnl::cpu_isa isa) {
  using i = dnnl::cpu_isa;
  switch (isa) {
    case i::sse41:
      return "sse41";
    case i::avx:
      return "avx";
    case i::avx2:
      return "avx2";
    case i::avx2_vnni:
      return "avx2_vnni";
    case i::avx2_vnni_2:
      return "avx2_vnni_2";
    case i::avx512_core:
      return "avx512_core";
    case i::avx512_core_vnni:
      return "avx512_core_vnni";
    case i::avx512_core_bf16:
      return "avx512_core_bf16";
    case i::avx512_core_fp16:
      return "avx512_core_fp16";
    case i::avx512_core_amx:
      return "avx512_core_amx";
    case i::avx512_core_amx_fp16:
      return "avx512_core_amx_fp16";
    default:
      return "isa " + std::to_string(int(isa));
  }
}

}  // namespace

const Bf16Support& onednn_bf16_support() {
  static const Bf16Support s = [] {
    const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
    using i = dnnl::cpu_isa;
    return Bf16Support{.native = isa == i::avx512_core_bf16 || isa == i::avx512_core_fp16 ||
                                 isa == i::avx512_core_amx || isa == i::avx512_core_amx_fp16,
                       .isa = isa_name(isa)};
  }();
  return s;
}

}  // namespace doppel
